"""The project events socket, driven through the real ASGI app with a session cookie."""

from __future__ import annotations

import logging
import time
from typing import Any

import pytest
from channels.db import database_sync_to_async
from django.db import transaction

from evolab.core.actions import event_emit
from evolab.core.models import OutboxEvent
from evolab.projects.models import Membership, Role
from tests.conftest import Team
from tests.factories import MembershipFactory, ProjectFactory
from tests.live.helpers import communicator, receive_events, redis_layer_settings, session_headers

pytestmark = [pytest.mark.asyncio, pytest.mark.django_db(transaction=True)]

headers_for = database_sync_to_async(session_headers)


@database_sync_to_async
def emit(project_id: int, object_id: object = 1, version: int = 0, type: str = "run.progress") -> OutboxEvent:
    return event_emit(project_id=project_id, type=type, object_type="run", object_id=object_id, version=version)


@database_sync_to_async
def emit_many(project_id: int, count: int) -> None:
    with transaction.atomic():
        for version in range(count):
            event_emit(project_id=project_id, type="result.batch", object_type="run", object_id=7, version=version)


async def test_a_member_receives_events_emitted_after_connect(team: Team) -> None:
    socket = communicator(await headers_for(team.viewer), team.project.slug)
    connected, _ = await socket.connect()
    assert connected
    first = await emit(team.project.pk, object_id=212, version=3)
    await database_sync_to_async(event_emit)(
        project_id=team.project.pk, type="run.status", object_type="run", object_id=212, data={"status": "done"}
    )

    events = await receive_events(socket, 2)

    assert events == [
        {"id": first.pk, "type": "run.progress", "object_type": "run", "object_id": "212", "version": 3, "data": {}},
        {
            "id": first.pk + 1,
            "type": "run.status",
            "object_type": "run",
            "object_id": "212",
            "version": 0,
            "data": {"status": "done"},
        },
    ]
    assert await socket.receive_nothing(timeout=0.2)
    await socket.disconnect()


async def test_a_connection_without_a_cursor_starts_from_now(team: Team) -> None:
    await emit(team.project.pk, version=1)
    socket = communicator(await headers_for(team.viewer), team.project.slug)
    await socket.connect()
    later = await emit(team.project.pk, version=2)

    assert [e["id"] for e in await receive_events(socket, 1)] == [later.pk]
    assert await socket.receive_nothing(timeout=0.2)
    await socket.disconnect()


@pytest.mark.parametrize("persona", ["outsider", "anonymous"])
async def test_non_members_are_refused_before_accept(team: Team, persona: str) -> None:
    await emit(team.project.pk)
    user = None if persona == "anonymous" else team.outsider
    socket = communicator(await headers_for(user), team.project.slug, after=0)

    connected, code = await socket.connect()

    assert (connected, code) == (False, 4403)


async def test_an_unknown_project_is_refused_like_a_forbidden_one(team: Team) -> None:
    socket = communicator(await headers_for(team.owner), "no-such-project")
    assert await socket.connect() == (False, 4403)


async def test_a_reconnect_with_the_last_seen_id_gets_exactly_the_missed_events(team: Team) -> None:
    headers = await headers_for(team.reviewer)
    socket = communicator(headers, team.project.slug)
    await socket.connect()
    await emit(team.project.pk, version=1)
    await emit(team.project.pk, version=2)
    seen = await receive_events(socket, 2)
    await socket.disconnect()
    missed = [await emit(team.project.pk, version=v) for v in (3, 4, 5)]

    socket = communicator(headers, team.project.slug, after=seen[-1]["id"])
    await socket.connect()
    replayed = await receive_events(socket, 3)

    assert [e["id"] for e in replayed] == [e.pk for e in missed]
    assert await socket.receive_nothing(timeout=0.2)
    await socket.disconnect()


async def test_the_client_can_restart_from_an_id_it_sends(team: Team) -> None:
    events = [await emit(team.project.pk, version=v) for v in range(4)]
    socket = communicator(await headers_for(team.viewer), team.project.slug)
    await socket.connect()
    assert await socket.receive_nothing(timeout=0.2)

    await socket.send_json_to({"after": events[1].pk})

    assert [e["id"] for e in await receive_events(socket, 2)] == [events[2].pk, events[3].pk]
    assert await socket.receive_nothing(timeout=0.2)
    await socket.disconnect()


async def test_events_of_another_project_are_never_sent(team: Team) -> None:
    other = await database_sync_to_async(ProjectFactory)(slug="other")
    await database_sync_to_async(MembershipFactory)(project=other, user=team.owner, role=Role.OWNER)
    socket = communicator(await headers_for(team.owner), team.project.slug, after=0)
    await socket.connect()

    await emit(other.pk, version=1)
    mine = await emit(team.project.pk, version=2)
    await emit(other.pk, version=3)

    assert [e["id"] for e in await receive_events(socket, 1)] == [mine.pk]
    assert await socket.receive_nothing(timeout=0.3)
    await socket.disconnect()


async def test_a_burst_larger_than_a_batch_arrives_whole_and_in_order(team: Team) -> None:
    socket = communicator(await headers_for(team.viewer), team.project.slug)
    await socket.connect()

    await emit_many(team.project.pk, 1200)
    events = await receive_events(socket, 1200)

    assert [e["version"] for e in events] == list(range(1200))
    assert await socket.receive_nothing(timeout=0.2)
    await socket.disconnect()


async def test_an_event_committed_late_below_the_last_sent_id_is_still_sent_once(team: Team) -> None:
    # Two transactions take ids 41 and 42; 42 commits first. Inserting id 41 after 42 was
    # relayed reproduces what the sockets see on PostgreSQL with parallel chunk tasks.
    socket = communicator(await headers_for(team.viewer), team.project.slug)
    await socket.connect()
    first = await emit(team.project.pk, version=1)
    create = database_sync_to_async(OutboxEvent.objects.create)
    await create(id=first.pk + 2, project_id=team.project.pk, type="run.progress", object_type="run", object_id="1")
    assert [e["id"] for e in await receive_events(socket, 2)] == [first.pk, first.pk + 2]

    await create(id=first.pk + 1, project_id=team.project.pk, type="run.status", object_type="run", object_id="1")

    assert [e["id"] for e in await receive_events(socket, 1)] == [first.pk + 1]
    assert await socket.receive_nothing(timeout=0.3)
    await socket.disconnect()


async def test_a_removed_member_is_disconnected_at_the_next_recheck(team: Team, settings: Any) -> None:
    settings.EVOLAB_LIVE_RECHECK_S = 0.1
    socket = communicator(await headers_for(team.viewer), team.project.slug)
    assert (await socket.connect())[0]
    await emit(team.project.pk)
    await receive_events(socket, 1)

    await database_sync_to_async(Membership.objects.filter(project=team.project, user=team.viewer).delete)()

    assert await socket.receive_output(timeout=2) == {"type": "websocket.close", "code": 4403}
    await socket.disconnect()


async def test_a_member_who_stays_keeps_the_socket_across_rechecks(team: Team, settings: Any) -> None:
    settings.EVOLAB_LIVE_RECHECK_S = 0.05
    socket = communicator(await headers_for(team.viewer), team.project.slug)
    await socket.connect()
    assert await socket.receive_nothing(timeout=0.3)
    await emit(team.project.pk)
    assert len(await receive_events(socket, 1)) == 1
    await socket.disconnect()


async def test_with_redis_the_wake_up_delivers_before_the_next_poll(team: Team, settings: Any) -> None:
    redis_layer_settings(settings)
    settings.EVOLAB_LIVE_POLL_S = 30.0  # only the wake-up can deliver within the test
    socket = communicator(await headers_for(team.viewer), team.project.slug)
    await socket.connect()
    assert await socket.receive_nothing(timeout=0.2)  # the relay is now waiting on its poll

    started = time.monotonic()
    event = await emit(team.project.pk)
    events = await receive_events(socket, 1, timeout=2)

    assert [e["id"] for e in events] == [event.pk]
    assert time.monotonic() - started < 1.0
    await socket.disconnect()


async def test_a_client_gone_mid_send_ends_the_relay_without_an_error(
    team: Team, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    from evolab.live.consumers import ProjectEventsConsumer

    sent: list[object] = []

    async def hung_up(self: ProjectEventsConsumer, content: Any, close: bool = False) -> None:
        sent.append(content)
        raise ConnectionResetError("the client hung up")  # what uvicorn's ClientDisconnected is

    monkeypatch.setattr(ProjectEventsConsumer, "send_json", hung_up)
    caplog.set_level(logging.INFO, logger="evolab.live.consumers")
    socket = communicator(await headers_for(team.viewer), team.project.slug)
    connected, _ = await socket.connect()
    assert connected
    await emit(team.project.pk)
    deadline = time.monotonic() + 5
    while not sent and time.monotonic() < deadline:
        await socket.receive_nothing(timeout=0.05)
    await socket.receive_nothing(timeout=0.2)  # the relay handles the failed send
    assert sent
    assert not [record for record in caplog.records if record.levelname == "ERROR"]
    assert "closed by its client mid-send" in caplog.text
    await socket.disconnect()
