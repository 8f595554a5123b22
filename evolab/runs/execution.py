"""Execute a chunk task: claim its chunk, plan it, lease backend slots, and hand the
work to a ChunkSession (runs/chunk_session.py), which sends the requests, writes results
in batches, adopts further chunks of the run while its budget lasts and releases each
chunk when it is written. Called by the `runs.run_chunk` Celery task.

The event loop never blocks on the database: batch writes, adoptions and cache look-ups
go through `sync_to_async` (one thread), and leases are renewed by a heartbeat even while
no result finishes (a slow backend can take minutes per episode). A task stops starting
new results when its time budget is spent (counted from its claim, waiting for slots
included), when its run is cancelled or capped, or when a chunk's lease was lost;
whatever it did not start stays pending for the next claim.
"""

from __future__ import annotations

import asyncio
import time
import uuid
from dataclasses import asdict, replace
from datetime import timedelta
from typing import Any

from asgiref.sync import sync_to_async
from django.db import close_old_connections

from evolab.backends.client import BackendClient, ConnectionPool
from evolab.backends.types import BackendConfig, ChatRequest
from evolab.core.logging import log_context_bind
from evolab.engine.agent_loop import run_episode
from evolab.engine.graders import GraderConfigError, grade_async
from evolab.engine.tools import ToolBox
from evolab.projects.backend_configs import backend_config
from evolab.projects.models import Backend
from evolab.runs import actions
from evolab.runs.actions import Claim, LeaseLost
from evolab.runs.cache import CachedModel, cache_key
from evolab.runs.chunk_session import Adopt, ChunkSession, Slots
from evolab.runs.event_loops import event_loop
from evolab.runs.models import ResponseCacheEntry, Run, RunSource, RunStatus
from evolab.runs.planning import WorkItem, plan_items
from evolab.runs.slots import slots_acquire, slots_free, slots_release

SLOT_WAIT_S = 0.05
# Pre-recorded outputs are only graded: this many at once.
OUTPUTS_CONCURRENCY = 16


def execute_chunk(chunk_id: int) -> None:
    claim = actions.chunk_claim(chunk_id)
    if claim is None:
        return
    log_context_bind(run_id=claim.run_id)
    # The task's time budget runs from its claim: waiting for slots spends it too.
    deadline = time.monotonic() + actions.chunk_budget_s()
    try:
        run = Run.objects.select_related("harness_version", "suite_version", "backend").get(pk=claim.run_id)
        items = plan_items(run, chunk_id)
        if run.source == RunSource.OUTPUTS:
            _execute_outputs(claim, run, items, deadline)
        else:
            _execute_on_backend(claim, run, items, deadline)
    except LeaseLost:
        return
    except Exception as exc:
        # The session released what it held; this covers a failure before it started
        # (releasing a chunk that is no longer ours changes nothing).
        actions.chunk_release(claim, error=f"{type(exc).__name__}: {exc}")
        raise
    finally:
        close_old_connections()


def _adopter(run: Run, first: Claim, prefetch: dict[str, Any] | None = None) -> Adopt | None:
    """What a session calls to take the run's next untried chunk, or None when its own
    chunk is a retry: a chunk that killed its worker before runs alone."""
    if not first.first_attempt:
        return None

    def adopt() -> tuple[Claim, list[WorkItem]] | None:
        claim = actions.chunk_claim_next(run.pk)
        if claim is None:
            return None
        try:
            items = plan_items(run, claim.chunk_id)
            if prefetch is not None and run.backend is not None:
                prefetch.update(_prefetch(run, items, backend_config(run.backend)))
        except Exception as exc:
            # Not handed to the session yet: give it back here, its attempt counted.
            actions.chunk_release(claim, error=f"{type(exc).__name__}: {exc}")
            raise
        return claim, items

    return adopt


def _execute_outputs(claim: Claim, run: Run, items: list[WorkItem], deadline: float) -> None:
    event_loop().run(
        lambda pool: _run_session(
            pool, run, claim, items, deadline, model=None, adopt=_adopter(run, claim), concurrency=OUTPUTS_CONCURRENCY
        )
    )


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
            # The waiting lease (of zero slots) goes first, as at every task's end: once
            # its chunks are back, a task holds nothing of its backend.
            slots_release(token=token)
            actions.chunk_release(claim)  # pending again, and enqueued again
            return
        slots = Slots(backend_id=backend.pk, token=token, held=granted, of=max(1, backend.max_concurrency))

        async def main(pool: ConnectionPool) -> None:
            # Requests in flight follow the slots held; the semaphore is only a ceiling
            # (the run's own limit). The rate-limit share follows them too (see Slots).
            limit = max(1, run.max_concurrency)
            client = BackendClient(replace(config, rate_share=slots.share), limiter=asyncio.Semaphore(limit), pool=pool)
            slots.client = client
            model = CachedModel(client, client.config, lookup=_cache_lookup, known=known, enabled=run.use_cache)
            adopt = _adopter(run, claim, known if run.use_cache else None)
            await _run_session(
                pool, run, claim, items, deadline, model=model, adopt=adopt, concurrency=limit, slots=slots, ttl=ttl
            )

        event_loop().run(main)
    finally:
        slots_release(token=token)


async def _run_session(
    pool: ConnectionPool,
    run: Run,
    claim: Claim,
    items: list[WorkItem],
    deadline: float,
    *,
    model: CachedModel | None,
    adopt: Adopt | None,
    concurrency: int,
    slots: Slots | None = None,
    ttl: timedelta | None = None,
) -> None:
    """The task's session on this loop, with the judges its graders call; `model` None
    grades pre-recorded outputs."""
    judges = _JudgeClients(run, pool)
    session = ChunkSession(
        run,
        claim,
        items,
        deadline=deadline,
        run_item=lambda item: _run_item(item, model, judges),
        adopt=adopt,
        concurrency=concurrency,
        model=model,
        slots=slots,
        ttl=ttl,
    )
    try:
        await session.execute()
    finally:
        await judges.aclose()
        # The writer thread's connection would otherwise outlive the task (and a database
        # restart); CONN_MAX_AGE decides whether it is kept.
        await sync_to_async(close_old_connections)()


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
