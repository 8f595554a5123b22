"""Cost against score: each run's cost and mean on the split, and the Pareto frontier."""

from __future__ import annotations

import json

import pytest

from evolab.charts.cost import RunPoint, pareto_frontier, run_points
from evolab.engine.statistics import score_estimate
from tests.charts.overview_fixture import Lab, add_run, build_lab
from tests.conftest import Team

pytestmark = pytest.mark.django_db

CHEAP_BAD = {"dev-0": [0.0, 0.0], "dev-1": [1.0, 0.0], "dev-2": [0.0, 0.0]}
CHEAP_GOOD = {"dev-0": [1.0, 1.0], "dev-1": [1.0, 0.0], "dev-2": [0.0, 0.0]}
DEAR_BEST = {"dev-0": [1.0, 1.0], "dev-1": [1.0, 1.0], "dev-2": [1.0, 0.0]}
DEAR_WORSE = {"dev-0": [1.0, 1.0], "dev-1": [0.0, 0.0], "dev-2": [0.0, 0.0]}


@pytest.fixture
def lab(team: Team) -> Lab:
    lab = build_lab(team.project, team.owner)
    v1, v2, _ = lab.versions
    add_run(lab, v1, CHEAP_BAD, cost=0.01)  # run 1: dominated by run 2
    add_run(lab, v1, CHEAP_GOOD | {"hold-0": [1.0]}, cost=0.01)  # run 2
    add_run(lab, v2, DEAR_BEST, cost=0.05)  # run 3
    add_run(lab, v2, DEAR_WORSE, cost=0.05)  # run 4: dominated by run 3
    return lab


def test_points_and_frontier(lab: Lab) -> None:
    points = run_points(lab.project, lab.suite_version, "dev", "per_case")
    means = [score_estimate(s).mean for s in (CHEAP_BAD, CHEAP_GOOD, DEAR_BEST, DEAR_WORSE)]  # type: ignore[union-attr]
    assert [p.score for p in points] == pytest.approx(means)
    assert [p.cost for p in points] == pytest.approx([0.02, 0.02, 0.1, 0.1])  # two samples per case
    assert [p.number for p in pareto_frontier(points)] == [2, 3]
    totals = run_points(lab.project, lab.suite_version, "dev", "total")
    assert [p.cost for p in totals] == pytest.approx([0.06, 0.06, 0.3, 0.3])  # the holdout sample is not counted


def test_frontier_keeps_ties_and_drops_dominated() -> None:
    points = [RunPoint(1, 1, 1.0, 0.5), RunPoint(2, 1, 1.0, 0.5), RunPoint(3, 1, 2.0, 0.5), RunPoint(4, 1, 0.5, 0.9)]
    assert [p.number for p in pareto_frontier(points)] == [4]
    assert [p.number for p in pareto_frontier(points[:3])] == [1, 2]


def test_page_filters_and_links(team: Team, lab: Lab) -> None:
    response = team.client_for("viewer").get(f"/p/support-agent/charts/cost/?suite={lab.suite_version.pk}&x=total")
    figure = json.loads(response.context["cost"].figure_json)
    frontier = next(t for t in figure["data"] if t["name"] == "Pareto frontier runs")
    assert frontier["customdata"] == ["/p/support-agent/runs/2/", "/p/support-agent/runs/3/"]
    assert frontier["x"] == pytest.approx([0.06, 0.3])
    # Holdout is not offered below maintainer: the split falls back to dev.
    viewer = team.client_for("viewer").get("/p/support-agent/charts/cost/?split=holdout")
    assert viewer.context["split"] == "dev"
    owner = team.client_for("owner").get("/p/support-agent/charts/cost/?split=holdout")
    assert [p["customdata"] for p in json.loads(owner.context["cost"].figure_json)["data"][:1]] == [
        ["/p/support-agent/runs/2/"]
    ]
