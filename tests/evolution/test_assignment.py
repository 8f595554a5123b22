"""Who reviews a proposal (path owners, then round-robin), path owners, the counts for
the navigation and the inbox."""

from __future__ import annotations

import pytest
from django.core.exceptions import PermissionDenied
from django.db import connection
from django.test.utils import CaptureQueriesContext

from evolab.core.errors import ValidationFailed
from evolab.core.models import AuditEvent
from evolab.evolution import loop
from evolab.evolution.assignment import (
    assign_reviewer,
    inbox,
    path_owner_remove,
    path_owner_set,
    review_counts,
)
from evolab.evolution.models import Campaign, Notification, Outcome, Proposal, ProposerKind, Round, RoundStatus
from evolab.projects.models import Role
from tests.evolution.conftest import Evo
from tests.evolution.review_helpers import member, waiting

pytestmark = pytest.mark.django_db


@pytest.fixture
def campaign(evo: Evo) -> Campaign:
    return evo.start()


def test_turns_go_round_the_reviewers_in_user_order(evo: Evo, campaign: Campaign) -> None:
    team = evo.team
    order = sorted([team.owner, team.maintainer, team.reviewer], key=lambda user: user.pk)

    assigned = [assign_reviewer(waiting(campaign, text=f"{i}\n")) for i in range(4)]

    assert assigned == [*order, order[0]]  # viewers never review


def test_the_author_does_not_review_their_own_proposal(evo: Evo, campaign: Campaign) -> None:
    first = assign_reviewer(waiting(campaign, text="a\n"))
    ordered = sorted([evo.team.owner, evo.team.maintainer, evo.team.reviewer], key=lambda user: user.pk)
    after = ordered[(ordered.index(first) + 1) % 3]
    human = waiting(campaign, text="b\n", kind=ProposerKind.HUMAN, author=after)

    assert assign_reviewer(human) == ordered[(ordered.index(first) + 2) % 3]


def test_a_path_owner_reviews_what_they_own(evo: Evo, campaign: Campaign) -> None:
    path_owner_set(actor=evo.team.owner, project=evo.team.project, pattern="skills/**", user=evo.team.reviewer)
    path_owner_set(actor=evo.team.owner, project=evo.team.project, pattern="system.md", user=evo.team.maintainer)

    assert assign_reviewer(waiting(campaign, text="a\n")) == evo.team.reviewer
    assert assign_reviewer(waiting(campaign, text="b\n")) == evo.team.reviewer
    assert assign_reviewer(waiting(campaign, text="c\n", path="system.md")) == evo.team.maintainer


def test_a_path_owner_who_wrote_it_or_left_is_skipped(evo: Evo, campaign: Campaign) -> None:
    path_owner_set(actor=evo.team.owner, project=evo.team.project, pattern="skills", user=evo.team.reviewer)
    human = waiting(campaign, kind=ProposerKind.HUMAN, author=evo.team.reviewer)
    assert assign_reviewer(human) in (evo.team.owner, evo.team.maintainer)

    evo.team.project.memberships.filter(user=evo.team.reviewer).update(role=Role.VIEWER)
    assert assign_reviewer(waiting(campaign, text="b\n")) != evo.team.reviewer


def test_assignment_asks_for_the_review_once(evo: Evo, campaign: Campaign) -> None:
    proposal = waiting(campaign)
    first = assign_reviewer(proposal)
    again = assign_reviewer(Proposal.objects.get(pk=proposal.pk))

    assert first == again
    notification = Notification.objects.get()
    assert (notification.user, notification.kind, notification.proposal) == (first, "review_request", proposal)
    assert notification.text == f"Review requested: proposal #{proposal.number} in {evo.team.project.name}"


def test_nobody_to_review(evo: Evo, campaign: Campaign) -> None:
    evo.team.project.memberships.filter(role__gte=Role.REVIEWER).update(role=Role.VIEWER)
    assert assign_reviewer(waiting(campaign)) is None


def test_a_classified_proposal_waiting_for_review_is_assigned(evo: Evo, campaign: Campaign) -> None:
    current = Round.objects.create(
        campaign=campaign, number=1, parent_version=campaign.parent_version, status=RoundStatus.CANDIDATES
    )
    proposal = waiting(campaign, outcome="", round=current)

    loop._classify(campaign, current, proposal, loop.ProposalFacts(delta=0.05, low=0.01, high=0.09))

    proposal.refresh_from_db()
    assert proposal.outcome == Outcome.NEEDS_REVIEW and proposal.assignee is not None


def test_an_auto_merge_that_lost_its_round_is_assigned(evo: Evo, campaign: Campaign) -> None:
    current = Round.objects.create(
        campaign=campaign, number=1, parent_version=campaign.parent_version, status=RoundStatus.CANDIDATES
    )
    better = waiting(campaign, outcome=Outcome.AUTO_MERGE, round=current, index=0, stats={"comparison": {"low": 0.2}})
    worse = waiting(campaign, text="b\n", outcome=Outcome.AUTO_MERGE, round=current, index=1)

    loop._settle_round(campaign, current)

    better.refresh_from_db()
    worse.refresh_from_db()
    assert better.merged_at is not None and better.assignee is None
    assert worse.outcome == Outcome.NEEDS_REVIEW and worse.assignee is not None
    assert worse.reasons[-1]["code"] == "superseded"


# --- path owners ------------------------------------------------------------------------


def test_path_owners_are_set_by_owners_for_reviewers(evo: Evo) -> None:
    team = evo.team
    with pytest.raises(PermissionDenied):
        path_owner_set(actor=team.maintainer, project=team.project, pattern="skills", user=team.reviewer)
    with pytest.raises(ValidationFailed, match="not a reviewer"):
        path_owner_set(actor=team.owner, project=team.project, pattern="skills", user=team.viewer)
    with pytest.raises(ValidationFailed, match=r"contains '\.\.'"):
        path_owner_set(actor=team.owner, project=team.project, pattern="../skills", user=team.reviewer)

    owner = path_owner_set(actor=team.owner, project=team.project, pattern="Skills/", user=team.reviewer)
    assert owner.pattern == "skills"
    assert path_owner_set(actor=team.owner, project=team.project, pattern="skills", user=team.reviewer) == owner
    path_owner_remove(actor=team.owner, owner=owner)
    assert [e.action for e in AuditEvent.objects.filter(object_type="path_owner").order_by("pk")] == [
        "path_owner.set",
        "path_owner.remove",
    ]


# --- counts and inbox -------------------------------------------------------------------


def test_review_counts_count_what_waits_for_me(evo: Evo, campaign: Campaign) -> None:
    waiting(campaign, assignee=evo.team.reviewer)
    waiting(campaign, text="b\n", assignee=evo.team.reviewer)
    waiting(campaign, text="c\n", assignee=evo.team.reviewer, closed_at="2024-01-01T00:00:00Z")
    waiting(campaign, text="d\n", assignee=evo.team.reviewer, outcome=Outcome.AUTO_REJECT)
    waiting(campaign, text="e\n", assignee=evo.team.maintainer)

    assert review_counts(evo.team.reviewer) == {evo.team.project.pk: 2}
    assert review_counts(evo.team.viewer) == {}
    evo.team.project.memberships.filter(user=evo.team.reviewer).delete()
    assert review_counts(evo.team.reviewer) == {}


def test_the_inbox_reads_in_one_query(evo: Evo, campaign: Campaign) -> None:
    other = evo.start(name="second")
    for index in range(3):
        waiting(campaign, text=f"{index}\n", assignee=evo.team.maintainer)
    mine = waiting(other, text="mine\n", assignee=evo.team.reviewer)

    with CaptureQueriesContext(connection) as queries:
        rows = list(inbox(evo.team.reviewer))
        labels = [(p.campaign.number, p.assignee.get_username(), p.base_version.number, p.round) for p in rows]
    assert len(queries) == 1 and len(labels) == 4
    assert rows[0] == mine
    assert list(inbox(evo.team.reviewer, campaign=other)) == [mine]
    assert list(inbox(evo.team.outsider)) == []
    stranger = member(evo.team.project, "late", Role.VIEWER)
    assert len(list(inbox(stranger, project=evo.team.project))) == 4
