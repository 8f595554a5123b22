"""Revoking a membership closes that person's open project sockets at once, and nothing
sent after the revocation reaches them; other members keep their sockets.

"At once" means through the outbox event the removal writes, not the periodic recheck:
the recheck is set to a minute here, so only the event can close the socket in time.
Both channel layers are covered: the in-process layer (the socket finds the event at its
next outbox poll) and Redis (the after-commit wake-up delivers it; polling is slowed to
30 s so that only the wake-up can close the socket within the test).
"""

from __future__ import annotations

import time
from typing import Any

import pytest
from channels.db import database_sync_to_async
from channels.testing import WebsocketCommunicator

from evolab.core.actions import event_emit
from evolab.projects.actions import MEMBERSHIP_CHANGED_EVENT, membership_change_role, membership_remove
from evolab.projects.models import Membership, Role
from tests.conftest import Team
from tests.live.helpers import communicator, receive_events, redis_layer_settings, session_headers

pytestmark = [pytest.mark.asyncio, pytest.mark.django_db(transaction=True)]

headers_for = database_sync_to_async(session_headers)
CLOSED_FORBIDDEN = {"type": "websocket.close", "code": 4403}


@pytest.fixture(autouse=True)
def _live_settings(settings: Any) -> None:
    settings.CHANNEL_LAYERS = {"default": {"BACKEND": "channels.layers.InMemoryChannelLayer"}}
    settings.EVOLAB_LIVE_POLL_S = 0.05
    settings.EVOLAB_LIVE_RECHECK_S = 60.0  # the periodic recheck must not be what closes the socket
    settings.EVOLAB_LIVE_SETTLE_S = 10.0


async def _connected(team: Team, persona: str) -> WebsocketCommunicator:
    socket = communicator(await headers_for(getattr(team, persona)), team.project.slug)
    connected, _ = await socket.connect()
    assert connected, f"{persona} could not connect"
    return socket


@database_sync_to_async
def _remove_then_emit(team: Team, persona: str) -> int:
    """Remove the persona's membership through the action, then write one ordinary event."""
    membership = Membership.objects.get(project=team.project, user=getattr(team, persona))
    membership_remove(actor=team.owner, membership=membership)
    return event_emit(project_id=team.project.pk, type="run.progress", object_type="run", object_id=1).pk


@database_sync_to_async
def _remove_through_the_settings_page(team: Team, persona: str) -> int:
    membership = Membership.objects.get(project=team.project, user=getattr(team, persona))
    response = team.client_for("owner").post(
        f"/p/{team.project.slug}/settings/members/{membership.pk}/remove/", headers={"hx-request": "true"}
    )
    assert response.status_code == 200
    assert not Membership.objects.filter(pk=membership.pk).exists()
    return event_emit(project_id=team.project.pk, type="run.progress", object_type="run", object_id=1).pk


async def test_removal_closes_the_socket_before_any_later_event(team: Team) -> None:
    revoked = await _connected(team, "viewer")
    staying = await _connected(team, "reviewer")

    started = time.monotonic()
    later_event = await _remove_then_emit(team, "viewer")

    # The first thing the removed member gets is the close: neither the membership event
    # nor the event written after it is delivered.
    assert await revoked.receive_output(timeout=2) == CLOSED_FORBIDDEN
    assert time.monotonic() - started < 1.0
    events = await receive_events(staying, 2)
    assert [e["type"] for e in events] == [MEMBERSHIP_CHANGED_EVENT, "run.progress"]
    assert events[1]["id"] == later_event
    assert events[0]["data"] == {}  # the event names nobody; each socket checks its own user
    await staying.disconnect()


async def test_removal_through_the_settings_page_closes_the_socket(team: Team) -> None:
    revoked = await _connected(team, "maintainer")

    await _remove_through_the_settings_page(team, "maintainer")

    assert await revoked.receive_output(timeout=2) == CLOSED_FORBIDDEN


async def test_a_reconnect_after_removal_is_refused(team: Team) -> None:
    revoked = await _connected(team, "viewer")
    await _remove_then_emit(team, "viewer")
    assert await revoked.receive_output(timeout=2) == CLOSED_FORBIDDEN

    again = communicator(await headers_for(team.viewer), team.project.slug, after=0)
    connected, code = await again.connect()
    assert not connected and code == 4403


async def test_a_role_change_keeps_the_socket_open(team: Team) -> None:
    socket = await _connected(team, "reviewer")
    membership = await database_sync_to_async(Membership.objects.get)(project=team.project, user=team.reviewer)

    await database_sync_to_async(membership_change_role)(actor=team.owner, membership=membership, role=Role.VIEWER)

    events = await receive_events(socket, 1)
    assert [e["type"] for e in events] == [MEMBERSHIP_CHANGED_EVENT]
    await database_sync_to_async(event_emit)(project_id=team.project.pk, type="run.status", object_type="run", object_id=2)
    assert [e["type"] for e in await receive_events(socket, 1)] == ["run.status"]
    await socket.disconnect()


async def test_with_redis_the_wake_up_closes_the_socket_before_the_next_poll(team: Team, settings: Any) -> None:
    redis_layer_settings(settings)
    settings.EVOLAB_LIVE_POLL_S = 30.0
    revoked = await _connected(team, "viewer")
    assert await revoked.receive_nothing(timeout=0.2)  # the relay now sleeps on its 30 s poll

    started = time.monotonic()
    await _remove_then_emit(team, "viewer")

    assert await revoked.receive_output(timeout=2) == CLOSED_FORBIDDEN
    assert time.monotonic() - started < 1.0
