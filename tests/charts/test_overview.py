"""The project overview: each figure shows the numbers the fixture's rows imply."""

from __future__ import annotations

import json
from datetime import timedelta
from decimal import Decimal
from typing import Any

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from evolab.charts.overview import accepted_versions, score_chart, spend_events, version_scores
from evolab.core.actions import audit_record
from evolab.engine.statistics import score_estimate
from evolab.evolution.actions import proposal_merge
from evolab.evolution.models import Campaign, Proposal, ProposerKind
from evolab.evolution.rebase import proposal_revert
from evolab.harnesses.actions import version_create, version_revert
from evolab.projects.models import Role
from evolab.runs.models import RunStatus
from tests.charts.overview_fixture import Lab, add_campaign, add_run, build_lab
from tests.conftest import Team
from tests.factories import BackendFactory, MembershipFactory, ProjectFactory

pytestmark = pytest.mark.django_db

V1_DEV = {"dev-0": [1.0, 0.0], "dev-1": [1.0, 1.0], "dev-2": [0.0, 0.0]}
V1_HOLD = {"hold-0": [1.0], "hold-1": [0.0, 1.0]}
V2_DEV = {"dev-0": [1.0, 1.0], "dev-1": [1.0, 0.0], "dev-2": [0.75, 0.25]}
V2_HOLD = {"hold-0": [1.0, 1.0], "hold-1": [1.0, 0.0]}


@pytest.fixture
def lab(team: Team) -> Lab:
    lab = build_lab(team.project, team.owner)
    v1, v2, v3 = lab.versions
    earlier = timezone.now() - timedelta(hours=2)
    add_run(lab, v1, {key: [0.0, 0.0] for key in V1_DEV}, finished_at=earlier)  # replaced by the next run of v1
    add_run(lab, v1, V1_DEV, cost=0.02, judge_cost=0.005)
    add_run(lab, v1, V1_HOLD)
    add_run(lab, v2, {**V2_DEV, **V2_HOLD})  # one run on both splits
    add_run(lab, v2, {key: [0.0] for key in V2_DEV}, status=RunStatus.RUNNING)  # not completed: ignored
    add_run(lab, v3, {key: [1.0] for key in V2_DEV})  # never head: not accepted
    return lab


def _figure(chart: Any) -> dict[str, Any]:
    return json.loads(chart.figure_json)  # type: ignore[no-any-return]


def test_accepted_versions_score_with_intervals(lab: Lab) -> None:
    points = version_scores(lab.project, lab.suite_version, Role.OWNER)
    for split, expected in (("dev", [V1_DEV, V2_DEV]), ("holdout", [V1_HOLD, V2_HOLD])):
        assert [p.version for p in points[split]] == [1, 2]
        for point, scores in zip(points[split], expected, strict=True):
            assert point.score == score_estimate(scores)
    assert points["dev"][0].score.mean == pytest.approx(0.5)
    assert points["dev"][1].score.mean == pytest.approx(2 / 3)
    assert [p.run_number for p in points["dev"]] == [2, 4]  # the latest completed run of each version


def test_figure_carries_means_bands_and_links(lab: Lab) -> None:
    figure = _figure(score_chart(lab.project, lab.suite_version, Role.MAINTAINER))
    traces = {trace.get("name"): trace for trace in figure["data"]}
    dev = traces["dev"]
    assert dev["y"] == pytest.approx([0.5, 2 / 3])
    assert dev["customdata"] == ["/p/support-agent/runs/2/", "/p/support-agent/runs/4/"]
    band = traces["dev 95% interval"]
    assert band["y"] == pytest.approx([score_estimate(V1_DEV).low, score_estimate(V2_DEV).low])  # type: ignore[union-attr]
    assert traces["holdout"]["y"] == pytest.approx([score_estimate(V1_HOLD).mean, score_estimate(V2_HOLD).mean])  # type: ignore[union-attr]


@pytest.mark.parametrize("persona", ["reviewer", "viewer"])
def test_no_holdout_series_below_maintainer(team: Team, lab: Lab, persona: str) -> None:
    response = team.client_for(persona).get("/p/support-agent/charts/")
    assert response.status_code == 200
    names = {trace.get("name") for trace in _figure(response.context["score"])["data"]}
    assert "dev" in names
    assert not any(name and "holdout" in name for name in names)
    assert "holdout" not in response.context["score"].summary


def test_maintainer_page_has_holdout(team: Team, lab: Lab) -> None:
    response = team.client_for("maintainer").get("/p/support-agent/charts/")
    names = {trace.get("name") for trace in _figure(response.context["score"])["data"]}
    assert {"dev", "holdout"} <= names
    assert b'class="plotly-chart"' in response.content


def test_htmx_gets_the_figures_fragment(team: Team, lab: Lab) -> None:
    response = team.client_for("viewer").get("/p/support-agent/charts/", headers={"HX-Request": "true"})
    assert response.status_code == 200
    assert response.content.lstrip().startswith(b'<div id="figures"')


def test_other_projects_never_show(team: Team, lab: Lab) -> None:
    other = ProjectFactory(slug="other")
    MembershipFactory(project=other, user=team.owner, role=Role.OWNER)
    other_lab = build_lab(other, team.owner)
    add_run(other_lab, other_lab.versions[0], {key: [1.0] for key in V1_DEV}, cost=5.0)
    points = version_scores(lab.project, lab.suite_version, Role.OWNER)
    assert [p.run_number for p in points["dev"]] == [2, 4]
    assert version_scores(lab.project, other_lab.suite_version, Role.OWNER) == {"dev": [], "holdout": []}
    assert sum(e.runner + e.judge for e in spend_events(lab.project)) == pytest.approx(_runner_total(lab))


def test_every_kind_of_head_move_is_an_accepted_version(team: Team, lab: Lab) -> None:
    """Merges (here by policy, as the campaign loop does) and reverts record the head move
    in their one event, not in `harness.head`: the chart reads all of them, in order."""
    _, v2, v3 = lab.versions
    campaign = add_campaign(lab)
    proposal = Proposal.objects.create(
        project=lab.project, number=1, campaign=campaign, kind=ProposerKind.REFLECT, base_version=v2, candidate_version=v3
    )
    proposal_merge(actor=None, proposal=proposal)  # proposal.merge: v2 → v3
    proposal.refresh_from_db()
    v4 = proposal_revert(actor=team.owner, proposal=proposal, reason="worse")  # proposal.revert: v3 → v4
    v5 = version_revert(actor=team.owner, project=lab.project, target=v3, reason="better after all")  # harness.revert
    v6 = version_create(actor=team.owner, project=lab.project, files={"system.md": "six"}, message="by hand")

    assert [number for number, _ in accepted_versions(lab.project)] == [1, 2, 3, 4, 5, 6]
    assert (v4.number, v5.number, v6.number) == (4, 5, 6)
    # v3 became head by a merge: its completed dev run is on the chart now.
    points = version_scores(lab.project, lab.suite_version, Role.OWNER)
    assert [p.version for p in points["dev"]] == [1, 2, 3]


def test_a_log_from_before_one_event_per_decision_counts_each_move_once(team: Team) -> None:
    """Older logs wrote `harness.head` beside each merge and revert; the same move read
    from both is one accepted version, while going back to an older head is a move."""
    project = team.project

    def record(action: str, after: dict[str, Any]) -> None:
        audit_record(actor=team.owner, project_id=project.pk, action=action, object_type="t", object_id=1, after=after)

    record("harness.head", {"number": 1, "digest": "a"})
    record("harness.head", {"number": 2, "digest": "b"})
    record("proposal.merge", {"approvals": ["reviewer"], "approvals_needed": 1})  # old shape: no head in it
    record("harness.version.create", {"number": 3, "digest": "c"})  # a version, not a move
    record("harness.head", {"number": 3, "digest": "c"})
    record("proposal.revert", {"head": 3, "reason": "r"})  # the same move as the line before
    record("harness.head", {"number": 1, "digest": "a"})  # head back to v1 by hand
    record("proposal.merge", {"head": True})  # malformed: not a version number

    assert [number for number, _ in accepted_versions(project)] == [1, 2, 3, 1]


def _runner_total(lab: Lab) -> float:
    # Runs 1..6 of the fixture: samples x cost each.
    samples = [6, 6, 3, 10, 3, 3]
    costs = [0.01, 0.02, 0.01, 0.01, 0.01, 0.01]
    return sum(n * c for n, c in zip(samples, costs, strict=True))


def test_spend_splits_runner_proposer_judge(team: Team, lab: Lab) -> None:
    backend = BackendFactory(project=lab.project)
    v1 = lab.versions[0]
    campaign = Campaign.objects.create(
        project=lab.project,
        number=1,
        name="c",
        base_version=v1,
        parent_version=v1,
        suite_version=lab.suite_version,
        runner_backend=backend,
        budget_usd=Decimal(10),
        budget_tokens=1000,
        budget_wall_s=60,
    )
    for number, cost in ((1, 0.25), (2, 0.0), (3, 0.5)):
        Proposal.objects.create(
            project=lab.project,
            number=number,
            campaign=campaign,
            kind=ProposerKind.REFLECT,
            base_version=v1,
            proposer_cost_usd=cost,
        )
    events = spend_events(lab.project)
    judge = sum(e.judge for e in events)
    assert judge == pytest.approx(6 * 0.005)  # only run 2's results had a judge
    assert sum(e.runner for e in events) == pytest.approx(_runner_total(lab) - judge)
    assert sum(e.proposer for e in events) == pytest.approx(0.75)
    assert [e.label for e in events if e.proposer] == ["proposal #1", "proposal #3"]
    response = team.client_for("viewer").get("/p/support-agent/charts/")
    traces = {trace["name"]: trace for trace in _figure(response.context["spend"])["data"]}
    assert traces["proposer"]["y"][-1] == pytest.approx(0.75)
    assert traces["judge"]["y"][-1] == pytest.approx(0.03)
    assert traces["runner"]["y"][-1] == pytest.approx(_runner_total(lab) - 0.03)
    assert all(url.startswith("/p/support-agent/") for url in traces["runner"]["customdata"])


def test_queries_do_not_grow_with_runs_or_cases(team: Team) -> None:
    small = build_lab(team.project, team.owner, dev=2, holdout=1)
    add_run(small, small.versions[0], {"dev-0": [1.0], "hold-0": [0.0]})
    client = team.client_for("owner")
    with CaptureQueriesContext(connection) as few:
        assert client.get("/p/support-agent/charts/").status_code == 200
    many = {f"dev-{i % 2}": [1.0, 0.5] for i in range(2)} | {"hold-0": [1.0]}
    for version in small.versions:
        for _ in range(4):
            add_run(small, version, many, judge_cost=0.001)
    with CaptureQueriesContext(connection) as more:
        assert client.get("/p/support-agent/charts/").status_code == 200
    assert len(more) == len(few)
