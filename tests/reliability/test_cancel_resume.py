"""Cancel a run half-way on a real worker, then resume it: what was asked of the model
before the cancel is all kept, and no finished result is asked for again."""

from __future__ import annotations

import pytest

from evolab.runs.actions import run_cancel, run_resume
from evolab.runs.models import BackendSlotLease, CaseResult, ChunkStatus, ResultStatus, RunChunk, RunStatus
from tests.reliability.conftest import Lab, Workers, episode_keys, finished_count, requests_by_result, run_status

pytestmark = [pytest.mark.reliability, pytest.mark.service, pytest.mark.django_db(transaction=True)]


def test_cancel_at_half_then_resume_never_asks_for_a_finished_result_again(lab: Lab, workers: Workers) -> None:
    run = lab.create_run(samples=2)
    keys = episode_keys(run)
    workers.start()
    workers.drive(lambda: finished_count(run) >= run.total_results // 2, "half the results")
    run_cancel(actor=lab.team.owner, run=run)
    workers.drive(lambda: not RunChunk.objects.filter(run=run, status=ChunkStatus.LEASED).exists(), "the leases back")

    assert run_status(run) == RunStatus.CANCELLED
    assert not BackendSlotLease.objects.exists()  # handed back with the leases
    done = set(CaseResult.objects.filter(run=run, status=ResultStatus.DONE).values_list("pk", flat=True))
    assert not CaseResult.objects.filter(run=run, status=ResultStatus.ERROR).exists()
    assert run.total_results // 2 <= len(done) < run.total_results
    before = lab.simulator.state.requests()
    # Episodes in flight at the cancel were finished and written, not thrown away: the
    # model was asked for exactly the results that are done now.
    assert set(requests_by_result(keys, before)) == done

    run_resume(actor=lab.team.owner, run=run)
    workers.drive(lambda: run_status(run) == RunStatus.COMPLETED, "the resumed run to complete")
    assert not BackendSlotLease.objects.exists()

    results = {r.pk: r for r in CaseResult.objects.filter(run=run)}
    assert {r.status for r in results.values()} == {ResultStatus.DONE}
    after = requests_by_result(keys, lab.simulator.state.requests()[len(before) :])
    assert not set(after) & done
    assert set(after) == set(results) - done
    assert all(after[pk] == len(results[pk].attempts) for pk in after)
