"""The outbox: `event_emit` writes in the caller's transaction and wakes sockets after commit."""

from __future__ import annotations

import asyncio
from datetime import timedelta
from typing import Any

import pytest
from channels.db import database_sync_to_async
from channels.layers import get_channel_layer
from django.db import transaction
from django.utils import timezone

from evolab.core.actions import event_emit, outbox_prune
from evolab.core.models import OutboxEvent
from evolab.core.selectors import events_after, latest_event_id
from tests.live.helpers import redis_layer_settings

IN_MEMORY = {"default": {"BACKEND": "channels.layers.InMemoryChannelLayer"}}
REDIS_CONFIG_ONLY = {  # building the layer connects to nothing: enough to count callbacks
    "default": {"BACKEND": "channels_redis.core.RedisChannelLayer", "CONFIG": {"hosts": ["redis://127.0.0.1:1"]}}
}


def emit(project_id: int, version: int = 0, **kwargs: Any) -> OutboxEvent:
    return event_emit(
        project_id=project_id, type="run.progress", object_type="run", object_id=5, version=version, **kwargs
    )


def test_event_emit_writes_the_event(db: None) -> None:
    event = event_emit(
        project_id=3, type="harness.head", object_type="harness_version", object_id=14, version=14, data={"n": 1}
    )

    stored = OutboxEvent.objects.get()
    assert stored == event
    assert (stored.project_id, stored.type, stored.object_type, stored.object_id, stored.version, stored.data) == (
        3,
        "harness.head",
        "harness_version",
        "14",
        14,
        {"n": 1},
    )
    assert stored.as_message() == {
        "id": event.pk,
        "type": "harness.head",
        "object_type": "harness_version",
        "object_id": "14",
        "version": 14,
        "data": {"n": 1},
    }


def test_events_after_reads_one_project_in_id_order(db: None) -> None:
    mine = [emit(1, version=v) for v in range(5)]
    emit(2)

    assert events_after(1, 0) == mine
    assert events_after(1, mine[1].pk) == mine[2:]
    assert events_after(1, mine[1].pk, limit=2) == mine[2:4]
    assert events_after(1, mine[0].pk, until_id=mine[3].pk, exclude_ids={mine[2].pk}) == [mine[1], mine[3]]
    assert events_after(3, 0) == []


def test_events_after_is_one_query(db: None, django_assert_num_queries: Any) -> None:
    for v in range(3):
        emit(1, version=v)
    with django_assert_num_queries(1):
        events_after(1, 0)


def test_latest_event_id(db: None) -> None:
    assert latest_event_id(1) == 0
    last = emit(1)
    emit(2)
    assert latest_event_id(1) == last.pk


def test_an_event_emitted_in_a_rolled_back_transaction_leaves_nothing(db: None) -> None:
    with transaction.atomic():
        emit(1)
        transaction.set_rollback(True)
    assert not OutboxEvent.objects.exists()


def test_without_a_cross_process_layer_no_wake_up_is_queued(
    db: None, settings: Any, django_capture_on_commit_callbacks: Any
) -> None:
    settings.CHANNEL_LAYERS = IN_MEMORY
    with django_capture_on_commit_callbacks() as callbacks:
        emit(1)
    assert callbacks == []


def test_one_wake_up_per_project_per_commit(db: None, settings: Any, django_capture_on_commit_callbacks: Any) -> None:
    settings.CHANNEL_LAYERS = REDIS_CONFIG_ONLY
    with django_capture_on_commit_callbacks() as callbacks:
        for version in range(5):
            emit(1, version=version)
        emit(2)
    assert sorted(callback.__self__.project_id for callback in callbacks) == [1, 2]


def test_a_rolled_back_savepoint_does_not_swallow_the_wake_up_of_a_later_emit(
    db: None, settings: Any, django_capture_on_commit_callbacks: Any
) -> None:
    settings.CHANNEL_LAYERS = REDIS_CONFIG_ONLY
    with django_capture_on_commit_callbacks() as callbacks:
        with transaction.atomic():
            emit(1)
            transaction.set_rollback(True)
        emit(1)
    assert [callback.__self__.project_id for callback in callbacks] == [1]


def test_outbox_prune_deletes_only_old_events(db: None) -> None:
    old, recent = emit(1, version=1), emit(1, version=2)
    OutboxEvent.objects.filter(pk=old.pk).update(created_at=timezone.now() - timedelta(days=8))

    assert outbox_prune(timedelta(days=7)) == 1
    assert list(OutboxEvent.objects.all()) == [recent]


@pytest.mark.asyncio
@pytest.mark.django_db(transaction=True)
async def test_with_redis_a_commit_wakes_the_project_once_and_a_rollback_not_at_all(settings: Any) -> None:
    redis_layer_settings(settings)
    layer = get_channel_layer()
    assert layer is not None
    listener = await layer.new_channel()
    await layer.group_add(OutboxEvent.group_name(1), listener)

    @database_sync_to_async
    def write(*, roll_back: bool) -> None:
        with transaction.atomic():
            for version in range(3):
                emit(1, version=version)
            emit(2)
            transaction.set_rollback(roll_back)

    await write(roll_back=True)
    with pytest.raises(asyncio.TimeoutError):
        await asyncio.wait_for(layer.receive(listener), timeout=0.3)
    assert await database_sync_to_async(OutboxEvent.objects.count)() == 0

    await write(roll_back=False)
    assert await asyncio.wait_for(layer.receive(listener), timeout=2) == {"type": "outbox.wake"}
    with pytest.raises(asyncio.TimeoutError):
        await asyncio.wait_for(layer.receive(listener), timeout=0.3)
    await layer.group_discard(OutboxEvent.group_name(1), listener)
