"""The Content-Security-Policy holds in a real browser: the main pages (dashboard,
project overview, a run, a proposal, the charts, the compare view, the campaign page) load, draw
their plotly charts and swap htmx panels without a single CSP violation or script error.

Chromium reports each violation on the console ("Refused to … because it violates the
following Content Security Policy directive"), so the console is the witness.
"""

from __future__ import annotations

import pytest
from playwright.sync_api import ConsoleMessage, expect

from evolab.evolution.benchmark import proposal_fixture
from tests.conftest import Team
from tests.e2e.conftest import App

pytestmark = [pytest.mark.e2e, pytest.mark.service, pytest.mark.django_db(transaction=True)]


def test_main_pages_run_under_the_csp(app: App, team: Team) -> None:
    fx = proposal_fixture(project=team.project, actor=team.owner, cases=8, samples=2, guard_cases=3)
    slug = team.project.slug
    violations: list[str] = []

    page = app.login(team.owner)

    def watch(message: ConsoleMessage) -> None:
        if "Content Security Policy" in message.text or "Content-Security-Policy" in message.text:
            violations.append(f"{page.url}: {message.text}")

    page.on("console", watch)
    response = page.goto(f"/p/{slug}/")
    assert response is not None and "script-src 'self'" in response.headers["content-security-policy"]

    pages = {
        "csp-dashboard": f"/p/{slug}/",
        "csp-projects": "/",
        "csp-run": f"/p/{slug}/runs/{fx.candidate_run.number}/",
        "csp-proposal": f"/p/{slug}/proposals/{fx.proposal.number}/",
        "csp-campaign": f"/p/{slug}/campaigns/{fx.campaign.number}/",
        "csp-charts": f"/p/{slug}/charts/",
        "csp-compare": f"/p/{slug}/compare/?runs={fx.parent_run.number}&runs={fx.candidate_run.number}",
        "csp-lineage": f"/p/{slug}/lineage/",
    }
    for step, path in pages.items():
        page.goto(path)
        page.wait_for_load_state("networkidle")
        app.shot(page, step)

    # plotly drew under the policy (its SVG is in the page), and htmx swaps a panel.
    page.goto(f"/p/{slug}/charts/")
    expect(page.locator(".js-plotly-plot .main-svg").first).to_be_visible()
    page.goto(f"/p/{slug}/proposals/{fx.proposal.number}/")
    page.locator("#diff").get_by_role("group", name="Diff layout").get_by_role("link", name="side by side").click()
    expect(page.locator("#diff table.diff.split").first).to_be_visible()
    page.wait_for_load_state("networkidle")

    assert not violations, "\n".join(violations)
