"""A worker killed outright in the middle of a run: the next worker finishes it, every
(case, sample) is scored exactly once, and only what the dead worker held is asked of the
model again.

The bound on chat requests. With no injected faults every request is one attempt, and a
result's `attempts` list records the requests of the execution that wrote it. A result
that was still pending in a chunk the killed worker held may also have had requests from
the killed execution — at most one episode's worth: the request seed makes the simulator
answer deterministically, so the killed try was a prefix of the episode that finished,
i.e. at most `turns` requests. No other result can have been asked twice. Hence, per
result, `requests == len(attempts)`, or `len(attempts) <= requests <= len(attempts) +
turns` for those held at the kill; summed, `requests <= attempts + Σ_lost turns`, and
`Σ_lost turns <= lost * max_turns`, where lost <= two chunks (the one a task drains and
the one it adopted) per pool process.
"""

from __future__ import annotations

import pytest
import redis

from evolab.runs.chunk_session import MAX_HELD_CHUNKS
from evolab.runs.models import CaseResult, ChunkStatus, ResultStatus, RunStatus
from tests.reliability.conftest import (
    CHUNK_SIZE,
    Broker,
    Lab,
    Workers,
    episode_keys,
    finished_count,
    live_slot_leases,
    redis_url,
    requests_by_result,
    run_status,
)

pytestmark = [pytest.mark.reliability, pytest.mark.service, pytest.mark.django_db(transaction=True)]


def _held_by_a_worker(run_id: int) -> int:
    return CaseResult.objects.filter(
        run_id=run_id, chunk__status=ChunkStatus.LEASED, status=ResultStatus.PENDING
    ).count()


# redis: the dead worker's messages come back after the visibility timeout, as duplicates
# of what the reconciler sent. filesystem: they are lost; only the reconciler brings them back.
@pytest.mark.parametrize("broker", ["redis", "filesystem"], indirect=True)
def test_a_killed_worker_s_run_is_finished_by_the_next_worker(lab: Lab, broker: Broker, workers: Workers) -> None:
    run = lab.create_run(samples=2)
    assert run.total_results == 48 and run.chunks.count() == 8
    keys = episode_keys(run)
    first = workers.start(concurrency=2)
    # Kill it at half-way, while it holds a few results (so the kill surely cuts into work).
    workers.drive(
        lambda: finished_count(run) >= run.total_results // 2 and _held_by_a_worker(run.pk) >= 3,
        "half the results done, with some held by the worker",
    )
    first.kill()
    lost = set(
        CaseResult.objects.filter(run=run, chunk__status=ChunkStatus.LEASED, status=ResultStatus.PENDING).values_list(
            "pk", flat=True
        )
    )
    # At most the chunks its two pool processes held: two each (runs/chunk_session.py).
    assert 0 < len(lost) <= CHUNK_SIZE * MAX_HELD_CHUNKS * 2
    second = workers.start(concurrency=2)
    workers.drive(lambda: run_status(run) == RunStatus.COMPLETED, "the run to complete")
    # The live worker gave its backend slots back; the dead one's lapse by themselves.
    workers.drive(lambda: live_slot_leases() == 0, "the dead worker's backend slots to lapse")
    if broker.kind == "redis":
        # Let Redis hand the dead worker's messages back: those late duplicates must find
        # their chunks done and ask the model nothing more (checked below).
        client = redis.Redis.from_url(redis_url())
        unacked, queue = broker.redis_key("unacked"), broker.redis_key("celery")
        workers.drive(lambda: client.hlen(unacked) == 0 and client.llen(queue) == 0, "Redis to redeliver")
        client.close()
    # The same message (task id) reaching the second worker is the broker's redelivery.
    redelivered = (first.chunk_tasks("received") - first.chunk_tasks("succeeded")) & second.chunk_tasks("received")
    assert bool(redelivered) == (broker.kind == "redis")

    results = list(CaseResult.objects.filter(run=run))
    assert len(results) == 48
    assert len({(r.case_id, r.sample) for r in results}) == 48
    assert {r.status for r in results} == {ResultStatus.DONE}

    made = requests_by_result(keys, lab.simulator.state.requests())
    attempts = turns_lost = 0
    for r in results:
        turns = sum(1 for m in r.transcript if m.get("role") == "assistant")
        attempts += len(r.attempts)
        if r.pk in lost:
            turns_lost += turns
            assert len(r.attempts) <= made[r.pk] <= len(r.attempts) + turns, r.pk
        else:
            assert made[r.pk] == len(r.attempts), r.pk
    assert attempts <= lab.simulator.stats()["chat_requests"] <= attempts + turns_lost
