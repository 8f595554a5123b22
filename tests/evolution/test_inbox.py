"""The review inbox (all my projects, one project, one campaign) and the nav counts.

Every member may read a project's inbox (a viewer sees the list, read-only: the inbox
itself has no actions); only reviewers and above are ever assigned a proposal."""

from __future__ import annotations

from typing import Any

import pytest
from django.contrib.auth.models import AnonymousUser
from django.test import RequestFactory
from django.utils import timezone

from evolab.evolution.context_processors import nav_counts
from evolab.evolution.models import Campaign, Outcome, Proposal
from tests.conftest import Team
from tests.evolution.conftest import Evo
from tests.evolution.helpers import add_rounds

INBOX = "/inbox/"


def _project_inbox(evo: Evo) -> str:
    return f"/p/{evo.team.project.slug}/inbox/"


def _waiting(campaign: Campaign, rounds: int) -> list[Proposal]:
    """`rounds` proposals waiting for review (and as many auto-rejected beside them)."""
    add_rounds(campaign, rounds)
    return list(Proposal.objects.filter(campaign=campaign, outcome=Outcome.NEEDS_REVIEW).order_by("number"))


def _numbers(response: Any) -> list[int]:
    assert response.status_code == 200
    return [row.proposal.number for row in response.context["rows"]]


@pytest.fixture
def three(evo: Evo) -> list[Proposal]:
    """#1 assigned to the reviewer, #3 to nobody, #5 to the maintainer; a merged and a
    closed proposal that no longer wait."""
    campaign = evo.start()
    first, third, fifth, merged, closed = _waiting(campaign, 5)
    Proposal.objects.filter(pk=first.pk).update(assignee=evo.team.reviewer)
    Proposal.objects.filter(pk=fifth.pk).update(assignee=evo.team.maintainer)
    Proposal.objects.filter(pk=merged.pk).update(assignee=evo.team.reviewer, merged_at=timezone.now())
    Proposal.objects.filter(pk=closed.pk).update(assignee=evo.team.reviewer, closed_at=timezone.now())
    return [first, third, fifth]


@pytest.mark.django_db
class TestContent:
    def test_mine_first_then_newest(self, evo: Evo, three: list[Proposal]) -> None:
        first, third, fifth = three
        response = evo.team.client_for("reviewer").get(_project_inbox(evo))
        assert _numbers(response) == [first.number, fifth.number, third.number]
        body = response.content.decode()
        assert body.index("Assigned to you") < body.index(f"#{first.number}<") < body.index("Waiting for others")
        assert body.index("Waiting for others") < body.index(f"#{fifth.number}<")

    def test_a_row_says_what_a_reviewer_needs(self, evo: Evo, three: list[Proposal]) -> None:
        first = three[0]
        body = evo.team.client_for("reviewer").get(_project_inbox(evo)).content.decode()
        assert f'href="/p/support-agent/proposals/{first.number}/"' in body
        assert f"try &lt;b&gt;{first.number}&lt;/b&gt;" in body  # the hypothesis stays inert
        assert f"#{first.campaign.number} {first.campaign.name}" in body and "round 1" in body
        assert "The policy sends every merge to a person." in body
        assert "▲ +8.0 pts [+5.0, +11.0]" in body and "delta-up" in body
        assert ">reviewer<" in body and ">maintainer<" in body and "nobody" in body

    def test_the_holdout_reason_keeps_its_numbers_for_maintainers_only(self, evo: Evo, three: list[Proposal]) -> None:
        reason = {"code": "holdout_diverged", "text": "holdout fell by 4.1 points"}
        Proposal.objects.filter(pk=three[0].pk).update(reasons=[reason])
        assert b"holdout fell by 4.1" in evo.team.client_for("maintainer").get(_project_inbox(evo)).content
        for persona in ("reviewer", "viewer"):
            body = evo.team.client_for(persona).get(INBOX).content
            assert b"holdout fell by 4.1" not in body and b"the held-out guard did not" in body

    def test_a_viewer_reads_the_list(self, evo: Evo, three: list[Proposal]) -> None:
        response = evo.team.client_for("viewer").get(_project_inbox(evo))
        assert len(_numbers(response)) == 3 and b"Assigned to you" not in response.content

    def test_it_teaches_when_empty(self, evo: Evo) -> None:
        evo.start()
        body = evo.team.client_for("reviewer").get(_project_inbox(evo)).content.decode()
        assert "Nothing waits for review" in body and "merge policy sends them to a person" in body


@pytest.mark.django_db
class TestScopes:
    def test_all_my_projects(self, evo: Evo, three: list[Proposal]) -> None:
        response = evo.team.client_for("reviewer").get(INBOX)
        assert _numbers(response) == [three[0].number, three[2].number, three[1].number]
        assert b'href="/p/support-agent/inbox/"' in response.content  # the project column

    def test_an_outsider_sees_nothing(self, evo: Evo, three: list[Proposal]) -> None:
        response = evo.team.client_for("outsider").get(INBOX)
        assert _numbers(response) == [] and b"try &lt;b&gt;" not in response.content
        assert evo.team.client_for("outsider").get(_project_inbox(evo)).status_code == 404

    def test_one_campaign(self, evo: Evo, three: list[Proposal]) -> None:
        other = evo.start(name="second")
        (later,) = _waiting(other, 1)
        client = evo.team.client_for("reviewer")
        assert len(_numbers(client.get(_project_inbox(evo)))) == 4
        response = client.get(_project_inbox(evo), {"campaign": other.number})
        assert _numbers(response) == [later.number]
        assert f'<option value="{other.number}" selected>'.encode() in response.content

    @pytest.mark.parametrize("value", ["99", "x"])
    def test_an_unknown_campaign_is_not_found(self, evo: Evo, value: str) -> None:
        evo.start()
        assert evo.team.client_for("reviewer").get(_project_inbox(evo), {"campaign": value}).status_code == 404


@pytest.mark.django_db
class TestLive:
    def test_the_project_inbox_follows_proposal_status(self, evo: Evo, three: list[Proposal]) -> None:
        client = evo.team.client_for("reviewer")
        page = client.get(_project_inbox(evo)).content.decode()
        assert 'data-live-url="/ws/p/support-agent/events/"' in page
        assert 'hx-trigger="evolab:proposal.status from:body"' in page
        fragment = client.get(
            _project_inbox(evo), {"campaign": three[0].campaign.number}, headers={"HX-Request": "true"}
        )
        text = fragment.content.decode().lstrip()
        assert text.startswith('<section id="inbox"') and "<nav" not in text
        assert f'hx-get="/p/support-agent/inbox/?campaign={three[0].campaign.number}"' in text

    def test_the_all_projects_inbox_polls(self, evo: Evo, three: list[Proposal]) -> None:
        page = evo.team.client_for("reviewer").get(INBOX).content.decode()
        assert 'hx-trigger="every 15s"' in page and "data-live-url" not in page


@pytest.mark.django_db
@pytest.mark.parametrize("rounds", [2, 20])
def test_queries_stay_constant(evo: Evo, rounds: int, django_assert_num_queries: Any) -> None:
    campaign = evo.start()
    for proposal in _waiting(campaign, rounds)[::2]:
        Proposal.objects.filter(pk=proposal.pk).update(assignee=evo.team.reviewer)
    client = evo.team.client_for("reviewer")
    # session, user, roles, count, page, the two nav counts
    with django_assert_num_queries(7):
        assert len(_numbers(client.get(INBOX))) == rounds
    # session, user, membership, count, page, campaigns for the filter, the two nav
    # counts, the live cursor
    with django_assert_num_queries(9):
        assert len(_numbers(client.get(_project_inbox(evo)))) == rounds
    # the fragment: no campaign choices, no navigation
    with django_assert_num_queries(5):
        client.get(_project_inbox(evo), headers={"HX-Request": "true"})


@pytest.mark.django_db
class TestNavCounts:
    def test_the_badge_counts_what_waits_for_me(self, evo: Evo, three: list[Proposal]) -> None:
        body = evo.team.client_for("reviewer").get("/p/").content.decode()
        assert 'aria-label="Reviews, 1 waiting for you"' in body and '<span class="badge count amber">1</span>' in body
        viewer = evo.team.client_for("viewer").get("/p/").content.decode()
        assert "waiting for you" not in viewer and ">Reviews</a>" in viewer

    def test_it_costs_one_query_per_count(self, team: Team, django_assert_num_queries: Any) -> None:
        request = RequestFactory().get("/")
        request.user = team.reviewer
        counts = nav_counts(request)["nav_counts"]
        with django_assert_num_queries(2):
            assert (counts.reviews, counts.unread, counts.reviews, counts.unread) == (0, 0, 0, 0)

    def test_anonymous_visitors_cost_nothing(self, django_assert_num_queries: Any) -> None:
        request = RequestFactory().get("/")
        request.user = AnonymousUser()
        with django_assert_num_queries(0):
            assert nav_counts(request) == {}
