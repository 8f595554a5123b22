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
from evolab.charts.compare_stats import RESAMPLES, SEED
from evolab.engine.comparison import compare_paired
from evolab.engine.multiple_testing import holm_adjust
from evolab.engine.statistics import score_estimate
from evolab.evolution.benchmark import BASE_FILES
from evolab.harnesses.actions import version_create
from evolab.runs.models import Run
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
