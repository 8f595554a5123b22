"""Notifications: rows for the badge and the list, an email once the change commits, and
who is told about a review request, a mention, a merge and a veto."""

from __future__ import annotations

from collections.abc import Callable
from contextlib import AbstractContextManager
from typing import Any

import pytest
from django.core import mail
from django.db import transaction

from evolab.evolution.assignment import assign_reviewer
from evolab.evolution.models import Campaign, Notification, Proposal, ProposerKind
from evolab.evolution.notifications import mark_read, notify, unread_count
from evolab.evolution.review import comment_add, proposal_merge_reviewed, vote_cast
from evolab.projects.models import Role
from tests.evolution.conftest import Evo
from tests.evolution.review_helpers import member, waiting

pytestmark = pytest.mark.django_db

Capture = Callable[..., AbstractContextManager[Any]]


@pytest.fixture
def campaign(evo: Evo) -> Campaign:
    return evo.start()


@pytest.fixture
def proposal(evo: Evo, campaign: Campaign) -> Proposal:
    return waiting(campaign, kind=ProposerKind.HUMAN, author=evo.team.maintainer, assignee=evo.team.reviewer)


def _told(kind: str) -> list[tuple[str, str]]:
    rows = Notification.objects.filter(kind=kind).select_related("user").order_by("user__username")
    return [(row.user.get_username(), row.text) for row in rows]


def test_a_notification_is_emailed_after_commit(evo: Evo, django_capture_on_commit_callbacks: Capture) -> None:
    with django_capture_on_commit_callbacks(execute=True):
        notify(user=evo.team.reviewer, project=evo.team.project, kind="mention", text="you were mentioned")
        assert mail.outbox == []

    [email] = mail.outbox
    assert email.to == ["reviewer@example.org"] and email.subject == "[evolab · Support agent] you were mentioned"
    assert unread_count(evo.team.reviewer) == 1


def test_nothing_is_sent_when_the_change_rolls_back(evo: Evo, django_capture_on_commit_callbacks: Capture) -> None:
    with django_capture_on_commit_callbacks(execute=True), pytest.raises(RuntimeError), transaction.atomic():
        notify(user=evo.team.reviewer, project=evo.team.project, kind="mention", text="x")
        raise RuntimeError
    assert mail.outbox == [] and not Notification.objects.exists()


def test_no_address_no_email(evo: Evo, django_capture_on_commit_callbacks: Capture) -> None:
    evo.team.reviewer.email = ""
    with django_capture_on_commit_callbacks(execute=True):
        notify(user=evo.team.reviewer, project=evo.team.project, kind="mention", text="x")
    assert mail.outbox == [] and unread_count(evo.team.reviewer) == 1


def test_a_mail_server_that_refuses_does_not_fail_the_change(
    evo: Evo, django_capture_on_commit_callbacks: Capture, settings: Any
) -> None:
    settings.EMAIL_BACKEND = "django.core.mail.backends.smtp.EmailBackend"
    settings.EMAIL_HOST, settings.EMAIL_PORT = "127.0.0.1", 1  # nothing listens there
    with django_capture_on_commit_callbacks(execute=True):
        notify(user=evo.team.reviewer, project=evo.team.project, kind="mention", text="x")
    assert unread_count(evo.team.reviewer) == 1


def test_mark_read(evo: Evo) -> None:
    mine = [notify(user=evo.team.reviewer, project=evo.team.project, kind="mention", text=str(i)) for i in range(3)]
    theirs = notify(user=evo.team.owner, project=evo.team.project, kind="mention", text="other")

    assert mark_read(evo.team.reviewer, [mine[0].pk, theirs.pk]) == 1
    assert unread_count(evo.team.reviewer) == 2 and unread_count(evo.team.owner) == 1
    assert mark_read(evo.team.reviewer, "all") == 2
    assert unread_count(evo.team.reviewer) == 0 and unread_count(evo.team.owner) == 1


def test_a_review_request_tells_the_assignee(
    evo: Evo, campaign: Campaign, django_capture_on_commit_callbacks: Capture
) -> None:
    with django_capture_on_commit_callbacks(execute=True):
        chosen = assign_reviewer(waiting(campaign))
    assert chosen is not None
    assert [email.to for email in mail.outbox] == [[chosen.email]]
    assert "Review requested" in mail.outbox[0].subject


def test_mentions_tell_members_only(evo: Evo, proposal: Proposal, django_capture_on_commit_callbacks: Capture) -> None:
    with django_capture_on_commit_callbacks(execute=True):
        comment_add(
            actor=evo.team.reviewer,
            proposal=proposal,
            text="@owner and @viewer, see this; @outsider cannot. @reviewer talks to self.",
        )

    text = f"reviewer mentioned you on proposal #{proposal.number}"
    assert _told("mention") == [("owner", text), ("viewer", text)]
    assert sorted(email.to[0] for email in mail.outbox) == ["owner@example.org", "viewer@example.org"]
    assert "see this" not in mail.outbox[0].body  # the comment's words stay on the page


def test_a_mention_on_a_held_out_case_tells_maintainers_only(evo: Evo, proposal: Proposal) -> None:
    holdout = proposal.campaign.suite_version.cases.filter(split="holdout").values_list("key", flat=True).first()
    comment_add(
        actor=evo.team.owner, proposal=proposal, text="@reviewer @maintainer look", anchor="case", case_key=holdout
    )
    assert [user for user, _ in _told("mention")] == ["maintainer"]


def test_a_veto_tells_the_author_and_assignee(evo: Evo, proposal: Proposal) -> None:
    vote_cast(actor=evo.team.owner, proposal=proposal, value=-2)
    text = f"owner vetoed proposal #{proposal.number}"
    assert _told("veto") == [("maintainer", text), ("reviewer", text)]

    vote_cast(actor=evo.team.reviewer, proposal=proposal, value=-1)
    assert len(_told("veto")) == 2


def test_a_merge_tells_author_assignee_and_voters_once(
    evo: Evo, proposal: Proposal, django_capture_on_commit_callbacks: Capture
) -> None:
    voter = member(evo.team.project, "voter", Role.REVIEWER)
    vote_cast(actor=evo.team.reviewer, proposal=proposal, value=2)
    vote_cast(actor=voter, proposal=proposal, value=1)

    with django_capture_on_commit_callbacks(execute=True):
        proposal_merge_reviewed(actor=evo.team.owner, proposal=proposal)

    assert proposal.candidate_version is not None
    text = f"owner merged proposal #{proposal.number}: head is v{proposal.candidate_version.number}"
    assert _told("merge") == [("maintainer", text), ("reviewer", text), ("voter", text)]
    assert len(mail.outbox) == 3
