"""The compare view's cached numbers: box plots equal the quartiles of the database's
samples, a warm view shows what a cold one computed, and a run that finishes again is
read again."""

from __future__ import annotations

import json
import statistics
from datetime import timedelta
from typing import Any

import pytest
from django.core.cache import cache
from django.test import Client

from evolab.charts.compare_stats import RESAMPLES, SEED
from evolab.engine.comparison import compare_paired
from evolab.evals.models import Split
from evolab.runs.models import CaseResult, ResultStatus, Run
from tests.charts.test_compare import BASELINE, BETTER, _visible
from tests.charts.test_compare import runs as runs  # the fixture, re-exported here
from tests.conftest import Team

URL = "/p/support-agent/compare/?baseline=1&runs=2,3"


@pytest.fixture(autouse=True)
def _fresh_cache() -> None:
    cache.clear()


def _figures(client: Client, url: str = URL) -> dict[str, Any]:
    response = client.get(url)
    assert response.status_code == 200
    comparison = response.context["comparison"]
    names = ("tag_figure", "heatmap_figure", "scatter_figure", "latency_figure", "tokens_figure")
    return {name: json.loads(getattr(comparison, name).figure_json) for name in names}


def _five_numbers(values: list[float]) -> tuple[float, float, float, float, float]:
    """By hand: inclusive quartiles, whiskers at the farthest samples within 1.5 IQR."""
    q1, median, q3 = statistics.quantiles(sorted(values), n=4, method="inclusive")
    reach = 1.5 * (q3 - q1)
    return q1, median, q3, min(v for v in values if v >= q1 - reach), max(v for v in values if v <= q3 + reach)


@pytest.mark.parametrize(("persona", "holdout"), [("maintainer", True), ("viewer", False)])
def test_box_plots_are_the_quartiles_of_the_samples(team: Team, runs: list[Run], persona: str, holdout: bool) -> None:
    # An outlier beyond the whisker, in a held-out case when it may be shown.
    outlier = CaseResult.objects.filter(run=runs[1], case__key="h" if holdout else "a", sample=0)
    outlier.update(latency_s=40.0, input_tokens=90_000)
    figures = _figures(team.client_for(persona))
    for name, column in (("latency_figure", "latency_s"), ("tokens_figure", None)):
        boxes = figures[name]["data"]
        assert [box["name"] for box in boxes] == ["run 1", "run 2", "run 3"]
        for box, run in zip(boxes, runs, strict=False):
            rows = CaseResult.objects.filter(run=run, status=ResultStatus.DONE)
            if not holdout:
                rows = rows.exclude(case__split=Split.HOLDOUT)
            if column:
                values = [float(v) for v in rows.values_list(column, flat=True)]
            else:
                values = [float(i + o) for i, o in rows.values_list("input_tokens", "output_tokens")]
            drawn = tuple(box[field][0] for field in ("q1", "median", "q3", "lowerfence", "upperfence"))
            assert drawn == pytest.approx(_five_numbers(values))
        assert max(boxes[1]["upperfence"][0], boxes[0]["upperfence"][0]) < (40.0 if column else 90_000)


def test_a_warm_view_shows_what_the_cold_one_computed(team: Team, runs: list[Run]) -> None:
    client = team.client_for("maintainer")
    cold = _figures(client, URL + "&scatter=3")
    cold_table = client.get(URL + "&format=json").json()
    assert _figures(client, URL + "&scatter=3") == cold
    assert client.get(URL + "&format=json").json() == cold_table
    cache.clear()
    assert client.get(URL + "&format=json").json() == cold_table


def test_a_run_that_finishes_again_is_read_again(team: Team, runs: list[Run]) -> None:
    client = team.client_for("viewer")
    before = client.get(URL + "&format=json").json()["rows"][0]
    assert before["delta"] == pytest.approx(1.25 / 4)
    # Run 2 is resumed and finishes with case b scored again: a new finish time.
    CaseResult.objects.filter(run=runs[1], case__key="b").update(score=1.0)
    finished = runs[1].finished_at
    assert finished is not None
    Run.objects.filter(pk=runs[1].pk).update(finished_at=finished + timedelta(minutes=1))
    after = client.get(URL + "&format=json").json()["rows"][0]
    better = {**BETTER, "b": [1.0, 1.0]}
    want = compare_paired(_visible(BASELINE, False), _visible(better, False), seed=SEED, resamples=RESAMPLES)
    assert want is not None
    assert after["delta"] == pytest.approx(want.delta) == pytest.approx(1.75 / 4)
    assert (after["low"], after["high"], after["p_value"]) == (
        pytest.approx(want.low),
        pytest.approx(want.high),
        pytest.approx(want.p_value),
    )
    heatmap = _figures(client)["heatmap_figure"]["data"][0]
    assert heatmap["z"][heatmap["y"].index("b")][1] == 1.0  # run 2's mean of b, now
