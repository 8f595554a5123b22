"""One chunk task's work on its event loop: the chunks it holds, their items still to
start, the requests in flight across them, and each chunk's batch writer.

A task starts with the chunk its message named. While its time budget lasts, it adopts
the run's next untried chunk when its own queue runs low (holding at most two at once), so the requests in flight
never drain to zero between chunks: a chunk boundary used to cost an empty pipeline
(the last requests of one chunk, then the first burst of the next) plus the broker's
delivery of the next message. Chunks stay the unit of claims, leases, writes and
releases: each is claimed by a conditional update, renewed by its own batch writes, and
released as soon as its last result is written (the run's completion is still derived
from the chunk rows). Only chunks nobody has tried yet are adopted, and only by a task
whose own chunk is on its first attempt, so a chunk that killed a worker runs alone and
cannot use up the attempts of healthy chunks beside it.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import time
from collections import deque
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

from asgiref.sync import sync_to_async
from django.utils import timezone

from evolab.backends.client import BackendClient
from evolab.runs import actions
from evolab.runs.actions import BatchState, Claim, LeaseLost
from evolab.runs.cache import CachedModel
from evolab.runs.models import Run, RunStatus
from evolab.runs.planning import WorkItem
from evolab.runs.slots import slots_release, slots_resize

# The chunk being drained and the next: enough to keep requests in flight across a
# chunk boundary, and a bound on what a killed worker leaves for others to redo.
MAX_HELD_CHUNKS = 2
# No chunk is adopted in the last second of a task's budget: it would only be handed back.
ADOPT_UNTIL_S = 1.0
FLUSH_SIZE = 50
FLUSH_INTERVAL_S = 0.25
PROGRESS_INTERVAL_S = 0.5

# Fault injection for the reliability tests: a worker that reaches a result of this case
# kills itself with SIGKILL, as an out-of-memory kill would. Unset in normal operation.
CRASH_ON_CASE_ENV = "EVOLAB_FAULT_KILL_WORKER_ON_CASE"

RunItem = Callable[[WorkItem], Awaitable[dict[str, Any]]]
# Claims the run's next untried chunk and plans it (in a thread: it queries); None when
# there is none.
Adopt = Callable[[], tuple[Claim, list[WorkItem]] | None]


@dataclass
class Slots:
    """The task's lease on its backend's concurrency slots (`held` of the backend's `of`).
    The task's part of the backend's rate limits follows what it holds."""

    backend_id: int
    token: str
    held: int
    of: int
    client: BackendClient | None = None

    @property
    def share(self) -> float:
        return max(1, self.held) / self.of

    def resize(self, held: int) -> None:
        self.held = held
        if self.client is not None:
            self.client.set_rate_share(self.share)


@dataclass
class _Chunk:
    """One held chunk: its finished results not yet written, and its batch writes."""

    claim: Claim
    unfinished: int
    pending: list[dict[str, Any]] = field(default_factory=list)
    lost: bool = False
    released: bool = False
    last_flush: float = field(default_factory=time.monotonic)
    lock: asyncio.Lock = field(default_factory=asyncio.Lock)


class ChunkSession:
    def __init__(
        self,
        run: Run,
        first: Claim,
        items: list[WorkItem],
        *,
        deadline: float,
        run_item: RunItem,
        adopt: Adopt | None,
        concurrency: int,
        model: CachedModel | None = None,
        slots: Slots | None = None,
        ttl: timedelta | None = None,
    ) -> None:
        self.run = run
        self.deadline = deadline
        self.run_item = run_item
        self.adopt = adopt
        self.concurrency = concurrency
        self.model = model
        self.slots = slots
        self.ttl = ttl or actions.lease_ttl()
        self.chunks: list[_Chunk] = []  # those still held
        self.queue: deque[tuple[_Chunk, WorkItem]] = deque()
        self.in_flight = 0
        self.state: BatchState | None = None
        self.unflushed_cost = 0.0
        self.unflushed_tokens = 0
        self.last_progress = 0.0
        self.crash_key = os.environ.get(CRASH_ON_CASE_ENV)
        self.failed: _Chunk | None = None  # the chunk whose item raised, if one did
        self._hold(first, items)

    def _hold(self, claim: Claim, items: list[WorkItem]) -> None:
        chunk = _Chunk(claim=claim, unfinished=len(items))
        self.chunks.append(chunk)
        self.queue.extend((chunk, item) for item in items)

    # ------------------------------------------------------------------ the main loop

    async def execute(self) -> None:
        """Run until the queue is empty and nothing is left to adopt (or the budget, the
        run's status or a cap says stop), then write and release every chunk still held."""
        try:
            await self._send_all()
            if self.slots is not None:
                # The slots first: when the last chunk's release completes the run, its
                # backend is already free for the next one.
                await sync_to_async(slots_release)(token=self.slots.token)
                self.slots = None
            for chunk in list(self.chunks):
                await self._release(chunk)
        except Exception as exc:
            # What is finished is written, and every chunk still held goes back to pending.
            # The one whose item raised keeps its attempt counted (a chunk that always fails
            # ends failed); the others did nothing wrong. When the failure is no chunk's
            # (the database, an adoption), each keeps it. Should the database be what
            # failed, the leases lapse and the reconciler sends the chunks again.
            error = f"{type(exc).__name__}: {exc}"
            for chunk in [chunk for chunk in self.chunks if not chunk.lost]:
                blamed = self.failed is None or chunk is self.failed
                with contextlib.suppress(Exception):
                    await self._flush(chunk, final=True)
                with contextlib.suppress(Exception):
                    await sync_to_async(actions.chunk_release)(chunk.claim, error=error if blamed else "")
            raise

    async def _send_all(self) -> None:
        # Read the run's status and spend before the first request (a cap may be reached).
        await self._flush(self.chunks[0])
        beat = asyncio.create_task(self._heartbeat())
        workers: set[asyncio.Task[None]] = set()
        adopting: asyncio.Task[None] | None = None
        try:
            while True:
                if adopting is None and self._should_adopt():
                    adopting = asyncio.create_task(self._adopt())
                if self.may_start():
                    for _ in range(min(self._allowed() - len(workers), len(self.queue))):
                        workers.add(asyncio.create_task(self._work()))
                waiting = workers | ({adopting} if adopting else set())
                if not waiting:
                    return
                # Wake up at least every flush interval: the lease may have grown meanwhile.
                done, _ = await asyncio.wait(waiting, timeout=FLUSH_INTERVAL_S, return_when=asyncio.FIRST_COMPLETED)
                for task in done:
                    task.result()  # re-raise what a worker raised
                    if task is adopting:
                        adopting = None
                workers -= done
        finally:
            # The loop outlives this task: nothing of it may go on running into the next one.
            leftovers = [beat, *workers]
            for task in leftovers:
                task.cancel()
            await asyncio.gather(*leftovers, return_exceptions=True)
            if adopting is not None:
                # Not cancelled: the claim goes on in its thread anyway. Once it is done its
                # chunk is held, and released with the others.
                await asyncio.gather(adopting, return_exceptions=True)

    async def _work(self) -> None:
        # A worker stops when the task holds fewer slots than it has requests in flight
        # (its lease came down to make room for another task).
        while self.queue and self.in_flight < self._allowed() and self.may_start():
            chunk, item = self.queue.popleft()
            if chunk.lost:
                continue
            if self.crash_key and item.case_key == self.crash_key:
                os.kill(os.getpid(), signal.SIGKILL)
            self.in_flight += 1
            try:
                outcome = await self.run_item(item)
            except Exception:
                self.failed = chunk
                raise
            finally:
                self.in_flight -= 1
            await self._add(chunk, outcome)

    async def _heartbeat(self) -> None:
        interval = self.ttl.total_seconds() / 3
        while True:
            await asyncio.sleep(interval)
            for chunk in list(self.chunks):
                await self._flush(chunk)

    def _allowed(self) -> int:
        # As many requests in flight as slots held (the lease may have grown at a write).
        return max(1, min(self.slots.held if self.slots else self.concurrency, self.concurrency))

    def may_start(self) -> bool:
        if time.monotonic() >= self.deadline:
            return False
        run, state = self.run, self.state
        if (state.run_status if state else RunStatus.RUNNING) not in (RunStatus.RUNNING, RunStatus.QUEUED):
            return False
        if run.cost_cap_usd is not None:
            spent = (state.spent_usd if state else 0.0) + self.unflushed_cost
            if spent >= float(run.cost_cap_usd):
                return False
        if run.token_cap is not None:
            tokens = (state.tokens if state else 0) + self.unflushed_tokens
            if tokens >= run.token_cap:
                return False
        return run.deadline_at is None or timezone.now() < run.deadline_at

    # ----------------------------------------------------------------- adopting chunks

    def _should_adopt(self) -> bool:
        # Fewer items queued than requests allowed in flight: the next chunk is planned
        # while these are sent, so the pipeline never runs dry.
        return (
            self.adopt is not None
            and sum(1 for chunk in self.chunks if chunk.unfinished and not chunk.lost) < MAX_HELD_CHUNKS
            and len(self.queue) < self._allowed()
            and time.monotonic() < self.deadline - ADOPT_UNTIL_S
            and self.may_start()
        )

    def _should_adopt_later(self) -> bool:
        """More work may come: the slots to ask for include a next chunk's."""
        return self.adopt is not None and time.monotonic() < self.deadline - ADOPT_UNTIL_S and self.may_start()

    async def _adopt(self) -> None:
        assert self.adopt is not None
        adopted = await sync_to_async(self.adopt)()
        if adopted is None:
            self.adopt = None  # nothing untried is left in the run
            return
        self._hold(*adopted)
        # A finished chunk kept back as the task's last one is not the last any more.
        for chunk in [chunk for chunk in self.chunks if chunk.unfinished == 0]:
            await self._release(chunk)

    # ------------------------------------------------------------- writes and releases

    async def _add(self, chunk: _Chunk, outcome: dict[str, Any]) -> None:
        chunk.pending.append(outcome)
        chunk.unfinished -= 1
        self.unflushed_cost += outcome.get("cost_usd", 0.0)
        self.unflushed_tokens += _tokens_of(outcome)
        if chunk.unfinished == 0 and (self.in_flight or any(not held.lost for held, _ in self.queue)):
            await self._release(chunk)  # the task's last chunk is released after its slots
        elif len(chunk.pending) >= FLUSH_SIZE or time.monotonic() - chunk.last_flush >= FLUSH_INTERVAL_S:
            await self._flush(chunk)

    async def _release(self, chunk: _Chunk) -> None:
        """Write what is left, then give the lease back: done when no result is pending,
        otherwise pending again (and enqueued) for a later task."""
        await self._flush(chunk, final=True)
        if chunk.released:
            return
        chunk.released = True
        self.chunks.remove(chunk)
        if not chunk.lost:
            await sync_to_async(actions.chunk_release)(chunk.claim)

    async def _flush(self, chunk: _Chunk, *, final: bool = False) -> None:
        if chunk.lost or chunk.released or (chunk.lock.locked() and not final):
            return
        async with chunk.lock:
            batch, chunk.pending = chunk.pending, []
            entries = self.model.new_entries if self.model else {}
            if self.model:
                self.model.new_entries = {}
            now = time.monotonic()
            progress = final or (bool(batch) and now - self.last_progress >= PROGRESS_INTERVAL_S)
            needed = self.in_flight + len(self.queue) + (self.concurrency if self._should_adopt_later() else 0)
            try:
                self.state, held = await _write(chunk.claim, batch, entries, progress, self.slots, needed, self.ttl)
            except LeaseLost:
                chunk.lost = True
                return
            if self.slots is not None and held is not None:
                self.slots.resize(held)
            self.unflushed_cost -= sum(outcome.get("cost_usd", 0.0) for outcome in batch)
            self.unflushed_tokens -= sum(_tokens_of(outcome) for outcome in batch)
            chunk.last_flush = now
            if progress:
                self.last_progress = now


def _tokens_of(outcome: dict[str, Any]) -> int:
    return int(outcome.get("input_tokens", 0) + outcome.get("output_tokens", 0))


@sync_to_async
def _write(
    claim: Claim,
    batch: list[dict[str, Any]],
    entries: dict[str, Any],
    progress: bool,
    slots: Slots | None,
    slots_needed: int,
    ttl: timedelta,
) -> tuple[BatchState, int | None]:
    """Write a batch, then resize the task's slot lease (returns the slots now held)."""
    state = actions.results_write_batch(claim, batch, entries, emit_progress=progress)
    if slots is None:
        return state, None
    return state, slots_resize(backend_id=slots.backend_id, token=slots.token, needed=slots_needed, ttl=ttl)
