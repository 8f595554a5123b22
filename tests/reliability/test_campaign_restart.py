"""A campaign whose worker is killed outright resumes on the next worker and finishes:
no proposal is made twice, no result is billed twice, and the model is asked again only
for what the dead worker had in flight.

The worker runs everything a deployment's workers run — campaign steps and run chunks —
and the test plays the scheduler: it calls both reconcilers (`runs.reconcile`,
`evolution.reconcile`) every half second, as beat would. The step lease is 5 s here, so
the next worker takes over a dead worker's step within the test.

The bounds on model requests. The simulator keeps every request body; a proposer request
is the one with a `## Failure trajectories` line, every other is a runner request.
* Proposer: each model proposal asks one question of its own (its seed is its index), and
  a step repeated after the kill asks the same question again only if the dead worker
  died before the answer reached the response cache. Only one step runs at a time, so at
  most one question is asked twice.
* Runner: a result's `attempts` are the requests of the execution that wrote it; a result
  still pending in a chunk the dead worker held may also have had up to `turns` requests
  from the killed execution (see test_worker_killed). Nothing else is asked twice.
"""

from __future__ import annotations

import json
import time
from collections import Counter
from collections.abc import Callable, Iterable, Iterator

import pytest
import redis

from evolab.backends.simulator.testing import RunningSimulator
from evolab.demo import demo_harness_files
from evolab.evals.actions import suite_create, suite_version_import
from evolab.evolution import actions
from evolab.evolution.budget import campaign_run_ids
from evolab.evolution.loop import campaigns_reconcile
from evolab.evolution.models import Campaign, CampaignStatus, Proposal, ProposerKind, Round, RoundStatus
from evolab.harnesses.actions import version_create
from evolab.projects.models import BackendFamily
from evolab.runs.actions import runs_reconcile
from evolab.runs.chunk_session import MAX_HELD_CHUNKS
from evolab.runs.models import CaseResult, ChunkStatus, ResultStatus, Run, RunStatus
from tests.conftest import Team
from tests.evolution.conftest import AUTO_MERGE_POLICY, Evo, suite_rows
from tests.factories import BackendFactory
from tests.reliability.conftest import (
    CHUNK_SIZE,
    RECONCILE_EVERY_S,
    REQUEUE_S,
    Broker,
    Workers,
    redis_url,
    state_report,
)

pytestmark = [pytest.mark.reliability, pytest.mark.service, pytest.mark.django_db(transaction=True)]

PROPOSER_MARKER = b"## Failure trajectories"
CONCURRENCY = 2
# A step's lease, and the pause between two looks at a run being evaluated.
STEP_LEASE_S = 5
POLL_S = 0.5
# A bound on waiting, generous: this is not a speed test.
CAMPAIGN_BUDGET_S = 300.0

WORKER_ENV = {
    "EVOLAB_CAMPAIGN_STEP_LEASE_S": str(STEP_LEASE_S),
    "EVOLAB_CAMPAIGN_POLL_S": str(POLL_S),
    # Runs are created by the worker's campaign steps: they are chunked with its settings.
    "EVOLAB_RUN_CHUNK_SIZE": str(CHUNK_SIZE),
    "EVOLAB_CHUNK_REQUEUE_S": str(REQUEUE_S),
}


@pytest.fixture
def evo(team: Team, simulator: RunningSimulator) -> Iterator[Evo]:
    """Two rounds of two reflect candidates on 6 train, 12 dev and 6 holdout cases (two
    samples each), proposer and runner on the simulator; auto-merge allowed, so the
    second round may start from the first round's winner."""
    simulator.state.keep_bodies()
    backend = BackendFactory(
        project=team.project,
        name="m27-sim",
        family=BackendFamily.MINIMAX,
        base_url=simulator.base_url,
        max_concurrency=6,
        price_in_per_m=0.3,
        price_out_per_m=1.2,
    )
    harness = version_create(actor=team.owner, project=team.project, files=demo_harness_files(), message="demo")
    suite = suite_create(actor=team.owner, project=team.project, slug="demo", name="Demo")
    rows = suite_rows({"train": 1, "dev": 2, "holdout": 1})
    source = "\n".join(json.dumps(row) for row in rows).encode()
    version = suite_version_import(actor=team.owner, suite=suite, source=source, fmt="jsonl")
    actions.policy_set(actor=team.owner, project=team.project, rules=AUTO_MERGE_POLICY)
    yield Evo(team=team, backend=backend, harness=harness, suite_version=version, simulator=simulator)
    simulator.state.keep_bodies(False)


# ---------------------------------------------------------------- driving


def drive(workers: Workers, until: Callable[[], bool], what: str, deadline: float, poll_s: float = 0.02) -> None:
    """Be the scheduler (both reconcilers, every half second) and the supervisor until
    `until()` holds; fail with the state of things at the deadline."""
    next_reconcile = 0.0
    while not until():
        if time.monotonic() > deadline:
            raise AssertionError(f"gave up waiting for {what}\n{campaign_report()}\n{state_report()}")
        workers.restart_dead()
        if time.monotonic() >= next_reconcile:
            runs_reconcile()
            campaigns_reconcile()
            next_reconcile = time.monotonic() + RECONCILE_EVERY_S
        time.sleep(poll_s)


def campaign_report() -> str:
    lines = []
    for campaign in Campaign.objects.all():
        lines.append(
            f"campaign {campaign.pk}: {campaign.status} {campaign.status_reason!r} "
            f"step_expires_at={campaign.step_expires_at} step_enqueued_at={campaign.step_enqueued_at}"
        )
    for r in Round.objects.order_by("number"):
        lines.append(f"round {r.number}: {r.status} parent_run={r.parent_run_id} guard_run={r.parent_guard_run_id}")
    for p in Proposal.objects.order_by("number"):
        lines.append(
            f"  proposal {p.number} (round {p.round_id} #{p.index} {p.kind}): {p.stage} {p.outcome} "
            f"runs={p.candidate_run_id},{p.guard_run_id} error={p.apply_error[:80]!r}"
        )
    return "\n".join(lines)


def proposer_bodies(simulator: RunningSimulator) -> list[bytes]:
    bodies = simulator.state.bodies
    assert bodies is not None
    return [body for body in list(bodies) if PROPOSER_MARKER in body]


def model_proposals() -> int:
    return Proposal.objects.exclude(kind=ProposerKind.HUMAN).count()


def held_results(run_ids: Iterable[int]) -> set[int]:
    """Results still pending in chunks some worker holds."""
    return set(
        CaseResult.objects.filter(
            run_id__in=list(run_ids), chunk__status=ChunkStatus.LEASED, status=ResultStatus.PENDING
        ).values_list("pk", flat=True)
    )


def candidate_run_mid_way() -> bool:
    run_ids = [i for i in Proposal.objects.values_list("candidate_run_id", flat=True) if i is not None]
    done = CaseResult.objects.filter(run_id__in=run_ids, status=ResultStatus.DONE).exists()
    return done and len(held_results(run_ids)) >= 2


# The moments the worker is killed at: a proposer question on the wire whose proposal is
# not yet recorded, or a candidate's evaluation run with results in a worker's hands.
def kill_moment(simulator: RunningSimulator, moment: str) -> Callable[[], bool]:
    if moment == "proposing":
        return lambda: len(proposer_bodies(simulator)) > model_proposals()
    return candidate_run_mid_way


@pytest.mark.parametrize(
    ("broker", "moment"),
    [("redis", "proposing"), ("redis", "evaluating"), ("filesystem", "proposing"), ("filesystem", "evaluating")],
    indirect=["broker"],
)
def test_a_campaign_whose_worker_is_killed_finishes_on_the_next_worker(
    evo: Evo, broker: Broker, workers: Workers, moment: str
) -> None:
    deadline = time.monotonic() + CAMPAIGN_BUDGET_S
    campaign = evo.start(candidates_per_round=2, budget_rounds=2, samples=2)
    first = workers.start(concurrency=CONCURRENCY, env=WORKER_ENV)
    drive(workers, kill_moment(evo.simulator, moment), f"the campaign to be {moment}", deadline, poll_s=0.005)
    first.kill()

    lost = held_results(Run.objects.values_list("pk", flat=True))
    # At most the chunks its pool processes held: two each (runs/chunk_session.py).
    assert len(lost) <= CHUNK_SIZE * MAX_HELD_CHUNKS * CONCURRENCY
    if moment == "evaluating":
        assert lost
    workers.start(concurrency=CONCURRENCY, env=WORKER_ENV)

    def finished() -> bool:
        return Campaign.objects.values_list("status", flat=True).get(pk=campaign.pk) != CampaignStatus.RUNNING

    drive(workers, finished, "the campaign to end", deadline)
    if broker.kind == "redis":
        # Let Redis hand the dead worker's messages back before counting: those late
        # duplicates must find their step or chunk done and ask the model nothing more.
        client = redis.Redis.from_url(redis_url())
        unacked, queue = broker.redis_key("unacked"), broker.redis_key("celery")
        drive(workers, lambda: client.hlen(unacked) == 0 and client.llen(queue) == 0, "Redis to redeliver", deadline)
        client.close()
    campaign.refresh_from_db()
    assert campaign.status == CampaignStatus.FINISHED, f"{campaign.status_reason}\n{campaign_report()}"
    assert campaign.status_reason == "All 2 rounds done."

    rounds = list(Round.objects.filter(campaign=campaign).order_by("number"))
    assert [(r.number, r.status) for r in rounds] == [(1, RoundStatus.DONE), (2, RoundStatus.DONE)]
    # Every round has its model proposals, one per slot, none made twice.
    proposals = list(Proposal.objects.filter(campaign=campaign))
    slots = Counter((p.round_id, p.index) for p in proposals)
    assert all(count == 1 for count in slots.values()), slots
    for r in rounds:
        indexes = sorted(p.index for p in proposals if p.round_id == r.pk and p.kind == ProposerKind.REFLECT)
        assert indexes == list(range(campaign.candidates_per_round)), (r.number, indexes)
    assert len(proposals) == model_proposals() == 2 * campaign.candidates_per_round

    # Every run the campaign started is one it links to (none was started and forgotten),
    # each completed with exactly one result per (case, sample).
    run_ids = campaign_run_ids(campaign)
    assert set(Run.objects.values_list("pk", flat=True)) == run_ids
    results = list(CaseResult.objects.filter(run_id__in=run_ids).select_related("run__harness_version"))
    for run in Run.objects.filter(pk__in=run_ids):
        assert run.status == RunStatus.COMPLETED, (run.pk, run.status, run.stop_reason)
        mine = [r for r in results if r.run_id == run.pk]
        assert len(mine) == run.total_results == len({(r.case_id, r.sample) for r in mine}), run.pk
        assert {r.status for r in mine} == {ResultStatus.DONE}, run.pk

    # No (version, case, sample) was paid for twice: a repeat is answered from the cache.
    billed = Counter(
        (r.run.harness_version.digest, r.case_id, r.sample) for r in results if r.cost_usd > 0 and not r.cached
    )
    assert billed and max(billed.values()) == 1, [key for key, count in billed.items() if count > 1]

    # The model was asked again only for what the dead worker had in flight.
    asked = proposer_bodies(evo.simulator)
    assert len(set(asked)) == len(proposals)
    assert len(asked) <= len(proposals) + 1
    assert sum(1 for p in proposals if p.proposer_cost_usd > 0) <= len(set(asked))
    bodies = evo.simulator.state.bodies
    assert bodies is not None and len(bodies) == evo.simulator.stats()["chat_requests"]
    runner_requests = len(bodies) - len(asked)
    attempts = sum(len(r.attempts) for r in results)
    turns_lost = sum(sum(1 for m in r.transcript if m.get("role") == "assistant") for r in results if r.pk in lost)
    assert attempts <= runner_requests <= attempts + turns_lost, (attempts, runner_requests, turns_lost)
