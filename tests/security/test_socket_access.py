"""Every websocket route (walked from the routes `evolab.asgi` mounts) refuses anonymous
visitors and outsiders of the project before accepting, and accepts a member."""

from __future__ import annotations

import re
from typing import Any

import pytest
from channels.db import database_sync_to_async
from channels.testing import WebsocketCommunicator

from evolab.asgi import application
from evolab.live.routing import websocket_urlpatterns
from tests.conftest import Team
from tests.factories import MembershipFactory, ProjectFactory
from tests.live.helpers import session_headers

pytestmark = [pytest.mark.asyncio, pytest.mark.django_db(transaction=True)]

ROUTES = [str(pattern.pattern) for pattern in websocket_urlpatterns]


@pytest.fixture(autouse=True)
def _in_process_layer(settings: Any) -> None:
    settings.CHANNEL_LAYERS = {"default": {"BACKEND": "channels.layers.InMemoryChannelLayer"}}


def _path(route: str, slug: str) -> str:
    path = route.replace("<slug:slug>", slug)
    assert "<" not in path, f"{route}: a websocket placeholder this test cannot fill"
    return "/" + path


@database_sync_to_async
def _headers(team: Team, persona: str) -> list[tuple[bytes, bytes]]:
    if persona == "outsider":
        MembershipFactory(project=ProjectFactory(slug="beta"), user=team.outsider)
    return session_headers(None if persona == "anonymous" else getattr(team, persona))


async def test_the_routes_are_found() -> None:
    assert ROUTES and all(re.search(r"<slug:slug>", route) for route in ROUTES), ROUTES


@pytest.mark.parametrize("route", ROUTES)
@pytest.mark.parametrize("persona", ["anonymous", "outsider", "viewer"])
async def test_only_members_get_a_socket(team: Team, route: str, persona: str) -> None:
    socket = WebsocketCommunicator(application, _path(route, team.project.slug), headers=await _headers(team, persona))
    connected, code = await socket.connect()
    if persona == "viewer":
        assert connected
        await socket.disconnect()
    else:
        assert (connected, code) == (False, 4403)
