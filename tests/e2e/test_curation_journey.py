"""Curation in a real browser: a reviewer opens a failing result, says "the target is
wrong" and opens a change request from the prefilled form; a maintainer approves and
applies it; the case page of the new suite version shows its history (from the change
request, with the target's diff), its runs and statistics, and its discussion.

Data is written directly (a suite imported the ordinary way, a run of pre-recorded
outputs scored as a worker would), no model is called. Screenshots: var/e2e/curation-*.png.
"""

from __future__ import annotations

import json
import re

import pytest
from playwright.sync_api import expect

from evolab.demo import demo_harness_files
from evolab.evals.actions import suite_create, suite_version_import
from evolab.evals.models import ChangeRequest, EvalCase, SuiteVersion
from evolab.harnesses.actions import version_create
from evolab.runs.models import CaseResult
from tests.conftest import Team
from tests.e2e.conftest import App
from tests.runs.scored_runs import scored_run

pytestmark = [pytest.mark.e2e, pytest.mark.service, pytest.mark.django_db(transaction=True)]

KEY = "refund-window"
OLD_TARGET = "14 days"
OUTPUT = "30 days from delivery"
REASON = "The policy changed in March: refunds are accepted for 30 days."


def test_a_failing_result_is_curated_into_a_new_suite_version(app: App, team: Team) -> None:
    harness = version_create(actor=team.owner, project=team.project, files=demo_harness_files(), message="demo")
    suite = suite_create(actor=team.owner, project=team.project, slug="support", name="Support")
    rows = [
        {"key": KEY, "input": "How long is the refund window?", "target": OLD_TARGET, "split": "dev", "tags": ["policy"]},
        {"key": "greeting", "input": "Say hello.", "target": "hello", "split": "dev", "tags": ["smalltalk"]},
    ]
    v1 = suite_version_import(
        actor=team.owner,
        suite=suite,
        source="\n".join(json.dumps(r) for r in rows).encode(),
        fmt="jsonl",
        default_grader={"type": "exact"},
        message="First import",
    )
    run = scored_run(team.project, harness, v1, {KEY: [0.0, 1.0], "greeting": [1.0, 1.0]}, outputs={KEY: OUTPUT})
    failing = CaseResult.objects.get(run=run, case__key=KEY, sample=0)

    # a. The reviewer opens the failing result and says the target is wrong.
    reviewer = app.login(team.reviewer)
    reviewer.goto(f"/p/{team.project.slug}/runs/{run.number}/results/{failing.pk}/")
    expect(reviewer.locator("h1")).to_contain_text(KEY)
    expect(reviewer.get_by_text("✗ failed")).to_be_visible()
    app.shot(reviewer, "curation-01-result")
    reviewer.get_by_role("link", name="The target is wrong").click()
    expect(reviewer.locator("h1")).to_contain_text("The target is wrong")
    target = reviewer.get_by_label("Target")
    expect(target).to_have_value(OUTPUT)  # prefilled with the output
    expect(reviewer.locator("#current-target")).to_have_text(OLD_TARGET)
    target.fill("30 days")
    reviewer.get_by_label("Reason").fill(REASON)
    app.shot(reviewer, "curation-02-form")
    reviewer.get_by_role("button", name="Open the change request").click()

    # b. The change request is in review, with the evidence in its description.
    expect(reviewer).to_have_url(re.compile(r"/suites/support/changes/1/$"))
    expect(reviewer.locator("#cr-status")).to_have_text("in review")
    expect(reviewer.locator("pre.prewrap").first).to_contain_text(REASON)
    expect(reviewer.locator("#source")).to_contain_text("action: target")
    app.shot(reviewer, "curation-03-change-request")

    # c. A maintainer approves it and applies it as a new version.
    maintainer = app.login(team.maintainer)
    maintainer.goto(f"/p/{team.project.slug}/suites/support/changes/1/")
    maintainer.get_by_label("approve", exact=True).check()
    maintainer.get_by_role("button", name="Vote").click()
    expect(maintainer.locator("#merge-blockers")).to_have_text("Approved: ready to apply.")
    maintainer.get_by_role("button", name="Apply as a new version").click()
    expect(maintainer.locator("#cr-status")).to_have_text("applied")
    app.shot(maintainer, "curation-04-applied")
    change_request = ChangeRequest.objects.get()
    v2 = SuiteVersion.objects.get(suite=suite, number=2)
    assert change_request.applied_version_id == v2.pk
    assert EvalCase.objects.get(version=v2, key=KEY).target == "30 days"

    # d. The case page of v2: its history names the change request and shows the diff;
    #    its runs panel (loaded by htmx) has the run on v1 and says the case is flaky.
    maintainer.goto(f"/p/{team.project.slug}/suites/support/v/2/cases/{KEY}/")
    history = maintainer.locator("#history")
    entry = history.locator('[data-version="2"]')
    expect(entry).to_contain_text("changed")
    expect(entry).to_contain_text("change request #1")
    expect(entry.locator("table.history-diff")).to_contain_text(OLD_TARGET)
    expect(entry.locator("table.history-diff")).to_contain_text("30 days")
    expect(history.locator('[data-version="1"]')).to_contain_text("added")
    runs_panel = maintainer.locator("#case-runs")
    expect(runs_panel.locator("#flaky-badge")).to_have_text("⚠ flaky")
    expect(runs_panel.locator("table.case-runs")).to_contain_text(f"Run {run.number}")
    app.shot(maintainer, "curation-05-case-history")

    # e. The reviewer comments on the case; the thread swaps in place.
    reviewer.goto(f"/p/{team.project.slug}/suites/support/v/2/cases/{KEY}/")
    reviewer.get_by_label("Comment").fill("Fixed by change request #1 <b>thanks</b>")
    reviewer.get_by_role("button", name="Comment", exact=True).click()
    expect(reviewer.locator("#case-comments")).to_contain_text("Fixed by change request #1 <b>thanks</b>")
    expect(reviewer.locator("#discussion")).to_contain_text("Comment added.")
    app.shot(reviewer, "curation-06-discussion")
