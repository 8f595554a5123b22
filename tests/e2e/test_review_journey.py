"""A proposal's review in a real browser, from a reviewer's inbox to the maintainer's
merge and the audit log; and the transcript pair keeping injected markup inert.

Data is written directly (`proposal_fixture`: the runs and per-case results behind a
classified proposal), no model is called. Each person has a browser context of their
own; every htmx swap is awaited by expecting its new content.
"""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import Page, expect

from evolab.evolution.benchmark import ProposalFixture, proposal_fixture
from evolab.evolution.models import Comment, Proposal, Resolution
from evolab.evolution.policy import CRITICAL_REASON_CODES
from evolab.evolution.rebase import diff_hash
from evolab.evolution.review import approval_state
from evolab.harnesses.models import HarnessHead
from evolab.projects.models import Role
from tests.conftest import Team
from tests.e2e.conftest import App
from tests.evolution.review_helpers import member

pytestmark = [pytest.mark.e2e, pytest.mark.service, pytest.mark.django_db(transaction=True)]

BLOCKING = "Blocking: the refund skill must say that a refund needs the receipt."
XSS = '<img src=x onerror="window.__xss=1"><script>window.__xss=1</script>'


def waiting_proposal(team: Team, payload: str = "") -> ProposalFixture:
    """A proposal waiting for review whose evidence has wins and regressions. Two changes
    to what `proposal_fixture` writes: the diff hash the loop records (votes are bound to
    it), and no critical-path reason, so the default policy asks for one approval."""
    fx = proposal_fixture(project=team.project, actor=team.owner, cases=12, samples=2, guard_cases=3, payload=payload)
    proposal = fx.proposal
    proposal.diff_hash = diff_hash(fx.base.files, fx.candidate.files)
    proposal.reasons = [reason for reason in proposal.reasons if reason["code"] not in CRITICAL_REASON_CODES]
    proposal.save(update_fields=["diff_hash", "reasons"])
    assert approval_state(proposal).blockers == ("needs 1 approval, has 0",)
    return fx


def proposal_path(fx: ProposalFixture) -> str:
    return f"/p/{fx.project.slug}/proposals/{fx.proposal.number}/"


def test_a_proposal_is_reviewed_and_merged_in_the_browser(app: App, team: Team) -> None:
    fx = waiting_proposal(team)
    second_reviewer = member(team.project, "reviewer-two", Role.REVIEWER)
    path = proposal_path(fx)

    # a. The reviewer finds the proposal in their inbox.
    reviewer = app.login(team.reviewer)
    reviewer.goto("/inbox/")
    link = reviewer.locator(f'#inbox a[href="{path}"]')
    expect(link).to_be_visible()
    app.shot(reviewer, "01-inbox")
    link.click()
    expect(reviewer).to_have_url(re.compile(re.escape(path) + "$"))
    expect(reviewer.locator("h1")).to_contain_text(f"Proposal #{fx.proposal.number}")
    expect(reviewer.locator("#header [data-status]")).to_have_attribute("data-status", "waiting")
    app.shot(reviewer, "02-proposal")

    # b. Side by side, then unified again.
    diff_layout = reviewer.locator("#diff").get_by_role("group", name="Diff layout")
    diff_layout.get_by_role("link", name="side by side").click()
    expect(reviewer.locator("#diff table.diff.split").first).to_be_visible()
    expect(reviewer.locator("#diff table.diff.unified")).to_have_count(0)
    app.shot(reviewer, "03-diff-side-by-side")
    reviewer.locator("#diff").get_by_role("group", name="Diff layout").get_by_role("link", name="unified").click()
    expect(reviewer.locator("#diff table.diff.unified").first).to_be_visible()
    expect(reviewer.locator("#diff table.diff.split")).to_have_count(0)

    # c. Only the regressions, then one of them side by side.
    rows = reviewer.locator("#evidence tr[data-case-row]")
    expect(rows).to_have_count(12)
    expect(reviewer.locator("#evidence tr.result-win").first).to_be_visible()
    reviewer.locator("#evidence").get_by_label("regressions only").check()
    expect(reviewer).to_have_url(re.compile(r"regressions=1"))
    expect(reviewer.locator("#evidence tr[data-case-row]:not(.result-loss)")).to_have_count(0)
    losses = reviewer.locator("#evidence tr.result-loss")
    expect(losses.first).to_be_visible()
    assert 0 < losses.count() < 12
    app.shot(reviewer, "04-evidence-regressions")
    key = losses.first.locator("td").first.inner_text().strip()
    losses.first.get_by_role("link", name="compare transcripts").click()
    pair = reviewer.locator("#pair")
    expect(pair.locator("h2")).to_contain_text(f"Case {key}")
    for side in ("parent", "candidate"):
        transcript = pair.locator(f"article.side-{side}")
        expect(transcript).to_be_visible()
        expect(transcript).to_contain_text(f"Question for {key}.")
        expect(transcript.locator("h4", has_text="Final answer")).to_be_visible()
    app.shot(reviewer, "05-transcript-pair")

    # d. A blocking comment.
    reviewer.locator("#comment-text").fill(BLOCKING)
    reviewer.locator("#comment-blocking").check()
    reviewer.locator("#comment-form button[type=submit]").click()
    expect(reviewer.locator("#comments article.comment", has_text=BLOCKING)).to_be_visible()
    expect(reviewer.locator("#blocking-comments")).to_contain_text(BLOCKING)
    app.shot(reviewer, "06-blocking-comment")

    # e. The maintainer cannot merge yet, and is told why.
    maintainer = app.login(team.maintainer)
    maintainer.goto(path)
    expect(maintainer.locator("#merge-button")).to_be_disabled()
    expect(maintainer.locator("#merge-blockers")).to_contain_text("1 open blocking comment")
    expect(maintainer.locator("#merge-blockers")).to_contain_text("needs 1 approval, has 0")
    app.shot(maintainer, "07-merge-blocked")

    # f. Its author marks the comment fixed.
    open_row = reviewer.locator("#blocking-comments tr", has_text=BLOCKING)
    resolve = open_row.locator("form.resolve-form")
    resolve.locator("select[name=resolution]").select_option("fixed")
    resolve.locator("input[name=reason]").fill("the candidate's refund skill now asks for the receipt")
    resolve.locator("[type=submit]").click()
    expect(reviewer.locator("#blocking-comments form.resolve-form")).to_have_count(0)
    assert Comment.objects.get(proposal=fx.proposal).resolution == Resolution.FIXED
    app.shot(reviewer, "08-comment-resolved")

    # g. Another reviewer approves.
    approver = app.login(second_reviewer)
    approver.goto(path)
    approver.locator('#vote-form input[name=value][value="2"]').check()
    approver.locator("#vote-form [type=submit]").click()
    expect(approver.locator("#votes")).to_contain_text("reviewer-two")
    app.shot(approver, "09-approved")

    # h. The maintainer's page learns of it over its websocket (no reload); they merge,
    # and head is the candidate.
    expect(maintainer.locator("#merge-blockers")).to_have_count(0)
    merge = maintainer.locator("#merge-button")
    expect(merge).to_be_enabled()
    merge.click()
    expect(maintainer.locator("#header [data-status]")).to_have_attribute("data-status", "merged")
    expect(maintainer.locator("#header")).to_contain_text(f"merged by {team.maintainer.get_username()}")
    app.shot(maintainer, "10-merged")
    proposal = Proposal.objects.get(pk=fx.proposal.pk)
    assert proposal.merged_by_id == team.maintainer.pk
    assert HarnessHead.objects.get(project=team.project).version_id == fx.candidate.pk
    maintainer.goto(f"/p/{fx.project.slug}/harness/")
    expect(maintainer.locator(".page-head .badge.head")).to_contain_text(f"head v{fx.candidate.number}")
    app.shot(maintainer, "11-harness-head")

    # i. The audit log has every step.
    maintainer.goto(f"/p/{fx.project.slug}/audit/")
    steps = {
        "proposal.comment": team.reviewer,
        "proposal.comment_resolve": team.reviewer,
        "proposal.vote": second_reviewer,
        "proposal.merge": team.maintainer,
    }
    for action, actor in steps.items():
        cell = maintainer.locator("td.mono", has_text=re.compile(f"^{re.escape(action)}$"))
        row = maintainer.locator("table.table tbody tr", has=cell)
        expect(row).to_have_count(1)
        expect(row).to_contain_text(actor.get_username())
        expect(row).to_contain_text(f"proposal {fx.proposal.number}")
    app.shot(maintainer, "12-audit")


def assert_inert(page: Page) -> None:
    """No element came from the payload, and none of its code ran. The element check
    does not depend on timing: an injected <img> would run its onerror only once its
    request failed."""
    pair = page.locator("#pair")
    expect(pair.locator("img")).to_have_count(0)
    expect(pair.locator("script")).to_have_count(0)
    assert page.evaluate("window.__xss") is None


def test_injected_markup_in_a_transcript_pair_stays_text(app: App, team: Team) -> None:
    fx = waiting_proposal(team, payload=XSS)
    page = app.login(team.reviewer)

    # Rendered with the page...
    page.goto(proposal_path(fx) + "?case=dev-00002#pair")
    pair = page.locator("#pair")
    expect(pair.locator("article.side-candidate")).to_contain_text(XSS)
    assert_inert(page)
    app.shot(page, "xss-page")

    # ...and swapped in by htmx, which would run a <script> it is given; this case's key
    # carries the payload too.
    page.locator("#evidence tr[data-case-row]", has_text="dev-00001").get_by_role("link").click()
    expect(pair.locator("h2")).to_contain_text(f"dev-00001 {XSS}")
    expect(pair.locator("article.side-parent")).to_contain_text(XSS)
    assert_inert(page)
    app.shot(page, "xss-swap")


def test_the_keyboard_reads_cases_and_reaches_the_vote(app: App, team: Team) -> None:
    fx = waiting_proposal(team)
    page = app.login(team.reviewer)
    page.goto(proposal_path(fx))
    rows = page.locator("#evidence tr[data-case-row]")
    expect(rows.first).to_be_visible()

    page.keyboard.press("j")
    expect(rows.nth(0)).to_have_class(re.compile(r"\bselected\b"))
    page.keyboard.press("j")
    expect(rows.nth(1)).to_have_class(re.compile(r"\bselected\b"))
    page.keyboard.press("k")
    expect(rows.nth(0)).to_have_class(re.compile(r"\bselected\b"))
    key = rows.nth(0).locator("td").first.inner_text().split()[0]
    page.keyboard.press("Enter")  # the selected row's link has the focus
    expect(page.locator("#pair h2")).to_contain_text(key)

    reasoning = page.locator("#pair details.reasoning")  # collapsed by default
    expect(reasoning.first).not_to_have_attribute("open", "")
    page.locator("body").press("r")
    expect(reasoning.first).to_have_attribute("open", "")

    page.locator("body").press("?")
    expect(page.locator("#keys-help")).to_be_visible()
    page.locator("body").press("v")
    assert page.evaluate("document.activeElement.closest('#review-panel') !== null")
    app.shot(page, "keys")
