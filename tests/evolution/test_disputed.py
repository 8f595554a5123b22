"""Disputed cases are left out of decisions: the paired comparison of a proposal, its
critical regressions and its held-out guard ignore keys with an open dispute, the stats
record how many were left out, and the proposal page says so."""

from __future__ import annotations

import pytest

from evolab.evals.discussion import case_dispute_open, case_dispute_resolve
from evolab.evolution import loop
from evolab.evolution.actions import policy_set
from evolab.evolution.benchmark import proposal_fixture
from evolab.evolution.budget import campaign_spend
from evolab.evolution.models import Campaign, Outcome, Proposal, ProposalStage, Round
from tests.conftest import Team
from tests.evolution.conftest import Evo
from tests.evolution.review_helpers import waiting
from tests.runs.scored_runs import scored_run


@pytest.fixture
def campaign(evo: Evo) -> Campaign:
    return evo.start()


def dev_keys(evo: Evo) -> list[str]:
    return list(evo.suite_version.cases.filter(split="dev").order_by("key").values_list("key", flat=True))


def runs_where_one_case_gains(evo: Evo) -> tuple[str, object, object]:
    """Parent and candidate tie on every dev case but one, which only the candidate passes."""
    keys = dev_keys(evo)
    gainer = keys[0]
    parent = {key: [1.0, 1.0] if key != gainer else [0.0, 0.0] for key in keys}
    candidate = {key: [1.0, 1.0] for key in keys}
    project = evo.team.project
    return (
        gainer,
        scored_run(project, evo.harness, evo.suite_version, parent),
        scored_run(project, evo.harness, evo.suite_version, candidate),
    )


def test_a_gain_only_from_a_disputed_case_is_no_longer_a_gain(evo: Evo, campaign: Campaign) -> None:
    gainer, parent_run, candidate_run = runs_where_one_case_gains(evo)
    before = loop._selection_stats(campaign, parent_run, candidate_run)  # type: ignore[arg-type]
    assert before["comparison"]["delta"] > 0 and before["comparison"]["wins"] == 1
    assert before["disputed_excluded"] == 0

    suite = evo.suite_version.suite
    case_dispute_open(actor=evo.team.reviewer, suite=suite, key=gainer, reason="target is wrong")  # type: ignore[arg-type]
    after = loop._selection_stats(campaign, parent_run, candidate_run)  # type: ignore[arg-type]
    assert after["comparison"]["delta"] == 0 and after["comparison"]["wins"] == 0
    assert after["comparison"]["n"] == before["comparison"]["n"] - 1
    assert after["disputed_excluded"] == 1

    case_dispute_resolve(actor=evo.team.maintainer, suite=suite, key=gainer, note="target fixed")  # type: ignore[arg-type]
    resolved = loop._selection_stats(campaign, parent_run, candidate_run)  # type: ignore[arg-type]
    assert resolved["comparison"] == before["comparison"] and resolved["disputed_excluded"] == 0


def evaluating(proposal: Proposal) -> Proposal:
    """The proposal as the loop holds it while its candidate run is scored."""
    Proposal.objects.filter(pk=proposal.pk).update(stage=ProposalStage.EVALUATING, outcome="", reasons=[])
    proposal.refresh_from_db()
    return proposal


def test_the_loop_stops_treating_it_as_a_gain(evo: Evo, campaign: Campaign) -> None:
    """Through the loop's own evaluation step: before the dispute the one-case gain
    passes on to the held-out guard; with the case disputed it is classified as no
    gain, never auto-merged, and its stats say one disputed case was excluded."""
    policy_set(actor=evo.team.owner, project=campaign.project, rules={"allow_auto_merge": True, "min_effect": 0.0})  # type: ignore[arg-type]
    gainer, parent_run, candidate_run = runs_where_one_case_gains(evo)
    current = Round.objects.create(
        campaign=campaign, number=1, parent_version=campaign.parent_version, parent_run=parent_run
    )
    first = evaluating(waiting(campaign, round=current, candidate_run=candidate_run))
    loop._evaluate(campaign, current, first, campaign_spend(campaign))
    first.refresh_from_db()
    assert first.stage == ProposalStage.GUARDING and first.stats["comparison"]["delta"] > 0

    case_dispute_open(actor=evo.team.reviewer, suite=evo.suite_version.suite, key=gainer, reason="ambiguous")  # type: ignore[arg-type]
    second = evaluating(waiting(campaign, text="Other.\n", round=current, index=1, candidate_run=candidate_run))
    loop._evaluate(campaign, current, second, campaign_spend(campaign))
    second.refresh_from_db()
    assert second.stage == ProposalStage.CLASSIFIED
    assert second.outcome != Outcome.AUTO_MERGE
    assert second.stats["comparison"]["delta"] == 0 and second.stats["disputed_excluded"] == 1


def test_a_disputed_critical_case_is_no_regression(evo: Evo, campaign: Campaign) -> None:
    keys = dev_keys(evo)
    loser = keys[1]
    tag = evo.suite_version.cases.get(key=loser).tags[0]
    policy_set(actor=evo.team.owner, project=campaign.project, rules={"critical_tag": tag})  # type: ignore[arg-type]
    parent = {key: [1.0] for key in keys}
    candidate = {**parent, loser: [0.0]}
    project = evo.team.project
    parent_run = scored_run(project, evo.harness, evo.suite_version, parent)
    candidate_run = scored_run(project, evo.harness, evo.suite_version, candidate)
    before = loop._selection_stats(campaign, parent_run, candidate_run)  # type: ignore[arg-type]
    assert loser in before["critical_regressions"]
    case_dispute_open(actor=evo.team.reviewer, suite=evo.suite_version.suite, key=loser, reason="x")  # type: ignore[arg-type]
    after = loop._selection_stats(campaign, parent_run, candidate_run)  # type: ignore[arg-type]
    assert loser not in after["critical_regressions"]
    assert after["comparison"]["losses"] == before["comparison"]["losses"] - 1 == 0


def test_the_proposal_page_says_how_many_disputed_cases_were_excluded(team: Team) -> None:
    fx = proposal_fixture(project=team.project, actor=team.owner, cases=10, samples=3, guard_cases=6)
    Proposal.objects.filter(pk=fx.proposal.pk).update(stats={**fx.proposal.stats, "disputed_excluded": 2})
    html = team.client_for("viewer").get(f"/p/{team.project.slug}/proposals/{fx.proposal.number}/").content.decode()
    assert "2 disputed cases excluded" in html
    Proposal.objects.filter(pk=fx.proposal.pk).update(stats={**fx.proposal.stats, "disputed_excluded": 0})
    html = team.client_for("viewer").get(f"/p/{team.project.slug}/proposals/{fx.proposal.number}/").content.decode()
    assert "disputed case" not in html
