"""Run exports: every visible result with its numbers; holdout rows for maintainers only."""

from __future__ import annotations

import csv
import io
import json
from collections.abc import AsyncIterator

import pytest
from asgiref.sync import async_to_sync
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext

from evolab.runs.models import Run
from tests.charts.overview_fixture import Lab, add_run, build_lab
from tests.conftest import Team
from tests.factories import MembershipFactory, ProjectFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def run(team: Team) -> Run:
    lab: Lab = build_lab(team.project, team.owner)
    return add_run(lab, lab.versions[0], {"dev-0": [1.0, 0.0], "hold-0": [0.5]}, cost=0.25, errors=("dev-1",))


async def _collect(chunks: AsyncIterator[bytes]) -> list[bytes]:
    return [chunk async for chunk in chunks]


def _csv(client: Client, url: str) -> list[dict[str, str]]:
    response = client.get(url)
    assert response.status_code == 200
    assert response["Content-Type"].startswith("text/csv")
    assert 'filename="support-agent-run-' in response["Content-Disposition"]
    text = b"".join(async_to_sync(_collect)(response.streaming_content)).decode()  # type: ignore[attr-defined]
    return list(csv.DictReader(io.StringIO(text)))


def test_csv_has_every_result_for_a_maintainer(team: Team, run: Run) -> None:
    rows = _csv(team.client_for("maintainer"), f"/p/support-agent/runs/{run.number}/export.csv")
    assert [(r["case_key"], r["split"], r["sample"], r["status"], r["score"]) for r in rows] == [
        ("dev-0", "dev", "0", "done", "1.0"),
        ("dev-0", "dev", "1", "done", "0.0"),
        ("dev-1", "dev", "0", "error", ""),
        ("hold-0", "holdout", "0", "done", "0.5"),
    ]
    first = rows[0]
    assert (first["passed"], first["input_tokens"], first["cost_usd"], first["latency_s"], first["cached"]) == (
        "True",
        "100",
        "0.25",
        "1.5",
        "False",
    )
    # A formula-looking error is quoted so a spreadsheet shows it as text.
    assert rows[2]["error"] == "'=boom"


@pytest.mark.parametrize("persona", ["reviewer", "viewer"])
def test_no_holdout_rows_below_maintainer(team: Team, run: Run, persona: str) -> None:
    client = team.client_for(persona)
    rows = _csv(client, f"/p/support-agent/runs/{run.number}/export.csv")
    assert {r["split"] for r in rows} == {"dev"}
    payload = client.get(f"/p/support-agent/runs/{run.number}/export.json").json()
    assert {r["split"] for r in payload["results"]} == {"dev"}
    assert len(payload["results"]) == 3


def test_json_export(team: Team, run: Run) -> None:
    payload = team.client_for("owner").get(f"/p/support-agent/runs/{run.number}/export.json").json()
    assert payload["run"] == run.number
    assert payload["results"][0] == {
        "case_key": "dev-0",
        "split": "dev",
        "sample": 0,
        "status": "done",
        "score": 1.0,
        "passed": True,
        "input_tokens": 100,
        "output_tokens": 10,
        "reasoning_tokens": 0,
        "cost_usd": 0.25,
        "latency_s": 1.5,
        "cached": False,
        "error": "",
    }
    assert json.dumps(payload)  # plain JSON all through


def test_another_projects_run_is_not_found(team: Team, run: Run) -> None:
    other = ProjectFactory(slug="other")
    MembershipFactory(project=other, user=team.owner)
    assert team.client_for("owner").get(f"/p/other/runs/{run.number}/export.csv").status_code == 404


def test_export_queries_do_not_grow(team: Team) -> None:
    lab = build_lab(team.project, team.owner, dev=20)
    small = add_run(lab, lab.versions[0], {"dev-0": [1.0]})
    large = add_run(lab, lab.versions[0], {f"dev-{i}": [1.0, 0.0, 0.5] for i in range(20)})
    client = team.client_for("owner")
    counts = []
    for run in (small, large):
        with CaptureQueriesContext(connection) as queries:
            assert len(client.get(f"/p/support-agent/runs/{run.number}/export.json").json()["results"]) >= 1
        counts.append(len(queries))
    assert counts[0] == counts[1]
