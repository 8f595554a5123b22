"""The case page's runs and statistics panel (served by the runs app): every run that
scored the case across suite versions, pass rate and variance, and the flaky flag with
its reason; constant queries; numbers only for a sealed holdout case."""

from __future__ import annotations

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from evolab.demo import demo_harness_files
from evolab.evals.models import EvalSuite
from evolab.harnesses.actions import version_create
from evolab.harnesses.models import HarnessVersion
from evolab.runs.case_selectors import case_runs
from tests.conftest import Team
from tests.evals.conftest import HOLDOUT_TARGET
from tests.evals.factories import make_version
from tests.runs.scored_runs import scored_run

PANEL = "/p/support-agent/suites/support/case-runs/{key}/"


@pytest.fixture
def harness(team: Team) -> HarnessVersion:
    return version_create(actor=team.owner, project=team.project, files=demo_harness_files(), message="demo")


def test_statistics_over_every_run_and_version(team: Team, suite: EvalSuite, harness: HarnessVersion) -> None:
    v1 = suite.versions.get(number=1)
    v2 = make_version(suite, [{"key": "refund-001", "input": "Can I get a refund?", "target": "yes", "split": "train"}])
    project = team.project
    scored_run(project, harness, v1, {"refund-001": [1, 0]}, splits=["train"])
    scored_run(project, harness, v1, {"refund-001": [1, 1]}, splits=["train"])
    scored_run(project, harness, v2, {"refund-001": [0, 0, 1]}, splits=["train"])
    data = case_runs(suite, "refund-001")
    assert data.stats.runs == 3 and data.stats.samples == 7
    assert data.stats.pass_rate == pytest.approx(4 / 7)
    assert data.stats.disagreeing_runs == 2 and data.stats.flaky  # 2 of 3 >= 25%
    assert data.runs_by_version == [(2, 1), (1, 2)]
    assert [entry.version_number for entry in case_runs(suite, "refund-001", version_number=1).runs] == [1, 1]


def test_the_panel_says_why_a_case_is_flaky(team: Team, suite: EvalSuite, harness: HarnessVersion) -> None:
    v1 = suite.versions.get(number=1)
    scored_run(team.project, harness, v1, {"refund-001": [1, 0]}, splits=["train"])
    scored_run(team.project, harness, v1, {"refund-001": [0, 0]}, splits=["train"])
    html = team.client_for("viewer").get(PANEL.format(key="refund-001"), HTTP_HX_REQUEST="true").content.decode()
    assert "⚠ flaky" in html
    assert "samples disagreed (some passed, some failed) in 1 of 2 runs" in html
    assert "samples disagree" in html  # the run's row is marked
    assert "<html" not in html  # the fragment alone, to htmx


def test_a_steady_case_is_not_flaky(team: Team, suite: EvalSuite, harness: HarnessVersion) -> None:
    v1 = suite.versions.get(number=1)
    for _ in range(3):
        scored_run(team.project, harness, v1, {"refund-001": [1, 1]}, splits=["train"])
    html = team.client_for("viewer").get(PANEL.format(key="refund-001")).content.decode()
    assert "not flaky" in html and "pass rate <strong>1.000</strong>" in html
    assert "<html" in html  # without htmx it is a page of its own


def test_the_threshold_is_a_setting(team: Team, suite: EvalSuite, harness: HarnessVersion, settings: object) -> None:
    v1 = suite.versions.get(number=1)
    scored_run(team.project, harness, v1, {"refund-001": [1, 0]}, splits=["train"])
    for _ in range(4):
        scored_run(team.project, harness, v1, {"refund-001": [1, 1]}, splits=["train"])
    assert not case_runs(suite, "refund-001").stats.flaky  # 1 of 5 = 20% < 25%; variance 0.05 < 0.1
    settings.EVOLAB_FLAKY_DISAGREE_FRACTION = 0.2  # type: ignore[attr-defined]
    assert case_runs(suite, "refund-001").stats.flaky


def test_unknown_case_is_404(team: Team, suite: EvalSuite) -> None:
    assert team.client_for("viewer").get(PANEL.format(key="nope")).status_code == 404


def test_a_holdout_case_shows_numbers_only(team: Team, suite: EvalSuite, harness: HarnessVersion) -> None:
    v1 = suite.versions.get(number=1)
    scored_run(team.project, harness, v1, {"hold-1": [1, 0]}, splits=["holdout"], outputs={"hold-1": HOLDOUT_TARGET})
    html = team.client_for("reviewer").get(PANEL.format(key="hold-1")).content.decode()
    assert "pass rate" in html
    assert "SECRET" not in html


def test_panel_queries_are_constant(team: Team, suite: EvalSuite, harness: HarnessVersion) -> None:
    v1 = suite.versions.get(number=1)
    client = team.client_for("viewer")
    url = PANEL.format(key="refund-001")
    scored_run(team.project, harness, v1, {"refund-001": [1, 0]}, splits=["train"])
    client.get(url)
    with CaptureQueriesContext(connection) as few:
        client.get(url, HTTP_HX_REQUEST="true")
    for _ in range(25):  # more than a page of runs
        scored_run(team.project, harness, v1, {"refund-001": [1, 1]}, splits=["train"])
    with CaptureQueriesContext(connection) as many:
        response = client.get(url, HTTP_HX_REQUEST="true")
    assert len(many) == len(few)
    assert "Page 1 of 2" in response.content.decode()
