"""The relay cursor: late commits below the high-water mark, and when it stops looking."""

from __future__ import annotations

from evolab.core.models import OutboxEvent
from evolab.live.relay import OutboxCursor


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def events(*ids: int) -> list[OutboxEvent]:
    return [OutboxEvent(id=pk, project_id=1, type="run.progress", object_type="run", object_id="1") for pk in ids]


def test_new_events_are_accepted_once_in_id_order() -> None:
    cursor = OutboxCursor(10, settle_s=5, clock=Clock())
    assert [e.pk for e in cursor.accept(events(13, 11))] == [11, 13]
    assert cursor.accept(events(11, 13)) == []
    assert [e.pk for e in cursor.accept(events(9, 12, 13, 14))] == [12, 14]


def test_ids_below_the_high_mark_are_asked_for_until_they_settle() -> None:
    clock = Clock()
    cursor = OutboxCursor(10, settle_s=5, clock=clock)
    cursor.accept(events(11, 13))

    query = cursor.query(project_id=1, limit=50)
    assert (query.settled, query.high, query.sent) == (10, 13, frozenset({11, 13}))

    clock.now += 5
    query = cursor.query(project_id=1, limit=50)
    assert (query.settled, query.high, query.sent) == (13, 13, frozenset())
    assert cursor.accept(events(12)) == []  # too late: taken as rolled back


def test_reset_starts_again_from_the_given_id() -> None:
    cursor = OutboxCursor(10, settle_s=5, clock=Clock())
    cursor.accept(events(11, 12))
    cursor.reset(11)
    assert [e.pk for e in cursor.accept(events(12))] == [12]
