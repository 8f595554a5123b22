"""Execute one chunk: claim it, run its pending results concurrently, write them in
batches, and hand the lease back. Called by the `runs.run_chunk` Celery task.

The event loop never blocks on the database: batch writes and cache look-ups go through
`sync_to_async` (one thread), and the lease is renewed by a heartbeat even while no
result finishes (a slow backend can take minutes per episode). A chunk stops starting
new results when its time budget is spent (counted from its claim, waiting for slots
included), when its run is cancelled or capped, or when it lost its lease; whatever it
did not start stays pending for the next claim.

A worker thread keeps one event loop and one HTTP connection pool from chunk to chunk
(`_EventLoop`): connections to a backend are opened once, not by every chunk.
"""

from __future__ import annotations

import asyncio
import contextvars
import os
import signal
import threading
import time
import uuid
from collections import deque
from collections.abc import Callable, Coroutine
from dataclasses import asdict, dataclass, field, replace
from datetime import timedelta
from typing import Any, TypeVar

from asgiref.sync import sync_to_async
from django.db import close_old_connections
from django.utils import timezone

from evolab.backends.client import BackendClient, ConnectionPool
from evolab.backends.types import BackendConfig, ChatRequest
from evolab.core.logging import log_context_bind
from evolab.engine.agent_loop import run_episode
from evolab.engine.graders import GraderConfigError, grade_async
from evolab.engine.tools import ToolBox
from evolab.projects.backend_configs import backend_config
from evolab.projects.models import Backend
from evolab.runs import actions
from evolab.runs.actions import BatchState, Claim, LeaseLost
from evolab.runs.cache import CachedModel, cache_key
from evolab.runs.models import ResponseCacheEntry, Run, RunSource, RunStatus
from evolab.runs.planning import WorkItem, plan_items
from evolab.runs.slots import slots_acquire, slots_free, slots_release, slots_resize

T = TypeVar("T")

FLUSH_SIZE = 50
FLUSH_INTERVAL_S = 0.25
PROGRESS_INTERVAL_S = 0.5
SLOT_WAIT_S = 0.05

# Fault injection for the reliability tests: a worker that reaches a result of this case
# kills itself with SIGKILL, as an out-of-memory kill would. Unset in normal operation.
CRASH_ON_CASE_ENV = "EVOLAB_FAULT_KILL_WORKER_ON_CASE"


class _EventLoop:
    """A thread's event loop and backend connections, kept from one chunk to the next.

    Every chunk used to start a loop and clients of its own: dozens of new connections
    (name look-up, TCP handshake, TLS for a remote backend) per chunk, as many closed at
    its end, and the SDK's set-up again. The connections belong to the loop they were
    opened in, so both live and die together: `close()` at worker shutdown, or a new
    pair after a fork.
    """

    def __init__(self) -> None:
        self.pid = os.getpid()
        self.runner = asyncio.Runner()
        self.pool = ConnectionPool()

    def run(self, main: Callable[[ConnectionPool], Coroutine[Any, Any, T]]) -> T:
        """Run `main(pool)` to completion on this loop, in the caller's current context.

        A Runner otherwise runs every coroutine in the context it copied on first use, so
        log lines of later chunks would carry the first chunk's run and chunk ids.
        """
        return self.runner.run(main(self.pool), context=contextvars.copy_context())

    def close(self) -> None:
        try:
            self.runner.run(self.pool.aclose())
        finally:
            self.runner.close()


_loops = threading.local()
_all_loops: list[_EventLoop] = []
_all_loops_lock = threading.Lock()


def _event_loop() -> _EventLoop:
    loop: _EventLoop | None = getattr(_loops, "loop", None)
    if loop is None or loop.pid != os.getpid():  # a forked child starts its own
        loop = _loops.loop = _EventLoop()
        with _all_loops_lock:
            _all_loops.append(loop)
    return loop


def close_event_loops() -> None:
    """Close this process's chunk event loops and their connections (at worker shutdown)."""
    with _all_loops_lock:
        loops = [loop for loop in _all_loops if loop.pid == os.getpid()]
        _all_loops.clear()
    for loop in loops:
        loop.close()
    _loops.loop = None


def execute_chunk(chunk_id: int) -> None:
    claim = actions.chunk_claim(chunk_id)
    if claim is None:
        return
    log_context_bind(run_id=claim.run_id)
    # The chunk's time budget runs from its claim: waiting for slots spends it too.
    deadline = time.monotonic() + actions.chunk_budget_s()
    try:
        run = Run.objects.select_related("harness_version", "suite_version", "backend").get(pk=claim.run_id)
        items = plan_items(run, chunk_id)
        if run.source == RunSource.OUTPUTS:
            concurrency = min(len(items), 16) or 1
            _event_loop().run(
                lambda pool: _execute(
                    claim, run, items, deadline=deadline, model=None, concurrency=concurrency, pool=pool
                )
            )
        else:
            _execute_on_backend(claim, run, items, deadline)
    except LeaseLost:
        return
    except Exception as exc:
        actions.chunk_release(claim, error=f"{type(exc).__name__}: {exc}")
        raise
    finally:
        close_old_connections()
    actions.chunk_release(claim)


def _execute_on_backend(claim: Claim, run: Run, items: list[WorkItem], deadline: float) -> None:
    backend = run.backend
    if backend is None:
        raise RuntimeError("the run's backend was deleted")
    want = max(1, min(run.max_concurrency, len(items)))
    token = uuid.uuid4().hex
    ttl = actions.lease_ttl()
    config = backend_config(backend)
    # Read before waiting for slots: the wait is the time to spend on it.
    known = _prefetch(run, items, config)
    try:
        granted = _wait_for_slots(claim, backend_id=backend.pk, want=want, token=token, ttl=ttl, deadline=deadline)
        if granted == 0:
            return  # released by the caller as pending, and enqueued again
        slots = _Slots(backend_id=backend.pk, token=token, held=granted, of=max(1, backend.max_concurrency))

        async def main(pool: ConnectionPool) -> None:
            # The number of work tasks follows the slots held; the semaphore is only a
            # ceiling. The rate-limit share follows them too (see _Slots).
            client = BackendClient(replace(config, rate_share=slots.share), limiter=asyncio.Semaphore(want), pool=pool)
            slots.client = client
            model = CachedModel(client, client.config, lookup=_cache_lookup, known=known, enabled=run.use_cache)
            await _execute(
                claim, run, items, deadline=deadline, model=model, concurrency=want, slots=slots, ttl=ttl, pool=pool
            )

        _event_loop().run(main)
    finally:
        slots_release(token=token)


def _wait_for_slots(claim: Claim, *, backend_id: int, want: int, token: str, ttl: timedelta, deadline: float) -> int:
    """Lease up to `want` of the backend's slots, waiting while others hold them all;
    0 when the budget ran out or the run stopped meanwhile. While it waits, the chunk
    holds a lease of zero slots, and the holders make room at their next batch write."""
    renew_at = time.monotonic() + ttl.total_seconds() / 3
    granted = slots_acquire(backend_id=backend_id, want=want, token=token, ttl=ttl)
    while not granted:
        time.sleep(SLOT_WAIT_S)
        now = time.monotonic()
        if now >= deadline:
            return 0
        if now >= renew_at:
            # Keep the chunk lease (and the waiting slot lease) alive.
            state = actions.results_write_batch(claim, [], {}, emit_progress=False)
            if state.run_status not in (RunStatus.RUNNING, RunStatus.QUEUED):
                return 0
            granted = slots_acquire(backend_id=backend_id, want=want, token=token, ttl=ttl)
            renew_at = now + ttl.total_seconds() / 3
        elif slots_free(backend_id=backend_id) > 0:  # one cheap read; the lock only when worth it
            granted = slots_acquire(backend_id=backend_id, want=want, token=token, ttl=ttl)
    return granted


def _prefetch(run: Run, items: list[WorkItem], config: BackendConfig) -> dict[str, Any]:
    """Cached answers to every first turn of the chunk, in one query."""
    if not run.use_cache:
        return {}
    keys = []
    for item in items:
        if item.messages is None or item.config is None:
            continue
        tools = ToolBox.for_case(item.config.agent.tools, case=item.case).schemas() or None
        request = ChatRequest(
            messages=[dict(m) for m in item.messages],
            params=item.config.sampling.as_request_params(),
            tools=tools,
            sample_index=item.sample,
        )
        keys.append(cache_key(config, request))
    return dict(ResponseCacheEntry.objects.filter(key__in=keys).values_list("key", "result"))


@sync_to_async
def _cache_lookup(key: str) -> dict[str, Any] | None:
    return ResponseCacheEntry.objects.filter(key=key).values_list("result", flat=True).first()


@dataclass
class _Writer:
    claim: Claim
    model: CachedModel | None
    slots: _Slots | None
    ttl: timedelta
    pending: list[dict[str, Any]] = field(default_factory=list)
    in_flight: int = 0
    remaining: int = 0
    state: BatchState | None = None
    lost: bool = False
    unflushed_cost: float = 0.0
    unflushed_tokens: int = 0
    last_flush: float = field(default_factory=time.monotonic)
    last_progress: float = 0.0
    lock: asyncio.Lock = field(default_factory=asyncio.Lock)

    async def add(self, outcome: dict[str, Any]) -> None:
        self.pending.append(outcome)
        self.unflushed_cost += outcome.get("cost_usd", 0.0)
        self.unflushed_tokens += _tokens_of(outcome)
        if len(self.pending) >= FLUSH_SIZE or time.monotonic() - self.last_flush >= FLUSH_INTERVAL_S:
            await self.flush()

    async def flush(self, *, final: bool = False) -> None:
        if self.lost or (self.lock.locked() and not final):
            return
        async with self.lock:
            batch, self.pending = self.pending, []
            entries = self.model.new_entries if self.model else {}
            if self.model:
                self.model.new_entries = {}
            now = time.monotonic()
            progress = final or (bool(batch) and now - self.last_progress >= PROGRESS_INTERVAL_S)
            try:
                needed = self.in_flight + self.remaining
                self.state, held = await _write(self.claim, batch, entries, progress, self.slots, needed, self.ttl)
            except LeaseLost:
                self.lost = True
                return
            if self.slots is not None and held is not None:
                self.slots.resize(held)
            self.unflushed_cost -= sum(outcome.get("cost_usd", 0.0) for outcome in batch)
            self.unflushed_tokens -= sum(
                outcome.get("input_tokens", 0) + outcome.get("output_tokens", 0) for outcome in batch
            )
            self.last_flush = now
            if progress:
                self.last_progress = now

    def may_start(self, run: Run, deadline: float) -> bool:
        if self.lost or time.monotonic() >= deadline:
            return False
        status = self.state.run_status if self.state else RunStatus.RUNNING
        if status not in (RunStatus.RUNNING, RunStatus.QUEUED):
            return False
        if run.cost_cap_usd is not None:
            spent = (self.state.spent_usd if self.state else 0.0) + self.unflushed_cost
            if spent >= float(run.cost_cap_usd):
                return False
        if run.token_cap is not None:
            tokens = (self.state.tokens if self.state else 0) + self.unflushed_tokens
            if tokens >= run.token_cap:
                return False
        return run.deadline_at is None or timezone.now() < run.deadline_at


def _tokens_of(outcome: dict[str, Any]) -> int:
    return int(outcome.get("input_tokens", 0) + outcome.get("output_tokens", 0))


@sync_to_async
def _write(
    claim: Claim,
    batch: list[dict[str, Any]],
    entries: dict[str, Any],
    progress: bool,
    slots: _Slots | None,
    slots_needed: int,
    ttl: timedelta,
) -> tuple[BatchState, int | None]:
    """Write a batch, then resize the chunk's slot lease (returns the slots now held)."""
    state = actions.results_write_batch(claim, batch, entries, emit_progress=progress)
    if slots is None:
        return state, None
    return state, slots_resize(backend_id=slots.backend_id, token=slots.token, needed=slots_needed, ttl=ttl)


@dataclass
class _Slots:
    """The chunk's lease on its backend's concurrency slots (`held` of the backend's `of`).
    The chunk's part of the backend's rate limits follows what it holds."""

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


async def _execute(
    claim: Claim,
    run: Run,
    items: list[WorkItem],
    *,
    deadline: float,
    model: CachedModel | None,
    concurrency: int,
    pool: ConnectionPool,
    slots: _Slots | None = None,
    ttl: timedelta | None = None,
) -> None:
    writer = _Writer(claim=claim, model=model, slots=slots, ttl=ttl or actions.lease_ttl())
    queue = deque(items)
    writer.remaining = len(queue)
    # Read the run's status and spend before the first request (the cap may be reached already).
    await writer.flush(final=False)
    judges = _JudgeClients(run, pool)
    crash_key = os.environ.get(CRASH_ON_CASE_ENV)

    async def work() -> None:
        # A worker stops when the chunk holds fewer slots than it has requests in flight
        # (its lease came down to make room for another chunk).
        while queue and writer.in_flight < allowed() and writer.may_start(run, deadline):
            item = queue.popleft()
            writer.remaining = len(queue)
            if crash_key and item.case_key == crash_key:
                os.kill(os.getpid(), signal.SIGKILL)
            writer.in_flight += 1
            try:
                outcome = await _run_item(item, model, judges)
            finally:
                writer.in_flight -= 1
            await writer.add(outcome)

    async def heartbeat() -> None:
        interval = writer.ttl.total_seconds() / 3
        while True:
            await asyncio.sleep(interval)
            await writer.flush()

    def allowed() -> int:
        # As many workers as slots held (the lease may have grown at a batch write).
        return max(1, min(slots.held if slots else concurrency, concurrency))

    beat = asyncio.create_task(heartbeat())
    workers: set[asyncio.Task[None]] = set()
    try:
        workers = {asyncio.create_task(work()) for _ in range(min(allowed(), len(items)))}
        while workers:
            # Wake up at least every flush interval: the lease may have grown meanwhile.
            done, workers = await asyncio.wait(workers, timeout=FLUSH_INTERVAL_S, return_when=asyncio.FIRST_COMPLETED)
            for task in done:
                task.result()  # re-raise what a worker raised
            if writer.may_start(run, deadline):
                for _ in range(min(allowed() - len(workers), len(queue))):
                    workers.add(asyncio.create_task(work()))
        await writer.flush(final=True)
    finally:
        # The loop outlives this chunk: nothing of it may go on running into the next one.
        for task in (beat, *workers):
            task.cancel()
        await asyncio.gather(beat, *workers, return_exceptions=True)
        await judges.aclose()
        # The writer thread's connection would otherwise outlive the task (and a database
        # restart); CONN_MAX_AGE decides whether it is kept.
        await sync_to_async(close_old_connections)()
    if writer.lost:
        raise LeaseLost(claim.chunk_id)


class _JudgeClients:
    """Backends that llm_judge graders name, opened on first use for this chunk."""

    def __init__(self, run: Run, pool: ConnectionPool) -> None:
        self.run = run
        self.pool = pool
        self.clients: dict[str, BackendClient] = {}

    async def judge_for(self, grader: dict[str, Any]) -> Any:
        if grader.get("type") != "llm_judge":
            return None
        name = grader.get("backend") or (self.run.backend.name if self.run.backend else None)
        if name is None:
            raise GraderConfigError("backend", "an llm_judge needs a backend to judge with")
        if name not in self.clients:
            backend = await sync_to_async(Backend.objects.filter(project_id=self.run.project_id, name=name).first)()
            if backend is None:
                raise GraderConfigError("backend", f"no backend named {name!r} in this project")
            self.clients[name] = BackendClient(backend_config(backend), pool=self.pool)
        return self.clients[name].chat

    async def aclose(self) -> None:
        for client in self.clients.values():
            await client.aclose()


def _error(item: WorkItem, message: str, **fields: Any) -> dict[str, Any]:
    return {"result_id": item.result_id, "status": "error", "error": message[:4000], **fields}


async def _run_item(item: WorkItem, model: CachedModel | None, judges: _JudgeClients) -> dict[str, Any]:
    if item.error:
        return _error(item, item.error)
    fields: dict[str, Any] = {}
    if model is None:
        output = item.recorded_output or ""
    else:
        assert item.messages is not None and item.config is not None
        episode_model = model.for_episode()
        tools = ToolBox.for_case(item.config.agent.tools, case=item.case)
        episode = await run_episode(episode_model, item.messages, item.config, tools, sample_index=item.sample)
        fields = {
            "episode_status": episode.status,
            "transcript": episode.transcript,
            "tool_calls": [asdict(record) for record in episode.tool_calls],
            "input_tokens": episode.usage.input_tokens,
            "output_tokens": episode.usage.output_tokens,
            "reasoning_tokens": episode.usage.reasoning_tokens,
            "cost_usd": episode.cost_usd,
            "latency_s": episode.latency_s,
            "attempts": [asdict(attempt) for attempt in episode.attempts],
            "cached": episode_model.all_cached,
            "output": episode.output,
        }
        if episode.status == "error":
            return _error(item, episode.error or "the model call failed", **fields)
        output = episode.output
    try:
        grade = await grade_async(item.grader, output=output, case=item.case, judge=await judges.judge_for(item.grader))
    except GraderConfigError as error:
        return _error(item, f"grader: {error}", **fields)
    judge_cost = float(grade.details.get("judge_cost_usd", 0.0))
    return {
        "result_id": item.result_id,
        "status": "done",
        "output": output,
        **fields,
        "cost_usd": fields.get("cost_usd", 0.0) + judge_cost,
        "score": grade.score,
        "passed": grade.passed,
        "grade_details": grade.details,
        "sandbox_tier": grade.sandbox_tier,
        "error": "",
    }
