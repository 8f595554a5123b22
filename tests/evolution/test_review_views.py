"""The review panel's forms on the proposal page: each POST for the right role, refused
(and nothing changed) below it, answered to htmx with the panel and without JS with a
redirect; refusals shown by the form; queries that do not grow with the discussion."""

from __future__ import annotations

from collections.abc import Callable
from contextlib import AbstractContextManager
from typing import Any

import pytest
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext

from evolab.evolution import actions
from evolab.evolution.models import Comment, Proposal, Resolution, Vote
from evolab.evolution.review import comment_add, vote_cast
from evolab.harnesses.selectors import head_of
from evolab.projects.models import Role
from tests.evolution.conftest import Evo
from tests.evolution.review_helpers import member, waiting

pytestmark = pytest.mark.django_db
HTMX = {"HX-Request": "true"}


def url(proposal: Proposal, tail: str = "") -> str:
    return f"/p/{proposal.project.slug}/proposals/{proposal.number}/{tail}"


@pytest.fixture
def proposal(evo: Evo) -> Proposal:
    return waiting(evo.start())


def post(evo: Evo, persona: str, proposal: Proposal, tail: str, data: dict[str, Any], htmx: bool = True) -> Any:
    return evo.team.client_for(persona).post(url(proposal, tail), data, headers=HTMX if htmx else {})


def test_a_reviewer_votes_and_the_panel_comes_back(evo: Evo, proposal: Proposal) -> None:
    response = post(evo, "reviewer", proposal, "vote/", {"value": "2"})
    assert response.status_code == 200
    html = response.content.decode()
    assert 'id="approval-state"' in html and "Approvals 1 of 1" in html and 'id="votes"' in html
    assert Vote.objects.get(proposal=proposal).value == 2


def test_without_js_a_vote_redirects_back_with_a_message(evo: Evo, proposal: Proposal) -> None:
    client = evo.team.client_for("reviewer")
    response = client.post(url(proposal, "vote/"), {"value": "-2"}, follow=True)
    assert response.redirect_chain[-1][0] == url(proposal) + "#review-panel"
    assert "You voted -2 veto" in response.content.decode()
    assert "vetoed by reviewer" in response.content.decode()


@pytest.mark.parametrize(
    ("tail", "data", "min_role"),
    [
        ("vote/", {"value": "2"}, Role.REVIEWER),
        ("comments/", {"text": "hm", "blocking": "on"}, Role.REVIEWER),
        ("request-changes/", {"summary": "more"}, Role.REVIEWER),
        ("merge/", {}, Role.MAINTAINER),
        ("reject/", {"reason": "no"}, Role.MAINTAINER),
        ("revert/", {"reason": "no"}, Role.MAINTAINER),
    ],
)
@pytest.mark.parametrize("persona", ["anonymous", "outsider", "viewer", "reviewer"])
def test_below_the_role_nothing_changes(
    evo: Evo, proposal: Proposal, tail: str, data: dict[str, str], min_role: Role, persona: str
) -> None:
    if persona == "reviewer" and min_role == Role.REVIEWER:
        return
    before = (Vote.objects.count(), Comment.objects.count(), head_of(evo.team.project))
    response = post(evo, persona, proposal, tail, data)
    expected = {"anonymous": 302, "outsider": 404}.get(persona, 403)
    assert response.status_code == expected
    proposal.refresh_from_db()
    assert proposal.merged_at is None and proposal.closed_at is None
    assert (Vote.objects.count(), Comment.objects.count(), head_of(evo.team.project)) == before


def test_a_blocking_comment_holds_the_merge_until_resolved(evo: Evo, proposal: Proposal) -> None:
    vote_cast(actor=evo.team.reviewer, proposal=proposal, value=2)
    response = post(evo, "reviewer", proposal, "comments/", {"text": "why?", "blocking": "on", "anchor": "proposal"})
    html = response.content.decode()
    comment = Comment.objects.get(proposal=proposal)
    assert comment.blocking and f'id="comment-{comment.pk}"' in html
    assert 'id="blocking-comments"' in html and 'class="resolve-form"' in html
    assert "1 open blocking comment" in html
    panel = evo.team.client_for("maintainer").get(url(proposal) + "?panel=review", headers=HTMX).content.decode()
    assert 'id="merge-button" class="primary" disabled' in panel

    refused = post(evo, "maintainer", proposal, f"comments/{comment.pk}/resolve/", {"resolution": "dropped"})
    assert "Say why the comment is dropped." in refused.content.decode()
    assert Comment.objects.get(pk=comment.pk).resolution == Resolution.OPEN

    done = post(evo, "reviewer", proposal, f"comments/{comment.pk}/resolve/", {"resolution": "fixed"})
    assert done.status_code == 200 and 'id="blocking-comments"' not in done.content.decode()
    merged = post(evo, "maintainer", proposal, "merge/", {})
    assert merged.status_code == 200 and 'id="revert-form"' in merged.content.decode()
    proposal.refresh_from_db()
    assert proposal.merged_at is not None


def test_only_the_author_or_a_maintainer_resolves(evo: Evo, proposal: Proposal) -> None:
    other = member(evo.team.project, "other", Role.REVIEWER)
    comment = comment_add(actor=other, proposal=proposal, text="mine", blocking=True)
    response = post(evo, "reviewer", proposal, f"comments/{comment.pk}/resolve/", {"resolution": "fixed"})
    assert response.status_code == 403
    assert Comment.objects.get(pk=comment.pk).resolution == Resolution.OPEN


def test_a_blocked_merge_lists_its_blockers(evo: Evo, proposal: Proposal) -> None:
    response = post(evo, "maintainer", proposal, "merge/", {})
    html = response.content.decode()
    assert 'id="merge-blockers"' in html and "needs 1 approval, has 0" in html
    assert "Cannot merge proposal" in html
    proposal.refresh_from_db()
    assert proposal.merged_at is None


def test_a_reply_nests_under_its_comment(evo: Evo, proposal: Proposal) -> None:
    parent = comment_add(actor=evo.team.maintainer, proposal=proposal, text="first")
    html = post(evo, "reviewer", proposal, "comments/", {"text": "answer", "parent": str(parent.pk)}).content.decode()
    reply = Comment.objects.get(parent=parent)
    start = html.index(f'id="comment-{parent.pk}"')
    assert start < html.index(f'id="comment-{reply.pk}"') < html.index("</article>", html.index("answer"))
    assert 'class="replies"' in html


def test_a_line_comment_links_to_the_diff_line(evo: Evo, proposal: Proposal) -> None:
    data = {"text": "typo", "anchor": "line", "path": "skills/refunds.md", "line": "1"}
    html = post(evo, "reviewer", proposal, "comments/", data).content.decode()
    assert "#L-skills/refunds.md-1" in html
    bad = post(evo, "reviewer", proposal, "comments/", {**data, "path": "nope.md"}).content.decode()
    assert "Anchor a line comment to a file this proposal changes." in bad


def test_reject_needs_a_reason_then_closes(evo: Evo, proposal: Proposal) -> None:
    assert "Say why the proposal is rejected." in post(evo, "maintainer", proposal, "reject/", {}).content.decode()
    response = post(evo, "maintainer", proposal, "reject/", {"reason": "too risky"}, htmx=False)
    assert response.status_code == 302
    proposal.refresh_from_db()
    assert proposal.closed_reason == "too risky"


def test_request_changes_adds_a_blocking_comment(evo: Evo, proposal: Proposal) -> None:
    html = post(evo, "reviewer", proposal, "request-changes/", {"summary": "cite the policy"}).content.decode()
    comment = Comment.objects.get(proposal=proposal)
    assert comment.blocking and "Changes requested: cite the policy" in html


def test_a_merged_proposal_is_reverted(evo: Evo, proposal: Proposal) -> None:
    actions.proposal_merge(actor=evo.team.maintainer, proposal=proposal)
    merged_head = head_of(evo.team.project)
    html = post(evo, "maintainer", proposal, "revert/", {"reason": "regressed in prod"}).content.decode()
    assert "reverted: head is v" in html
    assert head_of(evo.team.project) != merged_head


def test_a_stale_proposal_links_to_the_rebase_page(evo: Evo, proposal: Proposal) -> None:
    other = waiting(proposal.campaign, text="Other change.\n", path="workflow.md")
    actions.proposal_merge(actor=evo.team.maintainer, proposal=other)
    html = evo.team.client_for("maintainer").get(url(proposal) + "?panel=review", headers=HTMX).content.decode()
    assert f'href="{url(proposal, "rebase/")}"' in html and "Rebase onto head" in html
    reviewer = evo.team.client_for("reviewer").get(url(proposal) + "?panel=review", headers=HTMX).content.decode()
    assert "Rebase onto head" not in reviewer and 'id="merge-form"' not in reviewer


def test_a_viewer_sees_the_review_but_no_forms(evo: Evo, proposal: Proposal) -> None:
    vote_cast(actor=evo.team.reviewer, proposal=proposal, value=1)
    html = evo.team.client_for("viewer").get(url(proposal)).content.decode()
    assert 'id="review-panel"' in html and 'id="votes"' in html
    for form in ("vote-form", "comment-form", "merge-form", "reject-form", "request-changes-form"):
        assert f'id="{form}"' not in html


def test_comment_text_is_inert(evo: Evo, proposal: Proposal) -> None:
    data = {"text": "<script>alert(1)</script>", "parent": ""}
    html = post(evo, "reviewer", proposal, "comments/", data).content.decode()
    assert "<script>alert(1)</script>" not in html and "&lt;script&gt;" in html


def _panel_queries(client: Client, proposal: Proposal) -> int:
    with CaptureQueriesContext(connection) as queries:
        response = client.get(url(proposal) + "?panel=review", headers=HTMX)
    assert response.status_code == 200
    return len(queries)


def test_panel_queries_do_not_grow_with_the_discussion(
    evo: Evo, django_assert_num_queries: Callable[[int], AbstractContextManager[Any]]
) -> None:
    campaign = evo.start()
    small, large = waiting(campaign), waiting(campaign, text="Another rule.\n")
    for proposal, people in ((small, 2), (large, 20)):
        for index in range(people):
            voter = member(evo.team.project, f"r{proposal.number}-{index}", Role.REVIEWER)
            vote_cast(actor=voter, proposal=proposal, value=2 if index % 2 else -1)
            root = comment_add(actor=voter, proposal=proposal, text=f"c{index}", blocking=index % 3 == 0)
            comment_add(actor=evo.team.maintainer, proposal=proposal, text="re", parent=root)
    client = evo.team.client_for("maintainer")
    expected = _panel_queries(client, small)
    with django_assert_num_queries(expected):
        client.get(url(large) + "?panel=review", headers=HTMX)


def test_the_revise_page_queues_a_revision(evo: Evo) -> None:
    campaign = evo.start()
    proposal = waiting(campaign, kind="human", author=evo.team.reviewer)
    client = evo.team.client_for("reviewer")
    page = client.get(url(proposal, "revise/") + "?path=skills/refunds.md")
    assert page.status_code == 200 and "Refunds need a receipt." in page.content.decode()
    data = {"path": "skills/refunds.md", "text": "Refunds need a dated receipt.\n", "note": ""}
    assert client.post(url(proposal, "revise/"), data).status_code == 422
    response = client.post(url(proposal, "revise/"), {**data, "note": "dated"})
    revision = Proposal.objects.get(revision_of=proposal)
    assert response.status_code == 302 and response["Location"] == url(revision)
    assert evo.team.client_for("viewer").get(url(proposal, "revise/")).status_code == 403


def test_a_revision_shows_its_place_and_the_interdiff(evo: Evo) -> None:
    campaign = evo.start()
    proposal = waiting(campaign, kind="human", author=evo.team.reviewer)
    data = {"path": "skills/refunds.md", "text": "Refunds need a dated receipt.\n", "note": "dated"}
    evo.team.client_for("reviewer").post(url(proposal, "revise/"), data)
    revision = Proposal.objects.get(revision_of=proposal)
    client = evo.team.client_for("viewer")
    html = client.get(url(revision) + "?panel=review", headers=HTMX).content.decode()
    assert "Revision 2 of 2" in html and "show the changes since" in html
    diff = client.get(url(revision) + "?panel=review&interdiff=1", headers=HTMX).content.decode()
    assert "dated receipt" in diff and 'class="interdiff"' in diff
