"""The whole journey on the native production stack, in Debian's Chromium.

PostgreSQL, Redis, uvicorn, two Celery worker processes, the beat scheduler and the
simulator run as the containers run them (see conftest.py); nothing here writes to the
database directly. The demo owner signs in, opens the demo project, turns auto-merge off
(so nothing but this journey moves head) and stops the seeded campaign, starts a run and
watches it fill in over the websocket without a reload, starts a campaign and queues a
change of their own to the critical `workflow.md`; two reviewers they add approve it and
the owner merges it; last, two runs are compared in a chart. Screenshots per step under
var/e2e/stack-*.png.
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable, Iterator

import pytest
from playwright.sync_api import Browser, Dialog, Page, expect

from evolab.core.stack_runner import PROXY_HEADERS, Stack
from evolab.demo import MISSING_GUIDANCE
from tests.stack.conftest import FAILED, screenshot_path

pytestmark = [pytest.mark.stack]

PROJECT = "/p/support-agent"
DEMO_USER, DEMO_PASSWORD = "demo", "evolab-demo"
REVIEWERS = ("stack-reviewer-a", "stack-reviewer-b")
REVIEWER_PASSWORD = "stack-journey-review"
# Waits for the stack's own work (a run, a campaign round) and for one page change.
RUN_TIMEOUT_MS = 90_000
ROUND_TIMEOUT_S = 150.0
STEP_TIMEOUT_MS = 15_000


class Journey:
    """The browser side: one context (cookies) per person, a screenshot per step, and
    every uncaught script error collected (one fails the test)."""

    def __init__(self, browser: Browser, stack: Stack) -> None:
        self.browser = browser
        self.stack = stack
        self.pages: list[Page] = []
        self.errors: list[str] = []

    def login(self, username: str, password: str) -> Page:
        # Production settings: the browser talks to the stack as if through a TLS proxy.
        context = self.browser.new_context(
            base_url=self.stack.web_url, viewport={"width": 1280, "height": 900}, extra_http_headers=PROXY_HEADERS
        )
        context.set_default_timeout(STEP_TIMEOUT_MS)
        page = context.new_page()
        page.on("pageerror", lambda error: self.errors.append(f"{username}: {error}"))
        # hx-confirm asks with window.confirm; a person would answer yes.
        page.on("dialog", lambda dialog: _accept(dialog))
        self.pages.append(page)
        page.goto("/accounts/login/")
        page.locator("input[name=username]").fill(username)
        page.locator("input[name=password]").fill(password)
        page.locator("button.primary").click()
        expect(page.locator("input[name=password]")).to_have_count(0)
        return page

    def shot(self, page: Page, step: str) -> None:
        page.screenshot(path=screenshot_path(step), full_page=True)

    def close(self, failed: bool) -> None:
        for index, page in enumerate(self.pages):
            if failed:
                page.screenshot(path=screenshot_path(f"failed-{index + 1}"), full_page=True)
            page.context.close()


def _accept(dialog: Dialog) -> None:
    dialog.accept()


@pytest.fixture
def journey(request: pytest.FixtureRequest, browser: Browser, stack: Stack) -> Iterator[Journey]:
    journey = Journey(browser, stack)
    yield journey
    # Each person's page as it was when a step failed: var/e2e/stack-failed-<n>.png.
    journey.close(failed=request.node.stash.get(FAILED, False))
    assert not journey.errors, f"script errors in the browser: {journey.errors}"


def poll(page: Page, ready: Callable[[], bool], what: str, timeout_s: float, stack: Stack) -> None:
    """Reload `page` until `ready()`; used only where the page is not the one under
    test for live updates (the campaign's round runs for a minute or two)."""
    deadline = time.monotonic() + timeout_s
    while not ready():
        stack.check_alive()
        if time.monotonic() > deadline:
            raise AssertionError(f"gave up after {timeout_s:g} s waiting for {what}")
        page.wait_for_timeout(2000)
        page.reload()


def create_reviewers(stack: Stack) -> None:
    """Two people with accounts (as an operator would make them); the owner adds them
    to the project in the browser."""
    code = (
        "from django.contrib.auth.models import User\n"
        f"for name in {REVIEWERS!r}:\n"
        f"    User.objects.create_user(name, f'{{name}}@example.org', {REVIEWER_PASSWORD!r})\n"
    )
    stack.manage("shell", "-c", code)


def progress_of(page: Page) -> tuple[int, int]:
    bar = page.locator("#progress progress")
    return int(float(bar.get_attribute("value") or 0)), int(float(bar.get_attribute("max") or 0))


def test_the_whole_journey_on_the_native_stack(journey: Journey, stack: Stack) -> None:
    started = time.monotonic()
    create_reviewers(stack)

    # 1. Sign in and open the demo project.
    owner = journey.login(DEMO_USER, DEMO_PASSWORD)
    journey.shot(owner, "01-signed-in")
    owner.goto(f"{PROJECT}/")
    expect(owner.locator("h1")).to_have_text("Support agent")
    journey.shot(owner, "02-project")

    # 2. Only this journey moves head: auto-merge off, and the seeded campaign stopped.
    owner.goto(f"{PROJECT}/policy/")
    owner.locator("input[name=allow_auto_merge]").uncheck()
    owner.get_by_role("button", name="Save as a new version").click()
    expect(owner.locator("body")).to_contain_text("Policy v2 saved")
    journey.shot(owner, "03-policy")
    owner.goto(f"{PROJECT}/campaigns/1/")
    owner.locator("#header").get_by_role("button", name="Stop").click()
    expect(owner.locator("#header .badge.status-stopped")).to_be_visible()
    journey.shot(owner, "04-seeded-campaign-stopped")

    # 3. Start a run and watch it fill in: the progress bar rises on the page as it was
    # loaded (a marker set on the window survives only if nothing reloads it).
    owner.goto(f"{PROJECT}/runs/new/")
    owner.locator("input[name=splits][value=train]").check()
    owner.locator("input[name=samples]").fill("2")
    owner.locator("input[name=seed]").fill("4242")
    owner.locator("input[name=max_concurrency]").fill("4")
    owner.locator("button[name=action][value=start]").click()
    expect(owner).to_have_url(re.compile(rf"{PROJECT}/runs/\d+/$"))
    owner.wait_for_load_state("load")
    run_number = int(owner.url.rstrip("/").rsplit("/", 1)[1])
    owner.evaluate("window.__stackJourney = 'no reload'")
    expect(owner.locator("[data-live-status]")).to_have_attribute("data-state", "live")
    seen: set[int] = set()
    deadline = time.monotonic() + RUN_TIMEOUT_MS / 1000
    while True:
        finished, total = progress_of(owner)
        seen.add(finished)
        if total and finished == total:
            break
        if 0 < finished < total and len(seen) == 2:
            journey.shot(owner, "05-run-filling-in")
        assert time.monotonic() < deadline, f"run {run_number} did not finish: {finished}/{total}"
        owner.wait_for_timeout(100)
    expect(owner.locator("#progress .badge.status-completed")).to_be_visible(timeout=RUN_TIMEOUT_MS)
    partial = sorted(value for value in seen if 0 < value < total)
    assert len(partial) >= 2, f"progress was never seen rising on the page: {sorted(seen)} of {total}"
    assert owner.evaluate("window.__stackJourney") == "no reload"
    expect(owner.locator("#results tr .mark").first).to_be_visible()
    journey.shot(owner, "06-run-completed")

    # 4. Start a campaign of one round from the browser.
    owner.goto(f"{PROJECT}/campaigns/new/")
    owner.locator("input[name=name]").fill("Stack journey")
    owner.locator("input[name=budget_rounds]").fill("1")
    owner.locator("input[name=candidates_per_round]").fill("1")
    owner.locator("input[name=samples]").fill("1")
    owner.locator("input[name=seed]").fill("7")
    owner.locator("button[name=action][value=start]").click()
    expect(owner).to_have_url(re.compile(rf"{PROJECT}/campaigns/\d+/$"))
    # The URL changes before the page's deferred scripts ran; htmx must be up before
    # the file is chosen below, or the change event finds no listener.
    owner.wait_for_load_state("load")
    campaign_url = owner.url
    expect(owner.locator("#header .badge.status-running")).to_be_visible()
    journey.shot(owner, "07-campaign-started")

    # 5. Queue a change of their own to workflow.md, a critical path: it needs review.
    human = owner.locator("#human")
    text = human.locator("textarea[name=text]")
    shown_first = text.input_value()
    # Choosing the file swaps the panel (htmx) with that file's text: write only after it.
    with owner.expect_response(lambda response: "panel=human" in response.url):
        human.locator("select[name=path]").select_option("workflow.md")
    expect(text).not_to_have_value(shown_first)
    expect(human.locator("select[name=path]")).to_have_value("workflow.md")
    text.fill(text.input_value().rstrip("\n") + "\n\n" + MISSING_GUIDANCE["shipping"])
    human.locator("textarea[name=hypothesis]").fill("Shipping tickets fail because the workflow never compares dates.")
    human.get_by_role("button", name="Queue for the next round").click()
    expect(owner.locator("body")).to_contain_text(re.compile(r"Proposal #\d+ queued"))
    proposal_link = owner.locator("#timeline a[href*='/proposals/']").first
    proposal_path = proposal_link.get_attribute("href")
    assert proposal_path, "the queued proposal is not listed on the campaign page"
    journey.shot(owner, "08-proposal-queued")

    # 6. The owner adds the two reviewers.
    owner.goto(f"{PROJECT}/settings/")
    for name in REVIEWERS:
        members = owner.locator("#members")
        add = owner.locator(f"form[action='{PROJECT}/settings/members/add/']")
        add.locator("input[name=username]").fill(name)
        add.locator("select[name=role]").select_option(label="reviewer")
        add.get_by_role("button", name="Add").click()
        expect(members).to_contain_text(name)
    journey.shot(owner, "09-reviewers-added")

    # 7. The round evaluates the proposal; the policy sends it to review.
    owner.goto(proposal_path)
    status = owner.locator("#header [data-status]")

    def classified() -> bool:
        return status.get_attribute("data-status") not in {"queued", "evaluating", "guarding"}

    poll(owner, classified, f"proposal {proposal_path} to be classified", ROUND_TIMEOUT_S, stack)
    expect(status).to_have_attribute("data-status", "waiting")
    expect(owner.locator("#merge-button")).to_be_disabled()
    expect(owner.locator("#merge-blockers")).to_contain_text("needs 2 approvals, has 0")
    journey.shot(owner, "10-proposal-needs-review")

    # 8. Both reviewers approve; the owner's page learns of it live and they merge.
    for index, name in enumerate(REVIEWERS):
        reviewer = journey.login(name, REVIEWER_PASSWORD)
        reviewer.goto(proposal_path)
        reviewer.locator('#vote-form input[name=value][value="2"]').check()
        reviewer.locator("#vote-form [type=submit]").click()
        expect(reviewer.locator("#votes")).to_contain_text(name)
        journey.shot(reviewer, f"11-approved-{index + 1}")
    merge = owner.locator("#merge-button")
    expect(owner.locator("#merge-blockers")).to_have_count(0)
    expect(merge).to_be_enabled()
    merge.click()
    expect(status).to_have_attribute("data-status", "merged")
    expect(owner.locator("#header")).to_contain_text(f"merged by {DEMO_USER}")
    journey.shot(owner, "12-merged")
    owner.goto(f"{PROJECT}/audit/")
    expect(owner.locator("td.mono", has_text=re.compile(r"^proposal\.merge$"))).to_have_count(1)
    journey.shot(owner, "13-audit")

    # 9. Compare the run started here with the demo's first run, in a chart.
    owner.goto(f"{PROJECT}/compare/")
    owner.locator("select[name=baseline]").select_option(value="1")
    owner.locator(f"input[name=runs][value='{run_number}']").check()
    owner.get_by_role("button", name="Compare").click()
    expect(owner).to_have_url(re.compile(r"baseline=1"))
    plot = owner.locator(".plotly-chart .main-svg").first
    expect(plot).to_be_visible()
    expect(owner.locator("section[aria-label='Paired deltas'] tbody tr").first).to_contain_text(f"{run_number}")
    journey.shot(owner, "14-compare")

    stack.check_alive()
    assert campaign_url
    print(f"journey took {time.monotonic() - started:.1f} s")
