"""A chunk that kills its worker every time: it ends failed after its allowed attempts,
with its unfinished results errored, while every other chunk finishes and the run
completes."""

from __future__ import annotations

import pytest

from evolab.runs.chunk_session import CRASH_ON_CASE_ENV
from evolab.runs.models import ACTIVE_RUN_STATUSES, CaseResult, ChunkStatus, ResultStatus, RunChunk, RunStatus
from tests.reliability.conftest import MAX_ATTEMPTS, Lab, Workers, live_slot_leases, run_status

pytestmark = [pytest.mark.reliability, pytest.mark.service, pytest.mark.django_db(transaction=True)]

FAILURE = f"its worker stopped without finishing {MAX_ATTEMPTS} times in a row"


# prefork: the pool child dies and the worker lives on (Celery rejects the message back to
# the queue, where the duplicate finds the lease still held). solo: the whole worker dies,
# its message is lost with it, and the supervisor starts it again.
@pytest.mark.parametrize("pool", ["prefork", "solo"])
def test_a_poison_chunk_fails_after_its_attempts_and_the_run_completes(lab: Lab, workers: Workers, pool: str) -> None:
    run = lab.create_run(samples=1)
    assert run.chunks.count() == 4
    poisoned = RunChunk.objects.get(run=run, index=1)
    poison_case = CaseResult.objects.filter(chunk=poisoned).order_by("pk")[2].case.key
    worker = workers.start(pool=pool, env={CRASH_ON_CASE_ENV: poison_case})

    workers.drive(lambda: run_status(run) not in ACTIVE_RUN_STATUSES, "the run to end")
    workers.drive(lambda: live_slot_leases() == 0, "the crashed chunk's backend slots to lapse")

    run.refresh_from_db()
    assert run.status == RunStatus.COMPLETED
    assert run.stop_reason.startswith("chunk 1 failed"), run.stop_reason
    poisoned.refresh_from_db()
    assert poisoned.status == ChunkStatus.FAILED
    assert poisoned.last_error == FAILURE
    # Each claim counts an attempt; the claim after the last allowed one fails the chunk.
    assert poisoned.attempts == MAX_ATTEMPTS + 1
    if pool == "solo":
        assert worker.starts == 1 + MAX_ATTEMPTS
    else:
        assert worker.starts == 1
        assert worker.log_text().count("exited with 'signal 9 (SIGKILL)'") == MAX_ATTEMPTS

    statuses = {
        (r.chunk_id, r.case.key): (r.status, r.error) for r in CaseResult.objects.filter(run=run).select_related("case")
    }
    assert statuses[(poisoned.pk, poison_case)] == (ResultStatus.ERROR, f"chunk failed: {FAILURE}")
    for (chunk_id, _), (status, error) in statuses.items():
        if chunk_id == poisoned.pk:
            # What the chunk finished before the poisoned case stays; the rest is errored.
            assert status == ResultStatus.DONE or error == f"chunk failed: {FAILURE}"
        else:
            assert status == ResultStatus.DONE
    assert set(RunChunk.objects.filter(run=run).exclude(pk=poisoned.pk).values_list("status", flat=True)) == {
        ChunkStatus.DONE
    }
