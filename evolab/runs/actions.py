"""Every state change of runs: creation, cancel and resume, and the chunk lifecycle
(claim → batch writes → release) that the Celery tasks drive.

The database decides everything: a chunk is worked on only by the holder of its lease,
a result is written only while it is still pending, and a run is finished when none of
its chunks is pending or leased.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal
from functools import partial
from typing import Any

from django.conf import settings
from django.contrib.auth.models import User
from django.db import connection, transaction
from django.db.models import F, Max, Q, Sum
from django.utils import timezone

from evolab.core.actions import audit_record, event_emit
from evolab.core.errors import Conflict, ValidationFailed
from evolab.evals.models import EvalCase, SuiteVersion
from evolab.harnesses.models import HarnessVersion
from evolab.projects.models import Backend, Project
from evolab.runs.completion import run_completed
from evolab.runs.models import (
    ACTIVE_RUN_STATUSES,
    CaseResult,
    ChunkStatus,
    ResponseCacheEntry,
    ResultStatus,
    Run,
    RunChunk,
    RunSource,
    RunStatus,
)

SPLITS = ("train", "dev", "holdout")
MAX_SAMPLES = 20


def _setting(name: str, default: float) -> float:
    return float(getattr(settings, name, default))


def chunk_size() -> int:
    return int(_setting("EVOLAB_RUN_CHUNK_SIZE", 100))


def lease_ttl() -> timedelta:
    return timedelta(seconds=_setting("EVOLAB_CHUNK_LEASE_S", 30))


def chunk_budget_s() -> float:
    return _setting("EVOLAB_CHUNK_BUDGET_S", 20)


def max_chunk_attempts() -> int:
    return int(_setting("EVOLAB_CHUNK_MAX_ATTEMPTS", 3))


@dataclass(frozen=True)
class RunSpec:
    harness_version: HarnessVersion
    suite_version: SuiteVersion
    splits: Sequence[str]
    backend: Backend | None
    samples: int = 1
    seed: int = 0
    max_concurrency: int = 8
    cost_cap_usd: Decimal | None = None
    token_cap: int | None = None
    deadline_at: datetime | None = None
    use_cache: bool = True
    # Pre-recorded outputs by (case key, sample): scored instead of calling a backend.
    outputs: Mapping[tuple[str, int], str] | None = None


def _check_spec(project: Project, spec: RunSpec) -> None:
    if spec.harness_version.project_id != project.pk:
        raise ValidationFailed("That harness version belongs to another project.", field="harness")
    if spec.suite_version.suite.project_id != project.pk:
        raise ValidationFailed("That suite belongs to another project.", field="suite")
    if not spec.splits or any(split not in SPLITS for split in spec.splits):
        raise ValidationFailed("Choose splits among train, dev and holdout.", field="splits")
    if not 1 <= spec.samples <= MAX_SAMPLES:
        raise ValidationFailed(f"Samples per case must be between 1 and {MAX_SAMPLES}.", field="samples")
    if spec.max_concurrency < 1:
        raise ValidationFailed("Max concurrency must be at least 1.", field="max_concurrency")
    if spec.cost_cap_usd is not None and spec.cost_cap_usd <= 0:
        raise ValidationFailed("A cost cap must be above zero.", field="cost_cap_usd")
    if spec.token_cap is not None and spec.token_cap <= 0:
        raise ValidationFailed("A token cap must be above zero.", field="token_cap")
    if spec.outputs is None and spec.backend is None:
        raise ValidationFailed("Choose a backend, or give pre-recorded outputs.", field="backend")
    if spec.backend is not None and spec.backend.project_id != project.pk:
        raise ValidationFailed("That backend belongs to another project.", field="backend")


def run_create(*, actor: User | None, project: Project, spec: RunSpec, estimate_usd: Decimal = Decimal(0)) -> Run:
    """Create a run with one pending result per (case, sample), cut into chunks, and
    enqueue the chunks once the transaction commits."""
    _check_spec(project, spec)
    cases = list(
        EvalCase.objects.filter(version=spec.suite_version, split__in=spec.splits)
        .order_by("key")
        .values_list("pk", "key")
    )
    if not cases:
        raise ValidationFailed("No case of this suite version is in the chosen splits.", field="splits")
    outputs = spec.outputs
    if outputs is not None:
        known = {key for _, key in cases}
        unknown = sorted({key for key, _ in outputs} - known)
        if unknown:
            raise ValidationFailed(
                f"{len(unknown)} outputs name cases that are not in the chosen splits: {', '.join(unknown[:5])}",
                field="outputs",
            )
    size = chunk_size()
    with transaction.atomic():
        Project.objects.select_for_update().filter(pk=project.pk).first()
        number = (Run.objects.filter(project=project).aggregate(n=Max("number"))["n"] or 0) + 1
        backend = spec.backend
        run = Run.objects.create(
            project=project,
            number=number,
            harness_version=spec.harness_version,
            suite_version=spec.suite_version,
            splits=list(spec.splits),
            source=RunSource.OUTPUTS if outputs is not None else RunSource.BACKEND,
            backend=backend,
            backend_label=f"{backend.name} · {backend.model}" if backend else "pre-recorded outputs",
            backend_simulated=bool(backend and backend.is_simulated),
            samples=spec.samples,
            seed=spec.seed,
            max_concurrency=spec.max_concurrency,
            cost_cap_usd=spec.cost_cap_usd,
            token_cap=spec.token_cap,
            deadline_at=spec.deadline_at,
            estimate_usd=estimate_usd,
            use_cache=spec.use_cache,
            total_results=len(cases) * spec.samples,
            created_by=actor,
        )
        pairs = [(case_pk, key, sample) for case_pk, key in cases for sample in range(spec.samples)]
        chunks = RunChunk.objects.bulk_create(
            [RunChunk(run=run, index=i, enqueued_at=timezone.now()) for i in range(0, (len(pairs) + size - 1) // size)]
        )
        results = []
        for position, (case_pk, key, sample) in enumerate(pairs):
            recorded = outputs.get((key, sample)) if outputs is not None else None
            results.append(
                CaseResult(
                    run=run,
                    chunk=chunks[position // size],
                    case_id=case_pk,
                    sample=sample,
                    output=recorded or "",
                    status=ResultStatus.ERROR if outputs is not None and recorded is None else ResultStatus.PENDING,
                    error="no pre-recorded output for this case and sample"
                    if outputs is not None and recorded is None
                    else "",
                )
            )
        CaseResult.objects.bulk_create(results, batch_size=1000)
        audit_record(
            actor=actor,
            project_id=project.pk,
            action="run.create",
            object_type="run",
            object_id=run.pk,
            object_label=f"run {run.number}",
            after={
                "harness": run.harness_version.number,
                "suite_version": spec.suite_version.number,
                "splits": run.splits,
            },
        )
        event_emit(project_id=project.pk, type="run.status", object_type="run", object_id=run.pk)
        _enqueue_on_commit([chunk.pk for chunk in chunks])
    return run


def _enqueue_on_commit(chunk_ids: list[int], countdown: float = 0) -> None:
    from evolab.runs.tasks import run_chunk

    def send() -> None:
        for chunk_id in chunk_ids:
            run_chunk.apply_async(args=[chunk_id], countdown=countdown or None)

    transaction.on_commit(send)


def run_cancel(*, actor: User | None, run: Run) -> None:
    """Stop starting new results; finished ones stay, in-flight ones are written.
    `actor` None: the system (e.g. `run_eval` giving up at its --timeout)."""
    with transaction.atomic():
        changed = Run.objects.filter(pk=run.pk, status__in=ACTIVE_RUN_STATUSES).update(
            status=RunStatus.CANCELLED, stop_reason=f"cancelled by {actor.get_username() if actor else 'system'}"
        )
        if not changed:
            raise Conflict("Only a queued or running run can be cancelled.", field="status")
        audit_record(
            actor=actor,
            project_id=run.project_id,
            action="run.cancel",
            object_type="run",
            object_id=run.pk,
            object_label=f"run {run.number}",
        )
        event_emit(project_id=run.project_id, type="run.status", object_type="run", object_id=run.pk)


def run_resume(*, actor: User, run: Run, cost_cap_usd: Decimal | None = None) -> None:
    """Continue a cancelled or capped run: only its pending results are sent again."""
    with transaction.atomic():
        run = Run.objects.select_for_update().get(pk=run.pk)
        if run.status not in (RunStatus.CANCELLED, RunStatus.STOPPED):
            raise Conflict("Only a cancelled or stopped run can be resumed.", field="status")
        if cost_cap_usd is not None:
            run.cost_cap_usd = cost_cap_usd
        spent = _spend(run.pk)
        if run.cost_cap_usd is not None and spent >= run.cost_cap_usd:
            raise Conflict(
                f"The run has spent ${spent:.4f}, at its cap; raise the cap to resume.", field="cost_cap_usd"
            )
        caps = {"cost_cap_usd": None, "token_cap": run.token_cap, "deadline_at": run.deadline_at}
        reason = _cap_reached(caps, 0.0, _tokens(run.pk) if run.token_cap else 0, timezone.now())
        if reason:
            raise Conflict(f"The run cannot resume: {reason}.", field="status")
        run.status = RunStatus.RUNNING
        run.stop_reason = ""
        run.finished_at = None
        run.save(update_fields=["status", "stop_reason", "finished_at", "cost_cap_usd"])
        chunk_ids = list(
            RunChunk.objects.filter(run=run, status__in=[ChunkStatus.PENDING, ChunkStatus.LEASED]).values_list(
                "pk", flat=True
            )
        )
        RunChunk.objects.filter(pk__in=chunk_ids).update(enqueued_at=timezone.now())
        audit_record(
            actor=actor,
            project_id=run.project_id,
            action="run.resume",
            object_type="run",
            object_id=run.pk,
            object_label=f"run {run.number}",
        )
        event_emit(project_id=run.project_id, type="run.status", object_type="run", object_id=run.pk)
        _enqueue_on_commit(chunk_ids)
        if not chunk_ids:
            transaction.on_commit(lambda: run_finalize_if_complete(run.pk))


def _spend(run_id: int) -> Decimal:
    total = CaseResult.objects.filter(run_id=run_id).aggregate(total=Sum("cost_usd"))["total"] or 0
    return Decimal(str(total))


def _tokens(run_id: int) -> int:
    totals = CaseResult.objects.filter(run_id=run_id).aggregate(i=Sum("input_tokens"), o=Sum("output_tokens"))
    return int((totals["i"] or 0) + (totals["o"] or 0))


def _cap_reached(run: Mapping[str, Any], spent: float, tokens: int, now: datetime) -> str:
    """Why the run must start no more results, or "" while it may."""
    if run["cost_cap_usd"] is not None and spent >= float(run["cost_cap_usd"]):
        return f"cost cap ${run['cost_cap_usd']} reached (spent ${spent:.4f})"
    if run["token_cap"] is not None and tokens >= run["token_cap"]:
        return f"token cap {run['token_cap']:,} reached (used {tokens:,})"
    if run["deadline_at"] is not None and now >= run["deadline_at"]:
        return "time limit reached"
    return ""


@dataclass(frozen=True)
class Claim:
    chunk_id: int
    run_id: int
    project_id: int
    token: str
    # False when an earlier claim of this chunk ended without a clean release (its
    # worker died or it raised): such a chunk runs alone (see runs/chunk_session.py).
    first_attempt: bool = True


def chunk_claim(chunk_id: int, *, untried_only: bool = False) -> Claim | None:
    """Take the chunk's lease if it is free (pending, or leased by a worker that let the
    lease lapse). A chunk claimed too many times without a clean release is failed.
    `untried_only` takes it only if it is pending with no unclean attempt behind it."""
    now = timezone.now()
    token = uuid.uuid4().hex
    free = Q(status=ChunkStatus.PENDING) | Q(status=ChunkStatus.LEASED, lease_expires_at__lt=now)
    if untried_only:
        free = Q(status=ChunkStatus.PENDING, attempts=0)
    with transaction.atomic():
        # The run's status is checked through `run_id IN (subquery)`, never a join: with a
        # join Django moves every condition into a self-select (`id IN (SELECT … JOIN …)`),
        # and PostgreSQL, after waiting for a concurrent claim to commit, re-checks only the
        # target row against that old subquery result — so both claims won the lease.
        claimed = (
            RunChunk.objects.filter(pk=chunk_id, run__in=Run.objects.filter(status__in=ACTIVE_RUN_STATUSES))
            .filter(free)
            .update(
                status=ChunkStatus.LEASED,
                lease_token=token,
                lease_expires_at=now + lease_ttl(),
                attempts=F("attempts") + 1,
                # The message that brought this claim is consumed: the reconciler may send
                # another as soon as the lease lapses.
                enqueued_at=None,
            )
        )
        if not claimed:
            return None
        chunk = RunChunk.objects.select_related("run").get(pk=chunk_id)
        run = chunk.run
        if chunk.attempts > max_chunk_attempts():
            _chunk_fail(chunk, f"its worker stopped without finishing {chunk.attempts - 1} times in a row")
            return None
        Run.objects.filter(pk=run.pk, status=RunStatus.QUEUED).update(status=RunStatus.RUNNING, started_at=now)
    return Claim(
        chunk_id=chunk_id, run_id=run.pk, project_id=run.project_id, token=token, first_attempt=chunk.attempts == 1
    )


def chunk_claim_next(run_id: int) -> Claim | None:
    """Claim the run's next chunk that nobody has tried yet, for a task that still has
    time: None when every chunk is taken, done, or was tried before."""
    candidates = RunChunk.objects.filter(
        run_id=run_id, run__status__in=ACTIVE_RUN_STATUSES, status=ChunkStatus.PENDING, attempts=0
    ).order_by("index")
    tried: list[int] = []
    while True:
        # A few at a time: other workers may take some between this read and the claims.
        # Those are no candidates at the next read; a round that finds the same ones again
        # (the run stopped in between) ends the search.
        chunk_ids = list(candidates.values_list("pk", flat=True)[:4])
        if not chunk_ids or chunk_ids == tried:
            return None
        for chunk_id in chunk_ids:
            claim = chunk_claim(chunk_id, untried_only=True)
            if claim is not None:
                return claim
        tried = chunk_ids


def _chunk_fail(chunk: RunChunk, reason: str) -> None:
    RunChunk.objects.filter(pk=chunk.pk).update(status=ChunkStatus.FAILED, lease_token="", last_error=reason)
    CaseResult.objects.filter(chunk=chunk, status=ResultStatus.PENDING).update(
        status=ResultStatus.ERROR, error=f"chunk failed: {reason}", finished_at=timezone.now()
    )
    event_emit(project_id=chunk.run.project_id, type="run.status", object_type="run", object_id=chunk.run_id)
    transaction.on_commit(lambda: run_finalize_if_complete(chunk.run_id))


class LeaseLost(Exception):
    """Another worker holds the chunk now: stop without writing anything more."""


@dataclass(frozen=True)
class BatchState:
    run_status: str
    spent_usd: float
    tokens: int


RESULT_FIELDS = [
    "status",
    "output",
    "episode_status",
    "transcript",
    "tool_calls",
    "score",
    "passed",
    "grade_details",
    "sandbox_tier",
    "input_tokens",
    "output_tokens",
    "reasoning_tokens",
    "cost_usd",
    "latency_s",
    "attempts",
    "cached",
    "error",
    "finished_at",
]


def _write_results(outcomes: Sequence[Mapping[str, Any]], now: datetime) -> None:
    """One conditional UPDATE per result, sent with executemany: a row is written only
    while it is still pending, so a late or duplicate writer can never overwrite it.

    `bulk_update` would build a CASE expression per field and row (about 2 ms of CPU a
    result in `make bench`); this statement is prepared once and costs a few hundredths.
    """
    by_name = {field.name: field for field in CaseResult._meta.concrete_fields}
    fields = [by_name[name] for name in RESULT_FIELDS]
    quote = connection.ops.quote_name
    assignments = ", ".join(f"{quote(field.column)} = %s" for field in fields)
    sql = (
        f"UPDATE {quote(CaseResult._meta.db_table)} SET {assignments} "
        f"WHERE {quote('id')} = %s AND {quote('status')} = %s"
    )
    rows = []
    for outcome in outcomes:
        values = {**outcome, "finished_at": now}
        prepared = [
            field.get_db_prep_save(values[field.name] if field.name in values else field.get_default(), connection)
            for field in fields
        ]
        rows.append([*prepared, outcome["result_id"], ResultStatus.PENDING])
    with connection.cursor() as cursor:
        cursor.executemany(sql, rows)


def results_write_batch(
    claim: Claim,
    outcomes: Sequence[Mapping[str, Any]],
    cache_entries: Mapping[str, Any],
    *,
    emit_progress: bool,
) -> BatchState:
    """Write finished results (only those still pending), store new cache entries and
    renew the lease, in one transaction; raise LeaseLost if the lease is no longer ours."""
    now = timezone.now()
    with transaction.atomic():
        renewed = RunChunk.objects.filter(pk=claim.chunk_id, lease_token=claim.token, status=ChunkStatus.LEASED).update(
            lease_expires_at=now + lease_ttl()
        )
        if not renewed:
            raise LeaseLost(claim.chunk_id)
        if outcomes:
            _write_results(outcomes, now)
        if cache_entries:
            ResponseCacheEntry.objects.bulk_create(
                [ResponseCacheEntry(key=key, result=value) for key, value in cache_entries.items()],
                ignore_conflicts=True,
            )
        run = Run.objects.filter(pk=claim.run_id).values("status", "cost_cap_usd", "token_cap", "deadline_at").get()
        # Summing the run's spend costs more as the run grows: only a capped run needs it.
        spent = float(_spend(claim.run_id)) if run["cost_cap_usd"] is not None else 0.0
        tokens = _tokens(claim.run_id) if run["token_cap"] is not None else 0
        reason = _cap_reached(run, spent, tokens, now)
        if reason and run["status"] == RunStatus.RUNNING:
            Run.objects.filter(pk=claim.run_id, status=RunStatus.RUNNING).update(
                status=RunStatus.STOPPED, stop_reason=reason
            )
            run["status"] = RunStatus.STOPPED
            emit_progress = True
        if emit_progress:
            event_emit(project_id=claim.project_id, type="run.progress", object_type="run", object_id=claim.run_id)
    return BatchState(run_status=run["status"], spent_usd=spent, tokens=tokens)


def chunk_release(claim: Claim, *, error: str = "") -> None:
    """Give the lease back cleanly: the chunk is done when it has no pending result left,
    otherwise it goes back to pending and is enqueued again if its run is still active."""
    with transaction.atomic():
        # Locked, so a claim that takes over a lapsed lease cannot slip in between this read
        # and the writes below (which would hand back a lease that is no longer ours).
        chunk = (
            RunChunk.objects.select_for_update(of=("self",))
            .filter(pk=claim.chunk_id, lease_token=claim.token)
            .select_related("run")
            .first()
        )
        if chunk is None:
            return
        remaining = CaseResult.objects.filter(chunk_id=chunk.pk, status=ResultStatus.PENDING).exists()
        if not remaining:
            RunChunk.objects.filter(pk=chunk.pk).update(
                status=ChunkStatus.DONE, lease_token="", lease_expires_at=None, attempts=0
            )
            transaction.on_commit(lambda: run_finalize_if_complete(claim.run_id))
            return
        # An unexpected error keeps the attempt counted, so a chunk that always fails this
        # way still ends as failed; a clean hand-back (time budget, cancel) resets it.
        RunChunk.objects.filter(pk=chunk.pk).update(
            status=ChunkStatus.PENDING,
            lease_token="",
            lease_expires_at=None,
            attempts=F("attempts") if error else 0,
            last_error=error[:2000],
            enqueued_at=timezone.now(),
        )
        if chunk.run.status in ACTIVE_RUN_STATUSES:
            _enqueue_on_commit([chunk.pk], countdown=1 if error else 0)


def run_finalize_if_complete(run_id: int) -> None:
    """Derive the run's end from its rows: no chunk left pending or leased."""
    with transaction.atomic():
        if RunChunk.objects.filter(run_id=run_id, status__in=[ChunkStatus.PENDING, ChunkStatus.LEASED]).exists():
            return
        run = Run.objects.filter(pk=run_id).values("project_id", "status").first()
        if run is None:
            return
        failed = list(
            RunChunk.objects.filter(run_id=run_id, status=ChunkStatus.FAILED)
            .order_by("index")
            .values_list("index", "last_error")
        )
        finished = Run.objects.filter(pk=run_id, status__in=ACTIVE_RUN_STATUSES).update(
            status=RunStatus.COMPLETED, finished_at=timezone.now(), stop_reason=_failed_chunks_reason(failed)
        )
        Run.objects.filter(pk=run_id, finished_at__isnull=True).exclude(status__in=ACTIVE_RUN_STATUSES).update(
            finished_at=timezone.now()
        )
        if finished:
            event_emit(project_id=run["project_id"], type="run.status", object_type="run", object_id=run_id)
            run_completed(run_id)


def _failed_chunks_reason(failed: list[tuple[int, str]]) -> str:
    """Name the failed chunks (and why the first failed), to fit Run.stop_reason."""
    if not failed:
        return ""
    shown = ", ".join(str(index) for index, _ in failed[:10])
    if len(failed) > 10:
        shown += f" and {len(failed) - 10} more"
    noun = "chunk" if len(failed) == 1 else "chunks"
    reason = f"{noun} {shown} failed ({failed[0][1] or 'no reason recorded'}); their unfinished results are errored"
    max_length = Run._meta.get_field("stop_reason").max_length or len(reason)
    return reason if len(reason) <= max_length else reason[: max_length - 1] + "…"


def runs_reconcile() -> int:
    """Re-enqueue chunks whose lease lapsed (their worker died) and pending chunks whose
    message was lost; returns how many were enqueued. Run by the scheduler."""
    now = timezone.now()
    lost_message_after = timedelta(seconds=_setting("EVOLAB_CHUNK_REQUEUE_S", 30))
    # A chunk is sent again at most once per `lost_message_after`: while no worker is free
    # to take it, re-sending it at every pass would only pile up duplicate messages.
    not_recently_sent = Q(enqueued_at__isnull=True) | Q(enqueued_at__lt=now - lost_message_after)
    with transaction.atomic():
        lapsed = RunChunk.objects.filter(
            not_recently_sent, run__status__in=ACTIVE_RUN_STATUSES, status=ChunkStatus.LEASED, lease_expires_at__lt=now
        )
        forgotten = RunChunk.objects.filter(
            not_recently_sent, run__status__in=ACTIVE_RUN_STATUSES, status=ChunkStatus.PENDING
        )
        chunk_ids = list(lapsed.values_list("pk", flat=True)) + list(forgotten.values_list("pk", flat=True))
        RunChunk.objects.filter(pk__in=chunk_ids).update(enqueued_at=now)
        _enqueue_on_commit(chunk_ids)
        stalled = Run.objects.filter(status__in=ACTIVE_RUN_STATUSES).exclude(
            chunks__status__in=[ChunkStatus.PENDING, ChunkStatus.LEASED]
        )
        for run_id in stalled.values_list("pk", flat=True):
            transaction.on_commit(partial(run_finalize_if_complete, run_id))
    return len(chunk_ids)


def chunk_retry(*, actor: User, chunk: RunChunk) -> None:
    """An operator sends a failed chunk, or one whose lease lapsed, to the workers again.

    A failed chunk's results that its failure cut off (errored "chunk failed: …") become
    pending again, and its completed run goes back to running until they are done;
    results that errored on their own stay as they are. A lapsed lease is taken back at
    once instead of waiting for the reconciler. The attempt count starts from zero.
    """
    with transaction.atomic():
        locked = RunChunk.objects.select_for_update(of=("self",)).select_related("run").filter(pk=chunk.pk).first()
        if locked is None:
            raise Conflict("That chunk no longer exists.", field="chunk")
        run = locked.run
        now = timezone.now()
        before = {"status": locked.status, "attempts": locked.attempts, "last_error": locked.last_error[:300]}
        if locked.status == ChunkStatus.FAILED:
            if run.status not in (RunStatus.COMPLETED, *ACTIVE_RUN_STATUSES):
                raise Conflict(f"Run {run.number} is {run.status}: resume the run instead.", field="status")
            CaseResult.objects.filter(
                chunk_id=locked.pk, status=ResultStatus.ERROR, error__startswith="chunk failed:"
            ).update(status=ResultStatus.PENDING, error="", finished_at=None)
            Run.objects.filter(pk=run.pk, status=RunStatus.COMPLETED).update(
                status=RunStatus.RUNNING, finished_at=None, stop_reason=""
            )
        elif locked.status == ChunkStatus.LEASED and locked.lease_expires_at and locked.lease_expires_at < now:
            if run.status not in ACTIVE_RUN_STATUSES:
                raise Conflict(f"Run {run.number} is {run.status}: resume the run instead.", field="status")
        else:
            raise Conflict("Only a failed chunk, or one whose lease lapsed, can be retried.", field="status")
        RunChunk.objects.filter(pk=locked.pk).update(
            status=ChunkStatus.PENDING,
            lease_token="",
            lease_expires_at=None,
            attempts=0,
            last_error="",
            enqueued_at=now,
        )
        audit_record(
            actor=actor,
            project_id=run.project_id,
            action="chunk.retry",
            object_type="run",
            object_id=run.pk,
            object_label=f"run {run.number}, chunk {locked.index}",
            before=before,
            after={"status": ChunkStatus.PENDING},
        )
        event_emit(project_id=run.project_id, type="run.status", object_type="run", object_id=run.pk)
        _enqueue_on_commit([locked.pk])
