"""Which outbox events a socket has sent, and which to ask the database for next.

Ids come from one sequence, but transactions commit in any order: on PostgreSQL one
chunk task can take id 41, another take 42 and commit first. A relay that only asked
for "id > last sent" would skip 41 for good. So the cursor keeps two marks: `high`, the
highest id sent, and `settled`, at or below which nothing new is expected. Ids between
the two are looked at again (minus those already sent) until `settle_s` has passed since
`high` moved past them; a transaction still open after that is taken to have rolled back.
"""

from __future__ import annotations

import time
from collections import deque
from collections.abc import Callable, Iterable
from dataclasses import dataclass

from evolab.core.models import OutboxEvent
from evolab.core.selectors import events_after


@dataclass(frozen=True)
class OutboxQuery:
    """What one relay tick asks for: new events above `high`, late ones in (`settled`, `high`]."""

    project_id: int
    settled: int
    high: int
    sent: frozenset[int]
    limit: int

    def run(self) -> tuple[list[OutboxEvent], list[OutboxEvent]]:
        """(late, new) events; synchronous ORM, so call it through `database_sync_to_async`."""
        late = (
            events_after(self.project_id, self.settled, self.limit, until_id=self.high, exclude_ids=self.sent)
            if self.settled < self.high
            else []
        )
        return late, events_after(self.project_id, self.high, self.limit)


class OutboxCursor:
    """The relay's memory for one socket; used from the event loop only."""

    def __init__(self, after: int, *, settle_s: float, clock: Callable[[], float] = time.monotonic) -> None:
        self.settle_s = settle_s
        self._clock = clock
        self.reset(after)

    def reset(self, after: int) -> None:
        """Start again after `after`: the client says it has seen everything up to there."""
        self.settled = self.high = after
        self.sent: set[int] = set()
        self._marks: deque[tuple[float, int]] = deque()

    def query(self, project_id: int, limit: int) -> OutboxQuery:
        self._settle()
        return OutboxQuery(project_id, self.settled, self.high, frozenset(self.sent), limit)

    def accept(self, events: Iterable[OutboxEvent]) -> list[OutboxEvent]:
        """The events not sent before, in id order, now recorded as sent."""
        fresh = {e.pk: e for e in events if e.pk > self.settled and e.pk not in self.sent}
        ordered = [fresh[pk] for pk in sorted(fresh)]
        self.sent.update(fresh)
        if ordered and ordered[-1].pk > self.high:
            self.high = ordered[-1].pk
            self._marks.append((self._clock(), self.high))
        return ordered

    def _settle(self) -> None:
        cutoff = self._clock() - self.settle_s
        while self._marks and self._marks[0][0] <= cutoff:
            self.settled = self._marks.popleft()[1]
        self.sent = {pk for pk in self.sent if pk > self.settled}
