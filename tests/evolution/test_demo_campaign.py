"""The demo campaign, on a smaller budget: the dev score rises clearly, the held-out guard
follows, and the policy has thrown out at least one proposal and kept one for a person."""

from __future__ import annotations

import pytest

from evolab.demo import SUITE_PATH
from evolab.demo.campaign import DEMO_POLICY, demo_campaign_spec
from evolab.evals.actions import suite_create, suite_version_import
from evolab.evolution import actions
from evolab.evolution.models import CampaignStatus, Outcome, Proposal, Round
from evolab.harnesses.selectors import head_of
from evolab.runs.models import CaseResult, ResultStatus, Run
from tests.evolution.conftest import Evo, drive

pytestmark = pytest.mark.django_db(transaction=True)


def _mean(run: Run, split: str) -> float:
    scores = list(
        CaseResult.objects.filter(run=run, case__split=split, status=ResultStatus.DONE).values_list("score", flat=True)
    )
    return sum(scores) / len(scores)


def test_the_demo_campaign_improves_dev_and_holdout_and_uses_the_policy(evo: Evo) -> None:
    project = evo.team.project
    suite = suite_create(actor=evo.team.owner, project=project, slug="support-suite", name="Support suite")
    version = suite_version_import(actor=evo.team.owner, suite=suite, source=SUITE_PATH.read_bytes(), fmt="jsonl")
    actions.policy_set(actor=evo.team.owner, project=project, rules=DEMO_POLICY)
    spec = demo_campaign_spec(base=evo.harness, suite_version=version, backend=evo.backend, rounds=4)
    campaign = drive(actions.campaign_create(actor=evo.team.maintainer, project=project, spec=spec))
    assert campaign.status == CampaignStatus.FINISHED, campaign.status_reason

    rounds = list(Round.objects.filter(campaign=campaign).select_related("parent_run").order_by("number"))
    first = rounds[0].parent_run
    merged = Proposal.objects.filter(campaign=campaign, merged_at__isnull=False).order_by("number")
    last = merged.last()
    assert first is not None and last is not None and last.candidate_run is not None and last.guard_run is not None
    assert head_of(project) == last.candidate_version
    dev_before, dev_after = _mean(first, "dev"), _mean(last.candidate_run, "dev")
    assert dev_after - dev_before >= 0.15, (dev_before, dev_after)
    assert rounds[0].parent_guard_run is not None
    holdout_before, holdout_after = _mean(rounds[0].parent_guard_run, "holdout"), _mean(last.guard_run, "holdout")
    assert holdout_after > holdout_before + 0.05, (holdout_before, holdout_after)
    outcomes = set(Proposal.objects.filter(campaign=campaign).values_list("outcome", flat=True))
    assert Outcome.AUTO_REJECT in outcomes and Outcome.NEEDS_REVIEW in outcomes
