"""The charts in a real browser: the project overview, a campaign page (its progress
chart arrives by htmx after the page loads) and a compare view of three runs. On each
page every figure container must be drawn by plotly.js (its SVG is there), and nothing
may be logged as an error on the console or thrown as an uncaught script error.

Data is written directly (`overview_fixture` for versions and runs, `compare_fixture`
for the compared runs), no model is called. Screenshots: var/e2e/charts-*.png.
"""

from __future__ import annotations

import pytest
from django.utils import timezone
from playwright.sync_api import ConsoleMessage, Page, expect

from evolab.charts.benchmark import compare_fixture
from evolab.evolution.models import Campaign, Outcome, Proposal, ProposerKind, Round, RoundStatus
from evolab.runs.models import Run
from tests.charts.overview_fixture import Lab, add_campaign, add_run, build_lab
from tests.conftest import Team
from tests.e2e.conftest import App

pytestmark = [pytest.mark.e2e, pytest.mark.service, pytest.mark.django_db(transaction=True)]

DEV = ("dev-0", "dev-1", "dev-2")


def _scores(*values: float) -> dict[str, list[float]]:
    return {key: [value, value] for key, value in zip(DEV, values, strict=True)}


def _campaign(lab: Lab) -> Campaign:
    """Two rounds: an auto-merged candidate with its holdout guard run, a rejected one,
    and one waiting for review."""
    v1, v2, v3 = lab.versions
    campaign = add_campaign(lab)
    rounds = [
        Round.objects.create(
            campaign=campaign,
            number=number,
            parent_version=parent,
            parent_run=add_run(lab, parent, scores),
            status=RoundStatus.DONE,
        )
        for number, parent, scores in ((1, v1, _scores(0.5, 0.0, 0.5)), (2, v2, _scores(1.0, 0.5, 0.5)))
    ]
    merged = {
        "outcome": Outcome.AUTO_MERGE,
        "merged_at": timezone.now(),
        "guard_run": add_run(lab, v2, {"hold-0": [1.0, 0.0], "hold-1": [1.0, 1.0]}),
    }
    candidates: list[tuple[Round, Run, dict[str, object]]] = [
        (rounds[0], add_run(lab, v2, _scores(1.0, 0.5, 0.5)), merged),
        (rounds[0], add_run(lab, v3, _scores(0.0, 0.0, 0.5)), {"outcome": Outcome.AUTO_REJECT}),
        (rounds[1], add_run(lab, v3, _scores(1.0, 1.0, 0.5)), {"outcome": Outcome.NEEDS_REVIEW}),
    ]
    for number, (round_, run, fields) in enumerate(candidates, start=1):
        Proposal.objects.create(
            project=lab.project,
            number=number,
            campaign=campaign,
            round=round_,
            index=number,
            kind=ProposerKind.REFLECT,
            base_version=round_.parent_version,
            candidate_run=run,
            **fields,  # type: ignore[arg-type]
        )
    return campaign


def _expect_drawn(page: Page, figures: int) -> None:
    """Exactly `figures` chart containers, each drawn by plotly (SVG inside it)."""
    containers = page.locator(".plotly-chart")
    expect(containers).to_have_count(figures)
    for index in range(figures):
        expect(containers.nth(index).locator(".main-svg").first).to_be_attached()
    drawn = page.locator(".plotly-chart.js-plotly-plot")
    expect(drawn).to_have_count(figures)


def test_charts_are_drawn_without_errors(app: App, team: Team) -> None:
    lab = build_lab(team.project, team.owner)
    v1, v2, _ = lab.versions
    add_run(lab, v1, {**_scores(1.0, 0.5, 0.0), "hold-0": [1.0], "hold-1": [0.0, 1.0]}, cost=0.02, judge_cost=0.005)
    add_run(lab, v2, {**_scores(1.0, 1.0, 0.5), "hold-0": [1.0, 1.0], "hold-1": [1.0, 0.0]})
    campaign = _campaign(lab)
    compared = compare_fixture(project=team.project, actor=team.owner, cases=60, runs=3, holdout=6)  # type: ignore[arg-type]
    slug = team.project.slug

    page = app.login(team.maintainer)
    console: list[str] = []

    def watch(message: ConsoleMessage) -> None:
        if message.type == "error":
            console.append(f"{page.url}: {message.text}")

    page.on("console", watch)

    # Overview: score over accepted versions (dev and holdout, with bands) and spend.
    page.goto(f"/p/{slug}/charts/?suite={lab.suite_version.pk}")
    _expect_drawn(page, 2)
    expect(page.locator(".plotly-chart .legendtext", has_text="holdout").first).to_be_attached()
    page.wait_for_load_state("networkidle")
    app.shot(page, "charts-overview")

    # The campaign page asks for its progress chart once it has loaded (htmx).
    page.goto(f"/p/{slug}/campaigns/{campaign.number}/")
    expect(page.locator("#progress-chart")).to_contain_text("best accepted score so far")
    _expect_drawn(page, 1)
    expect(page.locator("#progress-chart .legendtext", has_text="auto-merged")).to_be_attached()
    page.wait_for_load_state("networkidle")
    app.shot(page, "charts-campaign")

    # Compare: a baseline and two runs; per tag, heatmap, scatter, latency, tokens.
    baseline, *others = (run.number for run in compared)
    page.goto(f"/p/{slug}/compare/?baseline={baseline}&runs={others[0]},{others[1]}")
    expect(page.locator("table.table tbody tr th[scope=row]")).to_have_count(2)
    expect(page.get_by_role("columnheader", name="Holm p")).to_be_visible()
    _expect_drawn(page, 5)
    page.wait_for_load_state("networkidle")
    app.shot(page, "charts-compare")

    assert not console, "\n".join(console)
