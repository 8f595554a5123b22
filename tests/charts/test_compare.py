"""The compare page: numbers against what the engine computes from known scores, alignment
across suite versions, holdout hidden below maintainer, foreign runs, exports, queries."""

from __future__ import annotations

import csv
import io
import json
from typing import Any

import pytest
from django.core.cache import cache
from django.db import connection
from django.test.utils import CaptureQueriesContext

from evolab.charts.benchmark import compare_fixture, suite_with_cases, write_run
from evolab.charts.compare import MAX_RUNS
from evolab.charts.compare_stats import RESAMPLES, SEED
from evolab.engine.comparison import compare_paired
from evolab.engine.multiple_testing import holm_adjust
from evolab.engine.statistics import score_estimate
from evolab.evals.models import Split
from evolab.evolution.benchmark import BASE_FILES
from evolab.harnesses.actions import version_create
from evolab.runs.models import CaseResult, ResultStatus, Run
from tests.conftest import Team
from tests.factories import ProjectFactory

# Per case samples. Baseline (run 1) and runs 2, 3 on suite v1; run 4 on v2 (drops c, adds e).
BASELINE = {"a": [1.0, 0.0], "b": [0.0, 0.0], "c": [1.0, 1.0], "d": [0.5, 1.0], "h": [0.0, 0.0]}
BETTER = {"a": [1.0, 1.0], "b": [1.0, 0.0], "c": [1.0, 1.0], "d": [1.0, 1.0], "h": [1.0, 1.0]}
WORSE = {"a": [0.0, 0.0], "b": [0.0, 0.0], "c": [0.0, 1.0], "d": [0.5, 1.0], "h": [0.0, 1.0]}
OTHER_VERSION = {"a": [1.0, 1.0], "b": [0.0, 1.0], "d": [1.0, 1.0], "e": [1.0, 1.0], "h": [1.0, 1.0]}
TAGS = {"a": ["refunds"], "b": ["refunds"], "c": ["billing"], "d": ["billing"], "e": ["billing"]}


def _visible(scores: dict[str, list[float]], holdout: bool) -> dict[str, list[float]]:
    return {key: values for key, values in scores.items() if holdout or key != "h"}


@pytest.fixture(autouse=True)
def _fresh_cache() -> None:
    cache.clear()


@pytest.fixture
def runs(team: Team) -> list[Run]:
    def rows(keys: str) -> list[dict[str, Any]]:
        out: list[dict[str, Any]] = [{"key": k, "split": "dev", "tags": TAGS[k]} for k in keys]
        return [*out, {"key": "h", "split": "holdout", "tags": ["guard"]}]

    v1 = suite_with_cases(team.project, team.owner, rows("abcd"))  # type: ignore[arg-type]
    v2 = suite_with_cases(team.project, team.owner, rows("abde"))  # type: ignore[arg-type]
    harness = version_create(actor=team.owner, project=team.project, files=BASE_FILES, message="base")  # type: ignore[arg-type]
    return [
        write_run(team.project, 1, harness, v1, BASELINE),
        write_run(team.project, 2, harness, v1, BETTER),
        write_run(team.project, 3, harness, v1, WORSE),
        write_run(team.project, 4, harness, v2, OTHER_VERSION),
    ]


def _json(team: Team, persona: str, query: str) -> dict[str, Any]:
    response = team.client_for(persona).get(f"/p/{team.project.slug}/compare/?{query}&format=json")
    assert response.status_code == 200
    return response.json()  # type: ignore[no-any-return]


@pytest.mark.parametrize(("persona", "holdout"), [("maintainer", True), ("viewer", False)])
def test_table_matches_the_engine_on_known_scores(team: Team, runs: list[Run], persona: str, holdout: bool) -> None:
    data = _json(team, persona, "baseline=1&runs=2,3,4")
    assert data["holdout_included"] is holdout
    baseline = _visible(BASELINE, holdout)
    expected = [
        compare_paired(baseline, _visible(scores, holdout), seed=SEED, resamples=RESAMPLES)
        for scores in (BETTER, WORSE, OTHER_VERSION)
    ]
    holm = holm_adjust([c.p_value for c in expected if c])
    for row, want, p_holm in zip(data["rows"], expected, holm, strict=True):
        assert want is not None
        assert row["n"] == want.n
        assert row["delta"] == pytest.approx(want.delta)
        assert (row["low"], row["high"]) == (pytest.approx(want.low), pytest.approx(want.high))
        assert row["p_value"] == pytest.approx(want.p_value)
        assert row["p_holm"] == pytest.approx(p_holm)
        assert (row["wins"], row["losses"], row["ties"]) == (want.wins, want.losses, want.ties)
    # By hand: BETTER's case means minus the baseline's: a +.5, b +.5, c 0, d +.25 (h +1 if shown).
    assert data["rows"][0]["delta"] == pytest.approx((1.25 + 1.0) / 5 if holdout else 1.25 / 4)


def test_holm_against_known_values() -> None:
    # Sorted 0.01, 0.03, 0.04 -> 3 x 0.01, 2 x 0.03, max(0.06, 1 x 0.04): the running max holds.
    assert holm_adjust([0.01, 0.04, 0.03]) == pytest.approx([0.03, 0.06, 0.06])
    assert holm_adjust([0.5, 0.6]) == pytest.approx([1.0, 1.0])
    assert holm_adjust([0.02]) == pytest.approx([0.02])
    assert holm_adjust([]) == []
    with pytest.raises(ValueError):
        holm_adjust([float("nan")])


def test_one_run_has_no_holm_column(team: Team, runs: list[Run]) -> None:
    data = _json(team, "viewer", "baseline=1&runs=2")
    assert data["rows"][0]["p_holm"] is None
    body = team.client_for("viewer").get(f"/p/{team.project.slug}/compare/?baseline=1&runs=2").content.decode()
    assert "Holm p" not in body


def test_versions_align_by_key_and_list_unmatched(team: Team, runs: list[Run]) -> None:
    row = _json(team, "viewer", "baseline=1&runs=4")["rows"][0]
    assert (row["matched_cases"], row["only_in_baseline"], row["only_in_run"]) == (3, 1, 1)
    body = team.client_for("viewer").get(f"/p/{team.project.slug}/compare/?baseline=1&runs=4").content.decode()
    assert "aligned by key (v1 ↔ v2)" in body
    assert "2 unmatched: 1 only in baseline, 1 only in this run" in body
    assert "<code>c</code>" in body and "<code>e</code>" in body


def test_page_shows_tags_with_intervals_and_moves(team: Team, runs: list[Run]) -> None:
    response = team.client_for("viewer").get(f"/p/{team.project.slug}/compare/?baseline=1&runs=2,3&scatter=3")
    body = response.content.decode()
    assert response.status_code == 200
    refunds = score_estimate({key: BETTER[key] for key in ("a", "b")})
    assert refunds is not None
    assert f"run 2 {refunds.mean:.2f} [{refunds.low:.2f}, {refunds.high:.2f}]" in body
    assert "▼ Regressions (2)" in body and "▲ Improvements (0)" in body  # run 3: a, c down
    assert body.count('class="plotly-chart"') == 5  # tags, heatmap, scatter, latency, tokens


def test_only_cases_that_differ(team: Team, runs: list[Run]) -> None:
    client = team.client_for("viewer")
    body = client.get(f"/p/{team.project.slug}/compare/?baseline=1&runs=2&differ=1").content.decode()
    assert "3 of 4 cases differ" in body and "Show all cases" in body


def test_holdout_is_hidden_below_maintainer(team: Team, runs: list[Run]) -> None:
    url = f"/p/{team.project.slug}/compare/?baseline=1&runs=2"
    assert "guard" in team.client_for("maintainer").get(url).content.decode()
    viewer = team.client_for("viewer").get(url).content.decode()
    assert "guard" not in viewer and '"h"' not in viewer and "Held-out cases are left out" in viewer
    assert _json(team, "viewer", "baseline=1&runs=2")["rows"][0]["n"] == 4


def test_runs_of_another_project_are_404(team: Team, runs: list[Run]) -> None:
    other = ProjectFactory()
    foreign = compare_fixture(project=other, actor=team.owner, cases=3, runs=1)[0]  # type: ignore[arg-type]
    foreign.number = 9
    foreign.save(update_fields=["number"])
    client = team.client_for("owner")
    assert client.get(f"/p/{team.project.slug}/compare/?baseline=9&runs=2").status_code == 404
    assert client.get(f"/p/{team.project.slug}/compare/?baseline=1&runs=9").status_code == 404
    assert client.get(f"/p/{team.project.slug}/compare/?baseline=1&runs=9&format=csv").status_code == 404


def test_runs_of_another_suite_are_refused(team: Team, runs: list[Run]) -> None:
    compare_fixture(project=team.project, actor=team.owner, cases=3, runs=1)  # type: ignore[arg-type]
    response = team.client_for("viewer").get(f"/p/{team.project.slug}/compare/?baseline=1&runs=5")
    assert response.status_code == 400
    assert "another suite" in response.content.decode()


def test_csv_export(team: Team, runs: list[Run]) -> None:
    response = team.client_for("viewer").get(f"/p/{team.project.slug}/compare/?baseline=1&runs=2,3&format=csv")
    assert response.status_code == 200
    assert response["Content-Type"].startswith("text/csv")
    assert 'filename="support-agent-compare-run-1.csv"' in response["Content-Disposition"]
    rows = list(csv.DictReader(io.StringIO(response.content.decode())))
    data = _json(team, "viewer", "baseline=1&runs=2,3")
    assert [row["run"] for row in rows] == ["2", "3"]
    assert [float(row["delta"]) for row in rows] == pytest.approx([row["delta"] for row in data["rows"]])
    assert json.loads(json.dumps(data))["baseline"] == 1


def test_form_without_a_baseline(team: Team, runs: list[Run]) -> None:
    body = team.client_for("viewer").get(f"/p/{team.project.slug}/compare/").content.decode()
    assert 'name="baseline"' in body and 'name="runs"' in body


def test_query_count_does_not_grow_with_cases(team: Team, django_assert_num_queries: Any) -> None:
    """Cold (nothing cached: the cases and the samples are read) and warm (every run's
    numbers cached: neither is read), each the same for 10 and for 300 cases."""
    client = team.client_for("maintainer")
    cold: int | None = None
    for cases in (10, 300):
        made = compare_fixture(project=team.project, actor=team.owner, cases=cases, runs=3, holdout=2, seed=cases)  # type: ignore[arg-type]
        url = f"/p/{team.project.slug}/compare/?baseline={made[0].number}&runs={made[1].number},{made[2].number}"
        client.get(url)  # sessions and first-use queries out of the way
        cache.clear()
        if cold is None:
            with CaptureQueriesContext(connection) as captured:
                assert client.get(url).status_code == 200
            cold = len(captured)
        else:
            with django_assert_num_queries(cold):
                assert client.get(url).status_code == 200
        with django_assert_num_queries(cold - 2):
            assert client.get(url).status_code == 200


# --------------------------------------------- figures against the database, cell by cell


def _db_means(run: Run, holdout: bool) -> dict[str, float]:
    """Each scored case's mean over its samples, read from the CaseResult rows themselves."""
    rows = CaseResult.objects.filter(run=run, status=ResultStatus.DONE, score__isnull=False)
    if not holdout:
        rows = rows.exclude(case__split=Split.HOLDOUT)
    samples: dict[str, list[float]] = {}
    for key, score in rows.values_list("case__key", "score"):
        samples.setdefault(key, []).append(float(score))
    return {key: sum(values) / len(values) for key, values in samples.items()}


def _figure(team: Team, persona: str, query: str, name: str) -> dict[str, Any]:
    response = team.client_for(persona).get(f"/p/{team.project.slug}/compare/?{query}")
    assert response.status_code == 200
    chart = getattr(response.context["comparison"], name)
    assert chart is not None, f"no {name}"
    return json.loads(chart.figure_json)  # type: ignore[no-any-return]


@pytest.mark.parametrize(("persona", "holdout"), [("maintainer", True), ("viewer", False)])
def test_scatter_points_are_the_per_case_means_of_both_runs(
    team: Team, runs: list[Run], persona: str, holdout: bool
) -> None:
    figure = _figure(team, persona, "baseline=1&runs=2,3&scatter=3", "scatter_figure")
    points = figure["data"][1]
    baseline, run = _db_means(runs[0], holdout), _db_means(runs[2], holdout)
    expected: dict[tuple[float, float], list[str]] = {}
    for key in sorted(baseline.keys() & run.keys()):
        expected.setdefault((round(baseline[key], 4), round(run[key], 4)), []).append(key)
    drawn = {
        (x, y): text.split(": ", 1)[1].split(", ")
        for x, y, text in zip(points["x"], points["y"], points["text"], strict=True)
    }
    assert drawn == expected
    # By hand (BASELINE → WORSE): a .5 → 0, b 0 → 0, c 1 → .5, d .75 → .75, h 0 → .5 (holdout).
    hand = {(0.5, 0.0): ["a"], (0.0, 0.0): ["b"], (1.0, 0.5): ["c"], (0.75, 0.75): ["d"]}
    assert drawn == ({**hand, (0.0, 0.5): ["h"]} if holdout else hand)
    assert figure["layout"]["xaxis"]["title"]["text"] == "run 1 (baseline)"
    assert figure["layout"]["yaxis"]["title"]["text"] == "run 3"


@pytest.mark.parametrize(("persona", "holdout"), [("maintainer", True), ("viewer", False)])
def test_heatmap_is_the_full_case_by_run_matrix_of_means(
    team: Team, runs: list[Run], persona: str, holdout: bool
) -> None:
    figure = _figure(team, persona, "baseline=1&runs=2,3,4", "heatmap_figure")
    heatmap = figure["data"][0]
    assert heatmap["x"] == ["run 1", "run 2", "run 3", "run 4"]
    means = [_db_means(run, holdout) for run in runs]
    every_key = set().union(*means)
    assert sorted(heatmap["y"]) == sorted(every_key)  # every case, each once (c only v1, e only v2)
    assert len(heatmap["z"]) == len(heatmap["y"])
    for key, row in zip(heatmap["y"], heatmap["z"], strict=True):
        assert len(row) == len(runs)
        for cell, by_key in zip(row, means, strict=True):
            if key in by_key:
                assert cell == pytest.approx(by_key[key]), key
            else:
                assert cell is None, key  # a case the run did not have is an empty cell, not 0
    cell = {key: dict(zip(heatmap["x"], row, strict=True)) for key, row in zip(heatmap["y"], heatmap["z"], strict=True)}
    assert (cell["d"]["run 1"], cell["d"]["run 2"], cell["c"]["run 4"], cell["e"]["run 1"]) == (0.75, 1.0, None, None)


def test_more_than_the_maximum_number_of_runs_is_refused(team: Team, runs: list[Run]) -> None:
    harness, v1 = runs[0].harness_version, runs[0].suite_version
    for number in range(5, 5 + MAX_RUNS - 3):  # runs 5..9: with 1..4 there are MAX_RUNS + 1
        write_run(team.project, number, harness, v1, BETTER)
    client = team.client_for("viewer")
    url = f"/p/{team.project.slug}/compare/?baseline=1&runs="
    at_most = ",".join(str(n) for n in range(2, MAX_RUNS + 1))  # MAX_RUNS - 1 others: allowed
    assert client.get(url + at_most).status_code == 200
    too_many = ",".join(str(n) for n in range(2, MAX_RUNS + 2))
    for query in ("", "&format=json", "&format=csv"):
        response = client.get(url + too_many + query)
        assert response.status_code == 400, query
        assert f"At most {MAX_RUNS - 1} runs can be compared with a baseline." in response.content.decode()
    # Duplicates and the baseline itself do not count against the limit.
    assert client.get(url + at_most + ",2,1").status_code == 200
