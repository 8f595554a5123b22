"""Every surface of the runs that shows held-out case text to a maintainer or owner writes one
`holdout.viewed` audit event per page or response, listing the held-out keys it showed;
reviewers and viewers (who see sealed rows or none) leave no event."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from django.test import Client

from evolab.core.models import AuditEvent
from evolab.runs.models import Run
from tests.runs.conftest import Lab
from tests.runs.helpers import sealed_run

pytestmark = pytest.mark.django_db


def _held_result(run: Run) -> int:
    return run.results.get(case__key="hold-1").pk


def _open_result(run: Run) -> int:
    return run.results.get(case__key="open-1").pk


def _read(client: Client, url: str) -> int:
    """The status; the audit is written before a streamed body starts."""
    return client.get(url).status_code


# (surface, the URL of a view showing held-out text, the URL of the same surface showing
# only open cases, the audited `where`, the keys listed)
Surface = Callable[[str, Run], tuple[str, str]]
SURFACES: dict[str, tuple[Surface, str, list[str]]] = {
    "result page": (
        lambda slug, run: (
            f"/p/{slug}/runs/{run.number}/results/{_held_result(run)}/",
            f"/p/{slug}/runs/{run.number}/results/{_open_result(run)}/",
        ),
        "result page run {n}",
        ["hold-1"],
    ),
    "curation form": (
        lambda slug, run: (
            f"/p/{slug}/runs/{run.number}/results/{_held_result(run)}/curate/target/",
            f"/p/{slug}/runs/{run.number}/results/{_open_result(run)}/curate/target/",
        ),
        "curation form run {n}",
        ["hold-1"],
    ),
    "csv export": (
        lambda slug, run: (f"/p/{slug}/runs/{run.number}/export.csv", ""),
        "run {n} csv export",
        ["hold-1", "hold-2"],
    ),
    "json export": (
        lambda slug, run: (f"/p/{slug}/runs/{run.number}/export.json", ""),
        "run {n} json export",
        ["hold-1", "hold-2"],
    ),
    "results api": (
        lambda slug, run: (
            f"/api/v1/projects/{slug}/runs/{run.number}/results",
            f"/api/v1/projects/{slug}/runs/{run.number}/results?split=dev",
        ),
        "api run {n} results",
        ["hold-1", "hold-2"],
    ),
    "cases api": (
        lambda slug, run: (
            f"/api/v1/projects/{slug}/suites/sealed/cases",
            f"/api/v1/projects/{slug}/suites/sealed/cases?split=dev",
        ),
        "api cases v1",
        ["hold-1", "hold-2"],
    ),
}


@pytest.mark.parametrize("surface", sorted(SURFACES))
def test_holdout_views_on_run_surfaces_and_cases_api_are_audited(lab: Lab, surface: str) -> None:
    run = sealed_run(lab)
    urls, where, keys = SURFACES[surface]
    held_url, open_url = urls(lab.team.project.slug, run)
    maintainer = lab.team.client_for("maintainer")
    assert _read(maintainer, held_url) == 200
    (event,) = AuditEvent.objects.filter(action="holdout.viewed")
    assert event.actor == lab.team.maintainer and event.object_label == "sealed"
    assert event.after["where"] == where.format(n=run.number) and event.after["keys"] == keys
    if open_url:  # the same surface showing open cases only audits nothing
        assert _read(maintainer, open_url) == 200
    # Reviewers get sealed rows, a 403 or no held-out rows at all: nothing to audit.
    reviewer = lab.team.client_for("reviewer")
    assert _read(reviewer, held_url) in (200, 403)
    assert AuditEvent.objects.filter(action="holdout.viewed").count() == 1


def test_results_api_audits_only_the_page_it_returns(lab: Lab) -> None:
    run = sealed_run(lab)
    client = lab.team.client_for("owner")
    url = f"/api/v1/projects/{lab.team.project.slug}/runs/{run.number}/results"
    # By case key: hold-1, hold-2, open-1, open-2.
    assert [row["case"] for row in client.get(url + "?limit=1&offset=1").json()["items"]] == ["hold-2"]
    assert client.get(url + "?limit=2&offset=2").status_code == 200
    events = AuditEvent.objects.filter(action="holdout.viewed").order_by("pk")
    assert [event.after["keys"] for event in events] == [["hold-2"]]
