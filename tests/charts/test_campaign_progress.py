"""The campaign progress chart: candidates, best-so-far, merged holdout, events."""

from __future__ import annotations

import json
from typing import Any

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from evolab.charts.progress import campaign_progress
from evolab.core.models import AuditEvent
from evolab.engine.statistics import score_estimate
from evolab.evolution.models import Campaign, Outcome, Proposal, ProposerKind, Round, RoundStatus
from evolab.projects.models import Role
from tests.charts.overview_fixture import Lab, add_campaign, add_run, build_lab
from tests.conftest import Team

pytestmark = pytest.mark.django_db

PARENT_1 = {"dev-0": [0.5], "dev-1": [0.0], "dev-2": [0.5]}  # 1/3
MERGED = {"dev-0": [1.0], "dev-1": [0.5], "dev-2": [0.5]}  # 2/3
APPROVED = {"dev-0": [1.0], "dev-1": [1.0], "dev-2": [0.5]}  # 5/6
REJECTED = {"dev-0": [0.0], "dev-1": [0.0], "dev-2": [0.5]}
WAITING = {"dev-0": [1.0, 0.0], "dev-1": [0.5, 0.5], "dev-2": [0.0, 0.0]}
GUARD = {"hold-0": [1.0, 0.0], "hold-1": [1.0, 1.0]}


def _proposal(campaign: Campaign, round_: Round, index: int, run: Any, **fields: Any) -> Proposal:
    number = Proposal.objects.filter(project=campaign.project).count() + 1
    return Proposal.objects.create(
        project=campaign.project,
        number=number,
        campaign=campaign,
        round=round_,
        index=index,
        kind=ProposerKind.REFLECT,
        base_version=campaign.base_version,
        candidate_run=run,
        **fields,
    )


@pytest.fixture
def campaign(team: Team) -> Campaign:
    lab: Lab = build_lab(team.project, team.owner)
    v1, v2, v3 = lab.versions
    campaign = add_campaign(lab, status_reason="plateau: 3 rounds without improvement")
    now = timezone.now()
    first = Round.objects.create(
        campaign=campaign, number=1, parent_version=v1, parent_run=add_run(lab, v1, PARENT_1), status=RoundStatus.DONE
    )
    _proposal(
        campaign,
        first,
        0,
        add_run(lab, v2, MERGED),
        outcome=Outcome.AUTO_MERGE,
        merged_at=now,
        guard_run=add_run(lab, v2, GUARD),
    )
    _proposal(campaign, first, 1, add_run(lab, v3, REJECTED), outcome=Outcome.AUTO_REJECT)
    AuditEvent.objects.create(
        project_id=lab.project.pk,
        actor_label="system",
        action="campaign.budget_warning",
        object_type="campaign",
        object_id=str(campaign.pk),
        after={"warnings": ["usd:50"]},
    )
    second = Round.objects.create(
        campaign=campaign, number=2, parent_version=v2, parent_run=add_run(lab, v2, MERGED), status=RoundStatus.DONE
    )
    _proposal(
        campaign,
        second,
        0,
        add_run(lab, v3, APPROVED),
        outcome=Outcome.NEEDS_REVIEW,
        merged_at=now,
        merged_by=team.maintainer,
        guard_run=add_run(lab, v3, GUARD),
    )
    _proposal(campaign, second, 1, add_run(lab, v3, WAITING), outcome=Outcome.NEEDS_REVIEW)
    _proposal(campaign, second, 2, add_run(lab, v3, REJECTED), outcome=Outcome.NEEDS_REVIEW, closed_at=now)
    return campaign


def _mean(scores: dict[str, list[float]]) -> float:
    estimate = score_estimate(scores)
    assert estimate is not None
    return estimate.mean


def test_candidates_states_and_best_so_far(campaign: Campaign) -> None:
    progress = campaign_progress(campaign, Role.OWNER)
    assert [(c.round, c.state) for c in progress.candidates] == [
        (1, "auto-merged"),
        (1, "rejected"),
        (2, "approved"),
        (2, "waiting"),
        (2, "rejected"),
    ]
    expected = [MERGED, REJECTED, APPROVED, WAITING, REJECTED]
    assert [c.score for c in progress.candidates] == pytest.approx([_mean(s) for s in expected])
    assert progress.parents == pytest.approx({1: _mean(PARENT_1), 2: _mean(MERGED)})
    assert progress.best == [(1, pytest.approx(2 / 3)), (2, pytest.approx(5 / 6))]
    held = [c.holdout for c in progress.candidates]
    assert held == [pytest.approx(_mean(GUARD)), None, pytest.approx(_mean(GUARD)), None, None]
    assert progress.warnings == [(1, "usd:50")]


@pytest.mark.parametrize("role", [Role.REVIEWER, Role.VIEWER])
def test_no_holdout_below_maintainer(campaign: Campaign, role: Role) -> None:
    assert all(c.holdout is None for c in campaign_progress(campaign, role).candidates)


def _figure(response: Any) -> dict[str, Any]:
    return json.loads(response.context["progress"].figure_json)  # type: ignore[no-any-return]


def test_page_and_panel(team: Team, campaign: Campaign) -> None:
    url = "/p/support-agent/campaigns/1/chart/"
    figure = _figure(team.client_for("maintainer").get(url))
    names = [trace["name"] for trace in figure["data"]]
    assert "holdout of merged versions" in names
    merged = next(t for t in figure["data"] if t["name"] == "auto-merged")
    assert merged["customdata"] == ["/p/support-agent/proposals/1/"]
    texts = [a["text"] for a in figure["layout"]["annotations"]]
    assert "budget usd:50" in texts and any("plateau" in t for t in texts)
    viewer = team.client_for("viewer").get(url, headers={"HX-Request": "true"})
    assert viewer.content.lstrip().startswith(b'<div id="figures"')
    assert not any("holdout" in trace["name"] for trace in _figure(viewer)["data"])
    page = team.client_for("viewer").get("/p/support-agent/campaigns/1/")
    assert b'hx-get="/p/support-agent/campaigns/1/chart/"' in page.content


def test_queries_do_not_grow_with_rounds(team: Team, campaign: Campaign) -> None:
    client = team.client_for("owner")
    url = "/p/support-agent/campaigns/1/chart/"
    with CaptureQueriesContext(connection) as few:
        client.get(url)
    last = Round.objects.get(campaign=campaign, number=2)
    for number in range(3, 7):
        Round.objects.create(
            campaign=campaign,
            number=number,
            parent_version=last.parent_version,
            parent_run=last.parent_run,
            status=RoundStatus.DONE,
        )
    with CaptureQueriesContext(connection) as more:
        client.get(url)
    assert len(more) == len(few)
