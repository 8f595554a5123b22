from __future__ import annotations

from datetime import timedelta
from decimal import Decimal
from typing import Any

import pytest
from django.test import override_settings
from django.utils import timezone

from evolab.core.errors import Conflict
from evolab.runs.actions import RunSpec, chunk_claim, chunk_release, run_cancel, run_create, run_resume
from evolab.runs.models import CaseResult, ChunkStatus, ResultStatus, Run, RunChunk, RunStatus
from evolab.runs.tasks import run_chunk
from tests.runs.conftest import Lab

pytestmark = pytest.mark.django_db(transaction=True)


def _spec(lab: Lab, **changes: object) -> RunSpec:
    values: dict[str, object] = {
        "harness_version": lab.harness,
        "suite_version": lab.suite_version,
        "splits": ["dev"],
        "backend": lab.backend,
        "samples": 2,
    }
    values.update(changes)
    return RunSpec(**values)  # type: ignore[arg-type]


def _drain(run: Run) -> None:
    """Run every chunk until none is left pending (what workers do)."""
    for _ in range(20):
        run.refresh_from_db()
        if not run.is_active:
            return
        chunk_ids = list(run.chunks.filter(status=ChunkStatus.PENDING).values_list("pk", flat=True))
        if not chunk_ids:
            return
        for chunk_id in chunk_ids:
            run_chunk(chunk_id)
    raise AssertionError("chunks never finished")


@override_settings(EVOLAB_RUN_CHUNK_SIZE=5)
def test_a_run_scores_every_case_sample_once(lab: Lab) -> None:
    run = run_create(actor=lab.team.owner, project=lab.team.project, spec=_spec(lab))
    assert run.total_results == 24 and run.chunks.count() == 5
    _drain(run)
    run.refresh_from_db()
    assert run.status == RunStatus.COMPLETED
    results = CaseResult.objects.filter(run=run)
    assert results.count() == 24
    assert not results.filter(status=ResultStatus.PENDING).exists()
    assert results.filter(status=ResultStatus.DONE).count() == 24
    assert lab.simulator.stats()["chat_requests"] >= 24
    scored = list(results.values_list("score", flat=True))
    assert 0 < sum(scored) < 24  # the demo harness passes some cases, not all
    first = results.filter(episode_status="answered").first()
    assert first is not None and first.transcript[0]["role"] == "system"
    assert first.input_tokens > 0 and first.cost_usd > 0


def test_an_unchanged_rerun_is_answered_from_the_cache(lab: Lab) -> None:
    first = run_create(actor=lab.team.owner, project=lab.team.project, spec=_spec(lab, samples=1))
    _drain(first)
    calls = lab.simulator.stats()["chat_requests"]
    second = run_create(actor=lab.team.owner, project=lab.team.project, spec=_spec(lab, samples=1))
    _drain(second)
    assert lab.simulator.stats()["chat_requests"] == calls
    results = CaseResult.objects.filter(run=second)
    assert results.filter(cached=True).count() == results.count() == 12
    assert sum(results.values_list("cost_usd", flat=True)) == 0
    assert sorted(results.values_list("score", flat=True)) == sorted(
        CaseResult.objects.filter(run=first).values_list("score", flat=True)
    )


def test_a_run_may_opt_out_of_the_cache(lab: Lab) -> None:
    _drain(run_create(actor=lab.team.owner, project=lab.team.project, spec=_spec(lab, samples=1)))
    calls = lab.simulator.stats()["chat_requests"]
    _drain(run_create(actor=lab.team.owner, project=lab.team.project, spec=_spec(lab, samples=1, use_cache=False)))
    assert lab.simulator.stats()["chat_requests"] >= calls + 12


@override_settings(EVOLAB_RUN_CHUNK_SIZE=4)
def test_cancel_then_resume_never_requests_a_finished_result_again(lab: Lab) -> None:
    run = run_create(actor=lab.team.owner, project=lab.team.project, spec=_spec(lab, use_cache=False))
    chunk_ids = list(run.chunks.order_by("index").values_list("pk", flat=True))
    # Other workers hold the second half, so the first task cannot adopt it.
    held = [chunk_claim(chunk_id) for chunk_id in chunk_ids[3:]]
    run_chunk(chunk_ids[0])  # adopts the rest of the first half
    run_cancel(actor=lab.team.owner, run=run)
    for claim in held:
        assert claim is not None
        chunk_release(claim)
    for chunk_id in chunk_ids[3:]:
        run_chunk(chunk_id)  # a message delivered after cancel does nothing
    finished = CaseResult.objects.filter(run=run, status=ResultStatus.DONE).count()
    assert finished == 12
    calls = lab.simulator.stats()["chat_requests"]
    run_resume(actor=lab.team.owner, run=run)
    _drain(run)
    run.refresh_from_db()
    assert run.status == RunStatus.COMPLETED
    assert CaseResult.objects.filter(run=run, status=ResultStatus.DONE).count() == 24
    # Only the twelve unfinished results were asked for (each at least one request).
    new_calls = lab.simulator.stats()["chat_requests"] - calls
    assert 12 <= new_calls <= 12 * 6


@override_settings(EVOLAB_RUN_CHUNK_SIZE=4)
def test_the_cost_cap_stops_new_requests(lab: Lab) -> None:
    run = run_create(
        actor=lab.team.owner, project=lab.team.project, spec=_spec(lab, use_cache=False, cost_cap_usd=Decimal("0.0005"))
    )
    _drain(run)
    run.refresh_from_db()
    assert run.status == RunStatus.STOPPED
    assert "cost cap" in run.stop_reason
    assert CaseResult.objects.filter(run=run, status=ResultStatus.PENDING).exists()


@override_settings(EVOLAB_RUN_CHUNK_SIZE=4)
def test_the_token_cap_stops_new_requests(lab: Lab) -> None:
    run = run_create(actor=lab.team.owner, project=lab.team.project, spec=_spec(lab, use_cache=False, token_cap=1))
    _drain(run)
    run.refresh_from_db()
    assert run.status == RunStatus.STOPPED and "token cap 1 reached" in run.stop_reason
    # The first answer crossed the cap; nothing was started after it was seen: what is
    # done was in flight then (the task's own chunk and the one it adopted, up to the run's
    # concurrency), out of 24.
    assert CaseResult.objects.filter(run=run, status=ResultStatus.DONE).count() <= run.max_concurrency
    with pytest.raises(Conflict, match="token cap"):
        run_resume(actor=lab.team.owner, run=run)


def test_a_run_past_its_deadline_sends_nothing(lab: Lab) -> None:
    past = timezone.now() - timedelta(seconds=1)
    run = run_create(actor=lab.team.owner, project=lab.team.project, spec=_spec(lab, deadline_at=past))
    _drain(run)
    run.refresh_from_db()
    assert run.status == RunStatus.STOPPED and run.stop_reason == "time limit reached"
    assert lab.simulator.stats()["chat_requests"] == 0


def test_pre_recorded_outputs_are_scored_without_a_backend(lab: Lab) -> None:
    from evolab.evals.models import EvalCase

    cases = list(EvalCase.objects.filter(version=lab.suite_version).values_list("key", "target"))
    outputs = {(key, 0): target for key, target in cases[:6]}
    outputs.update({(key, 0): "wrong" for key, _ in cases[6:11]})
    run = run_create(
        actor=lab.team.owner, project=lab.team.project, spec=_spec(lab, backend=None, samples=1, outputs=outputs)
    )
    _drain(run)
    run.refresh_from_db()
    assert run.status == RunStatus.COMPLETED
    results = CaseResult.objects.filter(run=run)
    assert results.filter(status=ResultStatus.ERROR).count() == 1  # one case had no output
    assert results.filter(passed=True).count() >= 6
    assert lab.simulator.stats()["chat_requests"] == 0


def test_a_duplicate_message_for_a_leased_chunk_does_nothing(lab: Lab) -> None:
    from evolab.runs.actions import chunk_claim

    run = run_create(actor=lab.team.owner, project=lab.team.project, spec=_spec(lab, samples=1))
    chunk = run.chunks.first()
    assert chunk is not None
    assert chunk_claim(chunk.pk) is not None
    run_chunk(chunk.pk)  # the second delivery finds the lease held
    assert lab.simulator.stats()["chat_requests"] == 0


@override_settings(EVOLAB_RUN_CHUNK_SIZE=5)
def test_one_task_adopts_the_runs_untried_chunks_one_after_another(lab: Lab) -> None:
    run = run_create(actor=lab.team.owner, project=lab.team.project, spec=_spec(lab, use_cache=False))
    first = run.chunks.order_by("index").first()
    assert first is not None and run.chunks.count() == 5
    run_chunk(first.pk)  # the other four messages would find their chunks done
    run.refresh_from_db()
    assert run.status == RunStatus.COMPLETED
    assert set(run.chunks.values_list("status", "attempts")) == {(ChunkStatus.DONE, 0)}
    # Every request was one attempt of one result: nothing was asked twice.
    attempts = sum(len(attempts) for attempts in CaseResult.objects.filter(run=run).values_list("attempts", flat=True))
    assert lab.simulator.stats()["chat_requests"] == attempts >= 24


@override_settings(EVOLAB_RUN_CHUNK_SIZE=5)
def test_a_chunk_whose_worker_died_runs_alone(lab: Lab) -> None:
    run = run_create(actor=lab.team.owner, project=lab.team.project, spec=_spec(lab, use_cache=False))
    first = run.chunks.order_by("index").first()
    assert first is not None
    # A worker claimed it and died: its lease lapsed without a release.
    assert chunk_claim(first.pk) is not None
    RunChunk.objects.filter(pk=first.pk).update(lease_expires_at=timezone.now() - timedelta(seconds=1))
    run_chunk(first.pk)
    statuses = dict(run.chunks.values_list("index", "status"))
    assert statuses == {0: ChunkStatus.DONE, 1: ChunkStatus.PENDING, 2: ChunkStatus.PENDING,
                        3: ChunkStatus.PENDING, 4: ChunkStatus.PENDING}  # fmt: skip


@override_settings(EVOLAB_RUN_CHUNK_SIZE=5)
def test_a_chunk_that_failed_before_is_not_adopted(lab: Lab) -> None:
    run = run_create(actor=lab.team.owner, project=lab.team.project, spec=_spec(lab, use_cache=False))
    chunks = list(run.chunks.order_by("index"))
    failing = chunk_claim(chunks[1].pk)
    assert failing is not None
    chunk_release(failing, error="RuntimeError: boom")  # pending again, its attempt counted
    run_chunk(chunks[0].pk)
    statuses = dict(run.chunks.values_list("index", "status"))
    assert statuses == {0: ChunkStatus.DONE, 1: ChunkStatus.PENDING, 2: ChunkStatus.DONE,
                        3: ChunkStatus.DONE, 4: ChunkStatus.DONE}  # fmt: skip


@override_settings(EVOLAB_RUN_CHUNK_SIZE=5)
def test_a_chunk_that_cannot_be_planned_after_adoption_is_handed_back(
    lab: Lab, monkeypatch: pytest.MonkeyPatch
) -> None:
    from evolab.runs import execution

    run = run_create(actor=lab.team.owner, project=lab.team.project, spec=_spec(lab, use_cache=False))
    chunks = list(run.chunks.order_by("index"))
    plan = execution.plan_items

    def plan_or_fail(run: Run, chunk_id: int) -> list[object]:
        if chunk_id == chunks[1].pk:
            raise RuntimeError("cannot plan")
        return plan(run, chunk_id)  # type: ignore[return-value]

    monkeypatch.setattr(execution, "plan_items", plan_or_fail)
    with pytest.raises(RuntimeError, match="cannot plan"):
        run_chunk(chunks[0].pk)
    # No lease is left without a task behind it; the adopted chunk's attempt is counted.
    assert not run.chunks.filter(status=ChunkStatus.LEASED).exists()
    failed = RunChunk.objects.get(pk=chunks[1].pk)
    assert (failed.status, failed.attempts, failed.last_error) == (ChunkStatus.PENDING, 1, "RuntimeError: cannot plan")


@override_settings(EVOLAB_RUN_CHUNK_SIZE=5)
def test_an_item_that_raises_costs_only_its_own_chunk_an_attempt(lab: Lab, monkeypatch: pytest.MonkeyPatch) -> None:
    from evolab.runs import execution

    run = run_create(actor=lab.team.owner, project=lab.team.project, spec=_spec(lab, use_cache=False))
    chunks = list(run.chunks.order_by("index"))
    poisoned = set(CaseResult.objects.filter(chunk=chunks[1]).values_list("pk", flat=True))
    run_item = execution._run_item

    async def run_or_fail(item: Any, *args: Any) -> dict[str, Any]:
        if item.result_id in poisoned:
            raise RuntimeError("grader bug")
        return await run_item(item, *args)

    monkeypatch.setattr(execution, "_run_item", run_or_fail)
    with pytest.raises(RuntimeError, match="grader bug"):
        run_chunk(chunks[0].pk)
    assert not run.chunks.filter(status=ChunkStatus.LEASED).exists()
    first, second = RunChunk.objects.get(pk=chunks[0].pk), RunChunk.objects.get(pk=chunks[1].pk)
    assert (second.status, second.attempts, second.last_error) == (ChunkStatus.PENDING, 1, "RuntimeError: grader bug")
    # The first chunk did nothing wrong: done, or handed back clean (its attempt not counted).
    assert first.status in (ChunkStatus.DONE, ChunkStatus.PENDING)
    assert first.attempts == 0 and first.last_error == ""


def test_no_chunk_is_adopted_from_a_run_that_stopped(lab: Lab) -> None:
    from evolab.runs.actions import chunk_claim_next

    run = run_create(actor=lab.team.owner, project=lab.team.project, spec=_spec(lab, use_cache=False))
    run_cancel(actor=lab.team.owner, run=run)
    # Its chunks are still pending and untried, but none may be claimed: the search ends.
    assert run.chunks.filter(status=ChunkStatus.PENDING, attempts=0).exists()
    assert chunk_claim_next(run.pk) is None
