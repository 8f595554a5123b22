"""Scale-out: one run shared by two worker processes (the production stack runs two).

Both workers are up before the run is created, so its chunk messages are spread over
both from the start; the backend's six slots (fewer than the four pool processes want)
make their chunks wait for each other, as chunks of busy workers do. However the work
was split, every (case, sample) is written once, each episode's requests are made once
(the simulator's log, matched to results by episode), and each result's cost is its own
tokens at the backend's prices, counted once in the run's spend.
"""

from __future__ import annotations

import pytest

from evolab.runs.models import CaseResult, ResultStatus, RunChunk, RunStatus
from evolab.runs.selectors import run_summary
from tests.reliability.conftest import Broker, Lab, Workers, episode_keys, requests_by_result, run_status

pytestmark = [pytest.mark.reliability, pytest.mark.service, pytest.mark.django_db(transaction=True)]


@pytest.mark.parametrize("broker", ["redis", "filesystem"], indirect=True)
def test_a_run_shared_by_two_workers_has_each_result_once(lab: Lab, broker: Broker, workers: Workers) -> None:
    first = workers.start(concurrency=2)
    second = workers.start(concurrency=2)
    run = lab.create_run(samples=3, max_concurrency=2)
    assert run.total_results == 72 and run.chunks.count() == 12
    keys = episode_keys(run)

    workers.drive(lambda: run_status(run) == RunStatus.COMPLETED, "the run to complete")

    # Both really took part: the test is about sharing, not about one worker.
    assert first.chunk_tasks("succeeded") and second.chunk_tasks("succeeded"), workers.log_tails()
    assert set(RunChunk.objects.filter(run=run).values_list("status", flat=True)) == {"done"}

    results = list(CaseResult.objects.filter(run=run))
    assert len(results) == 72
    assert len({(r.case_id, r.sample) for r in results}) == 72
    assert {r.status for r in results} == {ResultStatus.DONE}

    # Each request of each episode was made once: no result was run by both workers.
    made = requests_by_result(keys, lab.simulator.state.requests())
    for r in results:
        assert made[r.pk] == len(r.attempts) >= 1, r.pk
    assert lab.simulator.stats()["chat_requests"] == sum(len(r.attempts) for r in results)

    # Cost counted once: each result's cost is its tokens at the backend's prices, and
    # the run's spend is their sum.
    price_in, price_out = lab.backend.price_in_per_m, lab.backend.price_out_per_m
    for r in results:
        assert r.input_tokens > 0
        assert r.cost_usd == pytest.approx((r.input_tokens * price_in + r.output_tokens * price_out) / 1_000_000)
    total = sum(r.cost_usd for r in results)
    assert run_summary(run).spend_usd == pytest.approx(total)
