"""Review actions: votes bound to diff and base, approvals and vetoes, blocking comments,
the reviewed merge (head by compare-and-swap) and rejection."""

from __future__ import annotations

from typing import Any

import pytest
from django.core.exceptions import PermissionDenied
from django.db import connection
from django.test.utils import CaptureQueriesContext

from evolab.core.errors import Conflict, ValidationFailed
from evolab.core.models import AuditEvent
from evolab.evals.models import EvalCase
from evolab.evolution import actions
from evolab.evolution.models import Campaign, Comment, MemoryEntry, Outcome, Proposal, ProposerKind, Vote
from evolab.evolution.review import (
    approval_state,
    comment_add,
    comment_resolve,
    comments_of,
    proposal_merge_reviewed,
    proposal_reject,
    vote_cast,
)
from evolab.harnesses.actions import version_create
from evolab.harnesses.models import HarnessHead
from evolab.projects.models import Role
from tests.evolution.conftest import Evo
from tests.evolution.review_helpers import CHANGED_PATH, member, waiting

pytestmark = pytest.mark.django_db

CRITICAL = [{"code": "critical_path", "text": "The change touches critical paths: workflow.md."}]


@pytest.fixture
def campaign(evo: Evo) -> Campaign:
    return evo.start()


@pytest.fixture
def proposal(campaign: Campaign) -> Proposal:
    return waiting(campaign)


def _state(proposal: Proposal) -> Any:
    proposal.refresh_from_db()
    return approval_state(proposal)


def _head_number(evo: Evo) -> int:
    return int(HarnessHead.objects.get(project=evo.team.project).version.number)


# --- votes ------------------------------------------------------------------------------


def test_a_vote_binds_the_diff_and_base(evo: Evo, proposal: Proposal) -> None:
    vote = vote_cast(actor=evo.team.reviewer, proposal=proposal, value=2)

    assert (vote.diff_hash, vote.base_version_id) == (proposal.diff_hash, proposal.base_version_id)
    state = _state(proposal)
    assert state.approvals == ("reviewer",) and state.mergeable and state.blockers == ()
    event = AuditEvent.objects.get(action="proposal.vote")
    assert event.actor == evo.team.reviewer and event.after["value"] == 2 and event.before is None


def test_a_new_vote_replaces_the_old_one(evo: Evo, proposal: Proposal) -> None:
    vote_cast(actor=evo.team.reviewer, proposal=proposal, value=2)
    vote_cast(actor=evo.team.reviewer, proposal=proposal, value=-1)

    assert list(Vote.objects.values_list("value", flat=True)) == [-1]
    assert AuditEvent.objects.filter(action="proposal.vote").latest("pk").before == 2
    assert _state(proposal).blockers == ("needs 1 approval, has 0",)


@pytest.mark.parametrize("change", ["diff", "base"])
def test_a_vote_goes_stale_when_the_diff_or_base_changes(evo: Evo, proposal: Proposal, change: str) -> None:
    vote_cast(actor=evo.team.reviewer, proposal=proposal, value=2)
    vote_cast(actor=evo.team.maintainer, proposal=proposal, value=-2)
    if change == "diff":  # a revision changed the candidate
        Proposal.objects.filter(pk=proposal.pk).update(diff_hash="0" * 64)
    else:  # a rebase put it on another base (and head followed, so only the votes are stale)
        other = version_create(actor=None, project=evo.team.project, files={"system.md": "x\n"}, message="other")
        Proposal.objects.filter(pk=proposal.pk).update(base_version=other)

    state = _state(proposal)
    assert state.stale_votes == ("reviewer", "maintainer")
    assert state.approvals == () and state.vetoes == ()
    assert state.blockers == ("needs 1 approval, has 0",)
    assert [row.stale for row in state.votes] == [True, True]


def test_values_outside_the_scale_are_refused(evo: Evo, proposal: Proposal) -> None:
    with pytest.raises(ValidationFailed, match="-2, -1, \\+1 or \\+2"):
        vote_cast(actor=evo.team.reviewer, proposal=proposal, value=3)


@pytest.mark.parametrize("persona", ["viewer", "outsider"])
def test_below_reviewer_nobody_votes(evo: Evo, proposal: Proposal, persona: str) -> None:
    with pytest.raises(PermissionDenied):
        vote_cast(actor=getattr(evo.team, persona), proposal=proposal, value=2)
    assert not Vote.objects.exists()


def test_a_reviewer_of_another_project_cannot_vote(evo: Evo, proposal: Proposal) -> None:
    from tests.factories import ProjectFactory

    stranger = member(ProjectFactory(), "stranger", Role.OWNER)
    with pytest.raises(PermissionDenied):
        vote_cast(actor=stranger, proposal=proposal, value=2)


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ({"outcome": Outcome.AUTO_REJECT}, "Auto-rejected"),
        ({"closed_reason": "no", "closed_at": "2024-01-01T00:00:00Z"}, "closed"),
        ({"merged_at": "2024-01-01T00:00:00Z"}, "already merged"),
    ],
)
def test_finished_proposals_take_no_vote(evo: Evo, proposal: Proposal, fields: dict[str, Any], message: str) -> None:
    Proposal.objects.filter(pk=proposal.pk).update(**fields)
    with pytest.raises(Conflict, match=message):
        vote_cast(actor=evo.team.reviewer, proposal=proposal, value=2)


# --- approvals --------------------------------------------------------------------------


def test_a_critical_trigger_needs_two_approvals(evo: Evo, campaign: Campaign) -> None:
    proposal = waiting(campaign, reasons=CRITICAL)
    vote_cast(actor=evo.team.reviewer, proposal=proposal, value=2)
    assert _state(proposal).blockers == ("needs 2 approvals, has 1",) and _state(proposal).critical

    vote_cast(actor=evo.team.maintainer, proposal=proposal, value=2)
    state = _state(proposal)
    assert state.approvals == ("reviewer", "maintainer") and state.approvals_needed == 2 and state.mergeable


def test_plus_one_is_no_approval(evo: Evo, proposal: Proposal) -> None:
    vote_cast(actor=evo.team.reviewer, proposal=proposal, value=1)
    assert _state(proposal).blockers == ("needs 1 approval, has 0",)


def test_the_policy_names_who_may_approve_and_how_many(evo: Evo, proposal: Proposal) -> None:
    rules = {"approvals_needed": 2, "approvals_needed_critical": 2, "approver_min_role": "maintainer"}
    actions.policy_set(actor=evo.team.owner, project=evo.team.project, rules=rules)
    for persona in ("reviewer", "maintainer"):
        vote_cast(actor=getattr(evo.team, persona), proposal=proposal, value=2)

    state = _state(proposal)
    assert state.approvals == ("maintainer",)
    assert state.blockers == ("needs 2 approvals, has 1",)
    assert [(row.voter, row.counts) for row in state.votes] == [("reviewer", False), ("maintainer", True)]


def test_the_author_of_a_human_proposal_does_not_approve_it(evo: Evo, campaign: Campaign) -> None:
    proposal = waiting(campaign, kind=ProposerKind.HUMAN, author=evo.team.maintainer)
    vote_cast(actor=evo.team.maintainer, proposal=proposal, value=2)
    assert _state(proposal).blockers == ("needs 1 approval, has 0",)

    vote_cast(actor=evo.team.reviewer, proposal=proposal, value=2)
    assert _state(proposal).approvals == ("reviewer",)


def test_a_member_who_left_no_longer_counts(evo: Evo, proposal: Proposal) -> None:
    vote_cast(actor=evo.team.reviewer, proposal=proposal, value=2)
    evo.team.project.memberships.filter(user=evo.team.reviewer).delete()

    state = _state(proposal)
    assert state.approvals == () and state.votes[0].role is None


def test_a_veto_blocks_until_withdrawn(evo: Evo, proposal: Proposal) -> None:
    vote_cast(actor=evo.team.owner, proposal=proposal, value=2)
    vote_cast(actor=evo.team.reviewer, proposal=proposal, value=-2)
    assert _state(proposal).blockers == ("vetoed by reviewer",)
    with pytest.raises(Conflict, match="vetoed by reviewer"):
        proposal_merge_reviewed(actor=evo.team.maintainer, proposal=proposal)

    vote_cast(actor=evo.team.reviewer, proposal=proposal, value=-1)
    assert _state(proposal).mergeable


def test_approval_state_reads_in_constant_queries(evo: Evo, proposal: Proposal) -> None:
    proposal = Proposal.objects.select_related("project").get(pk=proposal.pk)

    def count() -> int:
        with CaptureQueriesContext(connection) as queries:
            approval_state(proposal)
        return len(queries)

    vote_cast(actor=evo.team.reviewer, proposal=proposal, value=2)
    one = count()
    for index in range(4):
        vote_cast(actor=member(evo.team.project, f"extra{index}", Role.REVIEWER), proposal=proposal, value=-2)
    comment_add(actor=evo.team.reviewer, proposal=proposal, text="no", blocking=True)
    assert count() == one == 4  # policy, votes with roles, open blocking comments, head


# --- comments ---------------------------------------------------------------------------


def test_a_blocking_comment_blocks_until_resolved(evo: Evo, proposal: Proposal) -> None:
    vote_cast(actor=evo.team.owner, proposal=proposal, value=2)
    comment = comment_add(actor=evo.team.reviewer, proposal=proposal, text="Cite the policy.", blocking=True)
    assert _state(proposal).blockers == ("1 open blocking comment",)

    comment_resolve(actor=evo.team.reviewer, comment=comment, resolution="fixed")
    assert _state(proposal).mergeable
    comment.refresh_from_db()
    assert comment.resolved_by == evo.team.reviewer and comment.resolved_at is not None
    assert AuditEvent.objects.filter(action="proposal.comment_resolve").exists()


def test_dropping_needs_a_reason_and_the_author_or_a_maintainer(evo: Evo, proposal: Proposal) -> None:
    comment = comment_add(actor=evo.team.reviewer, proposal=proposal, text="Hmm.", blocking=True)
    other = member(evo.team.project, "other", Role.REVIEWER)
    with pytest.raises(PermissionDenied):
        comment_resolve(actor=other, comment=comment, resolution="fixed")
    with pytest.raises(ValidationFailed, match="why"):
        comment_resolve(actor=evo.team.maintainer, comment=comment, resolution="dropped")

    comment_resolve(actor=evo.team.maintainer, comment=comment, resolution="dropped", reason="out of scope")
    with pytest.raises(Conflict, match="already marked dropped"):
        comment_resolve(actor=evo.team.reviewer, comment=comment, resolution="fixed")
    comment.refresh_from_db()
    assert (comment.resolution, comment.resolution_reason) == ("dropped", "out of scope")


def test_a_comment_enters_the_campaign_memory_and_the_audit(evo: Evo, proposal: Proposal) -> None:
    comment_add(actor=evo.team.reviewer, proposal=proposal, text="Keep   skills\nshort.")

    entry = MemoryEntry.objects.get(kind="review")
    assert entry.text.endswith(f"proposal #{proposal.number} (needs review) by reviewer: Keep skills short.")
    assert AuditEvent.objects.get(action="proposal.comment").after["text"] == "Keep   skills\nshort."


def test_a_line_comment_is_anchored_to_a_changed_file(evo: Evo, proposal: Proposal) -> None:
    comment = comment_add(
        actor=evo.team.reviewer, proposal=proposal, text="here", anchor="line", path=CHANGED_PATH, line=1
    )
    reply = comment_add(actor=evo.team.maintainer, proposal=proposal, text="agreed", parent=comment, anchor="case")

    assert (comment.anchor, comment.path, comment.line) == ("line", CHANGED_PATH, 1)
    assert (reply.anchor, reply.path, reply.line, reply.parent_id) == ("line", CHANGED_PATH, 1, comment.pk)


@pytest.mark.parametrize(
    ("anchor", "message"),
    [
        ({"anchor": "line", "path": "system.md", "line": 1}, "a file this proposal changes"),
        ({"anchor": "line", "path": CHANGED_PATH, "line": 0}, "starts at 1"),
        ({"anchor": "line", "path": CHANGED_PATH, "line": 99}, "has 1 lines"),
        ({"anchor": "case", "case_key": "nope"}, "No case with that key"),
        ({"anchor": "elsewhere"}, "Anchor a comment"),
    ],
)
def test_anchors_are_checked(evo: Evo, proposal: Proposal, anchor: dict[str, Any], message: str) -> None:
    with pytest.raises(ValidationFailed, match=message):
        comment_add(actor=evo.team.reviewer, proposal=proposal, text="x", **anchor)
    assert not Comment.objects.exists()


def test_a_held_out_case_is_anchored_by_maintainers_only_and_stays_with_them(evo: Evo, proposal: Proposal) -> None:
    dev = EvalCase.objects.filter(version=evo.suite_version, split="dev").values_list("key", flat=True).first()
    holdout = EvalCase.objects.filter(version=evo.suite_version, split="holdout").values_list("key", flat=True).first()
    with pytest.raises(ValidationFailed, match="No case with that key"):
        comment_add(actor=evo.team.reviewer, proposal=proposal, text="x", anchor="case", case_key=holdout)

    comment_add(actor=evo.team.reviewer, proposal=proposal, text="on dev", anchor="case", case_key=dev)
    sealed = comment_add(
        actor=evo.team.maintainer, proposal=proposal, text="quote of a sealed input", anchor="case", case_key=holdout
    )
    comment_add(actor=evo.team.owner, proposal=proposal, text="reply", parent=sealed)

    assert [c.text for c in comments_of(proposal, Role.REVIEWER)] == ["on dev"]
    assert len(comments_of(proposal, Role.MAINTAINER)) == 3
    memory = " ".join(MemoryEntry.objects.filter(kind="review").values_list("text", flat=True))
    assert "on dev" in memory and "sealed" not in memory and "reply" not in memory
    audit = [event.after for event in AuditEvent.objects.filter(action="proposal.comment")]
    assert sum("text" in after for after in audit) == 1
    with pytest.raises(ValidationFailed, match="Reply to a comment"):
        comment_add(actor=evo.team.reviewer, proposal=proposal, text="peek", parent=sealed)


def test_a_reply_stays_on_its_proposal(evo: Evo, campaign: Campaign, proposal: Proposal) -> None:
    other = waiting(campaign, text="Other.\n")
    comment = comment_add(actor=evo.team.reviewer, proposal=other, text="there")
    with pytest.raises(ValidationFailed, match="Reply to a comment of this proposal"):
        comment_add(actor=evo.team.reviewer, proposal=proposal, text="here", parent=comment)


def test_a_merged_proposal_takes_no_blocking_comment(evo: Evo, proposal: Proposal) -> None:
    Proposal.objects.filter(pk=proposal.pk).update(merged_at="2024-01-01T00:00:00Z")
    with pytest.raises(Conflict, match="blocking"):
        comment_add(actor=evo.team.reviewer, proposal=proposal, text="too late", blocking=True)
    comment_add(actor=evo.team.reviewer, proposal=proposal, text="nice one")


def test_viewers_do_not_comment(evo: Evo, proposal: Proposal) -> None:
    with pytest.raises(PermissionDenied):
        comment_add(actor=evo.team.viewer, proposal=proposal, text="x")


# --- merge and reject -------------------------------------------------------------------


def test_a_reviewed_merge_moves_head_and_says_who(evo: Evo, campaign: Campaign, proposal: Proposal) -> None:
    vote_cast(actor=evo.team.reviewer, proposal=proposal, value=2)
    merged = proposal_merge_reviewed(actor=evo.team.maintainer, proposal=proposal)

    assert merged.merged_at is not None and merged.merged_by == evo.team.maintainer
    assert HarnessHead.objects.get(project=evo.team.project).version == proposal.candidate_version
    campaign.refresh_from_db()
    assert campaign.parent_version == proposal.candidate_version
    event = AuditEvent.objects.get(action="proposal.merge")
    assert event.actor == evo.team.maintainer
    candidate, base = proposal.candidate_version, proposal.base_version
    assert candidate is not None
    assert event.before == {"head": base.number, "digest": base.digest}
    assert event.after == {
        "approvals": ["reviewer"],
        "approvals_needed": 1,
        "head": candidate.number,
        "digest": candidate.digest,
    }
    assert not AuditEvent.objects.filter(action="harness.head", created_at__gte=event.created_at).exists()
    assert _state(proposal).blockers == ("already merged",)


def test_a_merge_without_approval_names_every_blocker(evo: Evo, proposal: Proposal) -> None:
    comment_add(actor=evo.team.reviewer, proposal=proposal, text="no", blocking=True)
    with pytest.raises(Conflict) as error:
        proposal_merge_reviewed(actor=evo.team.maintainer, proposal=proposal)

    assert error.value.details == {"blockers": ["needs 1 approval, has 0", "1 open blocking comment"]}
    assert (
        str(error.value)
        == f"Cannot merge proposal #{proposal.number}: needs 1 approval, has 0; 1 open blocking comment."
    )
    proposal.refresh_from_db()
    assert proposal.merged_at is None


def test_a_merge_after_head_moved_is_stale_and_changes_nothing(evo: Evo, proposal: Proposal) -> None:
    vote_cast(actor=evo.team.reviewer, proposal=proposal, value=2)
    moved = version_create(actor=evo.team.owner, project=evo.team.project, files={"system.md": "new\n"}, message="m")
    expected = f"stale: head moved to v{moved.number} since this was proposed; rebase it"
    assert _state(proposal).blockers == (expected,)

    with pytest.raises(Conflict, match=expected):
        proposal_merge_reviewed(actor=evo.team.maintainer, proposal=proposal)
    assert _head_number(evo) == moved.number
    proposal.refresh_from_db()
    assert proposal.merged_at is None and not AuditEvent.objects.filter(action="proposal.merge").exists()


def test_only_maintainers_merge(evo: Evo, proposal: Proposal) -> None:
    vote_cast(actor=evo.team.owner, proposal=proposal, value=2)
    with pytest.raises(PermissionDenied):
        proposal_merge_reviewed(actor=evo.team.reviewer, proposal=proposal)


def test_auto_rejected_proposals_cannot_be_merged(evo: Evo, campaign: Campaign) -> None:
    proposal = waiting(campaign, outcome=Outcome.AUTO_REJECT)
    assert approval_state(proposal).blockers == ("auto-rejected proposals cannot be merged",)
    with pytest.raises(Conflict, match="auto-rejected proposals cannot be merged"):
        proposal_merge_reviewed(actor=evo.team.maintainer, proposal=proposal)


def test_reject_closes_and_teaches_the_memory(evo: Evo, proposal: Proposal) -> None:
    proposal_reject(actor=evo.team.maintainer, proposal=proposal, reason="It  hides the refund policy.")

    proposal.refresh_from_db()
    assert proposal.closed_by == evo.team.maintainer and proposal.closed_reason == "It hides the refund policy."
    assert _state(proposal).blockers == ("rejected by maintainer: It hides the refund policy.",)
    entry = MemoryEntry.objects.get(kind="review")
    assert entry.text == f"proposal #{proposal.number} rejected by maintainer: It hides the refund policy."
    assert AuditEvent.objects.get(action="proposal.reject").after == {"reason": "It hides the refund policy."}
    with pytest.raises(Conflict, match="already closed"):
        proposal_reject(actor=evo.team.owner, proposal=proposal, reason="again")
    with pytest.raises(Conflict, match="closed"):
        vote_cast(actor=evo.team.reviewer, proposal=proposal, value=2)


def test_reject_needs_a_reason_and_a_maintainer(evo: Evo, proposal: Proposal) -> None:
    with pytest.raises(ValidationFailed, match="why"):
        proposal_reject(actor=evo.team.maintainer, proposal=proposal, reason="  ")
    with pytest.raises(PermissionDenied):
        proposal_reject(actor=evo.team.reviewer, proposal=proposal, reason="no")
