"""A vote sent with an expired CSRF token does not fail silently: the page shows a banner
telling the person to reload, and nothing is recorded (the server half of this is in
tests/security/test_csrf.py)."""

from __future__ import annotations

import pytest
from playwright.sync_api import expect

from evolab.core.csrf import HTMX_MESSAGE
from evolab.evolution.models import Vote
from tests.conftest import Team
from tests.e2e.conftest import App
from tests.e2e.test_review_journey import proposal_path, waiting_proposal

pytestmark = [pytest.mark.e2e, pytest.mark.service, pytest.mark.django_db(transaction=True)]


def test_an_expired_token_on_an_htmx_vote_shows_a_reload_banner(app: App, team: Team) -> None:
    fx = waiting_proposal(team)
    page = app.login(team.reviewer)
    page.goto(proposal_path(fx))
    expect(page.locator("#vote-form")).to_be_visible()

    # The session's CSRF cookie goes away, as when the person logged in again elsewhere:
    # the token this page rendered no longer matches anything.
    page.context.clear_cookies(name="csrftoken")
    page.locator('#vote-form input[name=value][value="2"]').check()
    page.locator("#vote-form [type=submit]").click()

    banner = page.locator("#csrf-banner")
    expect(banner).to_be_visible()
    expect(banner).to_contain_text(HTMX_MESSAGE)
    expect(banner.get_by_role("button", name="Reload the page")).to_be_visible()
    app.shot(page, "csrf-banner")
    assert not Vote.objects.filter(proposal=fx.proposal).exists()
