"""The notifications page: mine only, unread first; marking one or all read; the badge."""

from __future__ import annotations

from typing import Any

import pytest

from evolab.evolution.models import Notification, NotificationKind, Proposal
from evolab.evolution.notifications import notify
from tests.evolution.conftest import Evo
from tests.evolution.helpers import add_rounds

URL = "/notifications/"
READ = "/notifications/read/"


@pytest.fixture
def proposal(evo: Evo) -> Proposal:
    add_rounds(evo.start(), 1)
    return Proposal.objects.order_by("number").first()  # type: ignore[return-value]


def _notify(evo: Evo, persona: str, text: str, proposal: Proposal | None = None) -> Notification:
    return notify(
        user=getattr(evo.team, persona),
        project=evo.team.project,
        kind=NotificationKind.REVIEW_REQUEST,
        text=text,
        proposal=proposal,
    )


@pytest.mark.django_db
class TestPage:
    def test_it_lists_mine_unread_first(self, evo: Evo, proposal: Proposal) -> None:
        first = _notify(evo, "reviewer", "first: review #1", proposal)
        _notify(evo, "reviewer", "second: review #1", proposal)
        _notify(evo, "maintainer", "not yours", proposal)
        Notification.objects.filter(pk=first.pk).update(read_at="2025-01-01T00:00:00Z")
        _notify(evo, "reviewer", "third <b>no link</b>")
        response = evo.team.client_for("reviewer").get(URL)
        assert response.status_code == 200
        assert [n.text for n in response.context["page"]] == [
            "third <b>no link</b>",
            "second: review #1",
            "first: review #1",
        ]
        body = response.content.decode()
        assert "not yours" not in body and "third &lt;b&gt;no link&lt;/b&gt;" in body
        assert f'href="/p/support-agent/proposals/{proposal.number}/"' in body  # the read one links plainly
        assert "Mark all 2 read" in body

    def test_it_teaches_when_empty(self, team: Any) -> None:
        body = team.client_for("viewer").get(URL).content.decode()
        assert "No notifications yet" in body and "Mark all" not in body

    @pytest.mark.parametrize("size", [2, 20])
    def test_the_query_count_does_not_grow(
        self, evo: Evo, proposal: Proposal, size: int, django_assert_num_queries: Any
    ) -> None:
        for i in range(size):
            _notify(evo, "reviewer", f"note {i}", proposal if i % 2 else None)
        client = evo.team.client_for("reviewer")
        # session, user, the two nav counts, count, the page with projects and proposals
        with django_assert_num_queries(6):
            assert client.get(URL).status_code == 200


@pytest.mark.django_db
class TestMarkRead:
    def test_one(self, evo: Evo, proposal: Proposal) -> None:
        one, other = _notify(evo, "reviewer", "a", proposal), _notify(evo, "reviewer", "b", proposal)
        response = evo.team.client_for("reviewer").post(READ, {"id": one.pk})
        assert response.status_code == 302 and response["Location"] == URL
        one.refresh_from_db(), other.refresh_from_db()
        assert one.read_at is not None and other.read_at is None

    def test_open_marks_read_and_goes_to_the_proposal(self, evo: Evo, proposal: Proposal) -> None:
        one = _notify(evo, "reviewer", "a", proposal)
        response = evo.team.client_for("reviewer").post(READ, {"id": one.pk, "open": "1"})
        assert response["Location"] == f"/p/support-agent/proposals/{proposal.number}/"
        one.refresh_from_db()
        assert one.read_at is not None

    def test_all(self, evo: Evo, proposal: Proposal) -> None:
        for text in ("a", "b", "c"):
            _notify(evo, "reviewer", text, proposal)
        theirs = _notify(evo, "maintainer", "d", proposal)
        evo.team.client_for("reviewer").post(READ, {"all": "1"})
        assert not Notification.objects.filter(user=evo.team.reviewer, read_at__isnull=True).exists()
        theirs.refresh_from_db()
        assert theirs.read_at is None

    def test_someone_elses_stays_unread(self, evo: Evo, proposal: Proposal) -> None:
        theirs = _notify(evo, "maintainer", "d", proposal)
        response = evo.team.client_for("reviewer").post(READ, {"id": theirs.pk, "open": "1"})
        assert response["Location"] == URL  # not even where it points
        theirs.refresh_from_db()
        assert theirs.read_at is None

    def test_it_handles_a_bad_id(self, team: Any) -> None:
        assert team.client_for("reviewer").post(READ, {"id": "x"}).status_code == 302

    def test_it_needs_a_post_and_a_login(self, team: Any) -> None:
        assert team.client_for("reviewer").get(READ).status_code == 405
        assert team.client_for("anonymous").post(READ, {"all": "1"}).status_code == 302
        assert team.client_for("anonymous").get(URL)["Location"].startswith("/accounts/login/")


@pytest.mark.django_db
class TestBadge:
    def test_the_nav_shows_my_unread_count(self, evo: Evo, proposal: Proposal) -> None:
        for text in ("a", "b", "c"):
            _notify(evo, "reviewer", text, proposal)
        _notify(evo, "viewer", "x", proposal)
        body = evo.team.client_for("reviewer").get("/p/").content.decode()
        assert 'aria-label="Notifications, 3 unread"' in body
        evo.team.client_for("reviewer").post(READ, {"all": "1"})
        body = evo.team.client_for("reviewer").get("/p/").content.decode()
        assert "unread" not in body and ">Notifications<" in body
