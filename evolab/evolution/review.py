"""People's review of a proposal: votes bound to the diff and base they were given on,
threaded comments (a blocking one holds the merge until it is fixed or dropped), and
the maintainer's decisions, merge or reject.

Every write here takes a row lock on the proposal first, so votes, blocking comments,
merges and rejections of one proposal happen one after the other: a merge that comes
after a veto sees it and refuses; a veto that comes after a merge is refused because the
proposal is merged. (SQLite's IMMEDIATE transactions serialise writers anyway.) Head
still moves only by compare-and-swap, so two proposals built on the same base cannot
both be merged.

What a reviewer below maintainer may not see stays out of their reach here too: a case
anchor on a held-out case is accepted only from maintainers, such comments are listed
only to maintainers, and they never enter the campaign memory (which proposer prompts
read) nor an audit text.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from django.contrib.auth.models import User
from django.core.exceptions import PermissionDenied
from django.db import transaction
from django.db.models import OuterRef, QuerySet, Subquery
from django.utils import timezone

from evolab.core.actions import audit_record, event_emit
from evolab.core.errors import Conflict, ValidationFailed
from evolab.engine.approval_rules import ApprovalRules, Ballot, counts_as_approval, plural, tally
from evolab.evals.models import EvalCase, Split
from evolab.evolution.actions import MAX_COMMENT_CHARS, memory_record, policy_current, proposal_merge
from evolab.evolution.models import (
    Comment,
    CommentAnchor,
    MemoryKind,
    NotificationKind,
    Outcome,
    Proposal,
    ProposalStage,
    Resolution,
    Vote,
    VoteValue,
)
from evolab.evolution.notifications import notify_each
from evolab.evolution.policy import CRITICAL_REASON_CODES, PolicyRules
from evolab.harnesses.models import HarnessHead, HarnessVersion
from evolab.projects.models import Membership, Role

MAX_REASON_CHARS = 300
ROLE_BY_LABEL = {role.label: role for role in Role}
# "@name" where a username may hold letters, digits and . + - _ (a trailing "." ends a sentence).
_MENTION = re.compile(r"(?<![\w@])@([\w.+-]*[\w+-])")


# --- reading -------------------------------------------------------------------------


@dataclass(frozen=True)
class VoteRow:
    vote: Vote
    role: Role | None  # the voter's role now; None once they left the project
    stale: bool  # given on another diff or base than the proposal's now
    counts: bool  # a +2 that counts towards the approvals needed

    @property
    def voter(self) -> str:
        return self.vote.voter.get_username()


@dataclass(frozen=True)
class ApprovalState:
    """Whether a proposal may be merged now, and if not, every reason why, in words."""

    approvals_needed: int
    approvals: tuple[str, ...]  # voters whose +2 counts
    vetoes: tuple[str, ...]  # voters whose -2 is current
    stale_votes: tuple[str, ...]  # voters whose vote was given on another diff or base
    open_blocking: int
    head_is_base: bool
    head_number: int | None
    critical: bool  # a critical trigger fired, so `approvals_needed` is the critical count
    merged: bool
    closed: bool
    votes: tuple[VoteRow, ...]
    blockers: tuple[str, ...]

    @property
    def mergeable(self) -> bool:
        return not self.blockers


def stale_text(head_number: int | None) -> str:
    where = f"head moved to v{head_number}" if head_number is not None else "the project has no head"
    return f"stale: {where} since this was proposed; rebase it"


def approval_state(proposal: Proposal, rules: PolicyRules | None = None) -> ApprovalState:
    """The proposal's review as it stands, in a fixed number of queries: the policy
    (unless given), the votes with their voters' roles, the open blocking comments, head."""
    if rules is None:
        rules, _ = policy_current(proposal.project)
    role_now = Membership.objects.filter(project_id=proposal.project_id, user_id=OuterRef("voter_id")).values("role")
    votes = list(
        Vote.objects.filter(proposal=proposal)
        .select_related("voter")
        .annotate(voter_role=Subquery(role_now[:1]))
        .order_by("created_at", "pk")
    )
    open_blocking = Comment.objects.filter(proposal=proposal, blocking=True, resolution=Resolution.OPEN).count()
    head = HarnessHead.objects.filter(project_id=proposal.project_id).values_list("version_id", "version__number")
    head_id, head_number = head.first() or (None, None)

    critical = any(reason.get("code") in CRITICAL_REASON_CODES for reason in proposal.reasons)
    needed = rules.approvals_needed_critical if critical else rules.approvals_needed
    # The vote-counting rule is shared with suite change requests (evolab.engine.approval_rules).
    counting = ApprovalRules(
        approvals_needed=needed,
        approver_min_rank=ROLE_BY_LABEL[rules.approver_min_role],
        veto_min_rank=Role.REVIEWER,
    )
    rows = []
    ballots = []
    for vote in votes:
        role = Role(vote.voter_role) if vote.voter_role is not None else None  # type: ignore[attr-defined]
        ballot = Ballot(
            voter=vote.voter.get_username(),
            approve=vote.value == VoteValue.APPROVE,
            veto=vote.value == VoteValue.VETO,
            rank=role,
            stale=vote.diff_hash != proposal.diff_hash or vote.base_version_id != proposal.base_version_id,
            is_author=vote.voter_id == proposal.author_id,
        )
        ballots.append(ballot)
        rows.append(VoteRow(vote=vote, role=role, stale=ballot.stale, counts=counts_as_approval(ballot, counting)))
    counted = tally(ballots, counting)
    approvals, vetoes = counted.approvals, counted.vetoes
    head_is_base = head_id == proposal.base_version_id
    blockers = _blockers(proposal, counted.blockers, open_blocking, head_is_base, head_number)
    return ApprovalState(
        approvals_needed=needed,
        approvals=approvals,
        vetoes=vetoes,
        stale_votes=tuple(row.voter for row in rows if row.stale),
        open_blocking=open_blocking,
        head_is_base=head_is_base,
        head_number=head_number,
        critical=critical,
        merged=proposal.merged_at is not None,
        closed=proposal.closed_at is not None,
        votes=tuple(rows),
        blockers=blockers,
    )


def _blockers(
    proposal: Proposal,
    vote_blockers: tuple[str, ...],
    open_blocking: int,
    head_is_base: bool,
    head_number: int | None,
) -> tuple[str, ...]:
    # A finished proposal has one reason only; the counts below would be noise.
    if proposal.merged_at is not None:
        return ("already merged",)
    if proposal.closed_at is not None:
        who = f"rejected by {proposal.closed_by.get_username()}" if proposal.closed_by else "closed"
        return (f"{who}: {proposal.closed_reason}" if proposal.closed_reason else who,)
    if proposal.outcome == Outcome.AUTO_REJECT:
        return ("auto-rejected proposals cannot be merged",)
    if proposal.candidate_version_id is None or proposal.outcome not in (Outcome.NEEDS_REVIEW, Outcome.AUTO_MERGE):
        return ("not evaluated yet",)
    blockers = list(vote_blockers)
    if open_blocking:
        blockers.append(f"{plural(open_blocking, 'open blocking comment')}")
    if not head_is_base:
        blockers.append(stale_text(head_number))
    return tuple(blockers)


def comments_of(proposal: Proposal, role: Role) -> QuerySet[Comment]:
    """The proposal's comments, oldest first, as `role` may see them: below maintainer,
    the threads anchored to held-out cases are left out."""
    comments = (
        Comment.objects.filter(proposal=proposal).select_related("author", "resolved_by").order_by("created_at", "pk")
    )
    if role < Role.MAINTAINER:
        holdout = EvalCase.objects.filter(version_id=proposal.campaign.suite_version_id, split=Split.HOLDOUT)
        comments = comments.exclude(anchor=CommentAnchor.CASE, case_key__in=holdout.values("key"))
    return comments


@dataclass(frozen=True)
class Review:
    proposal: Proposal
    state: ApprovalState
    comments: list[Comment]


def review_of(proposal: Proposal, role: Role) -> Review:
    return Review(proposal=proposal, state=approval_state(proposal), comments=list(comments_of(proposal, role)))


# --- writing -------------------------------------------------------------------------


def _role(project_id: int, user: User) -> Role | None:
    role = Membership.objects.filter(project_id=project_id, user_id=user.pk).values_list("role", flat=True).first()
    return Role(role) if role is not None else None


def _require(project_id: int, actor: User, min_role: Role) -> Role:
    """The actor's role; callers check it with `get_project_for` already, this is the
    action's own guard for callers that did not."""
    role = _role(project_id, actor)
    if role is None or role < min_role:
        raise PermissionDenied(f"This needs the {min_role.label} role or higher.")
    return role


def _locked(proposal: Proposal) -> Proposal:
    """Re-read the proposal under a row lock (SQLite: the transaction's write lock)."""
    return (
        Proposal.objects.select_for_update(of=("self",))
        .select_related("project", "campaign", "base_version", "candidate_version", "author", "assignee", "closed_by")
        .defer("base_version__files", "candidate_version__files")
        .get(pk=proposal.pk)
    )


def _check_open(proposal: Proposal) -> None:
    if proposal.merged_at is not None:
        raise Conflict("This proposal is already merged.", field="proposal")
    if proposal.closed_at is not None:
        raise Conflict("This proposal is closed.", field="proposal")
    if proposal.outcome == Outcome.AUTO_REJECT:
        raise Conflict("Auto-rejected proposals cannot be reviewed or merged.", field="proposal")
    if not proposal.diff_hash:
        raise Conflict("This proposal has no evaluated diff yet.", field="proposal")


def _label(proposal: Proposal) -> str:
    return f"proposal {proposal.number}"


def _event(proposal: Proposal) -> None:
    event_emit(project_id=proposal.project_id, type="proposal.status", object_type="proposal", object_id=proposal.pk)


def vote_cast(*, actor: User, proposal: Proposal, value: int) -> Vote:
    """Cast or replace the actor's vote, bound to the proposal's diff and base now."""
    if value not in VoteValue.values:
        raise ValidationFailed("A vote is -2, -1, +1 or +2.", field="value")
    _require(proposal.project_id, actor, Role.REVIEWER)
    with transaction.atomic():
        proposal = _locked(proposal)
        _check_open(proposal)
        before = Vote.objects.filter(proposal=proposal, voter=actor).values_list("value", flat=True).first()
        vote, _ = Vote.objects.update_or_create(
            proposal=proposal,
            voter=actor,
            defaults={"value": value, "diff_hash": proposal.diff_hash, "base_version_id": proposal.base_version_id},
        )
        audit_record(
            actor=actor,
            project_id=proposal.project_id,
            action="proposal.vote",
            object_type="proposal",
            object_id=proposal.pk,
            object_label=_label(proposal),
            before=before,
            after={"value": value, "diff_hash": proposal.diff_hash, "base": proposal.base_version.number},
        )
        if value == VoteValue.VETO:
            notify_each(
                [proposal.author, proposal.assignee],
                project=proposal.project,
                kind=NotificationKind.VETO,
                text=f"{actor.get_username()} vetoed proposal #{proposal.number}",
                proposal=proposal,
                skip=actor,
            )
        _event(proposal)
    return vote


@dataclass(frozen=True)
class _Anchor:
    anchor: str
    path: str = ""
    line: int | None = None
    case_key: str = ""
    holdout: bool = False


def _check_anchor(proposal: Proposal, role: Role, anchor: str, path: str, line: int | None, case_key: str) -> _Anchor:
    if anchor == CommentAnchor.PROPOSAL:
        return _Anchor(anchor)
    if anchor == CommentAnchor.LINE:
        if path not in proposal.touched_paths:
            raise ValidationFailed("Anchor a line comment to a file this proposal changes.", field="path")
        if line is None or line < 1:
            raise ValidationFailed("A line number starts at 1.", field="line")
        candidate = HarnessVersion.objects.filter(pk=proposal.candidate_version_id or 0)
        text = (candidate.values_list("files", flat=True).first() or {}).get(path)
        if text is not None and line > max(1, len(text.splitlines())):
            raise ValidationFailed(f"{path} has {len(text.splitlines())} lines.", field="line")
        return _Anchor(anchor, path=path, line=line)
    if anchor == CommentAnchor.CASE:
        cases = EvalCase.objects.filter(version_id=proposal.campaign.suite_version_id, key=case_key)
        if role < Role.MAINTAINER:
            # The same answer for a held-out key as for a missing one: neither is visible.
            cases = cases.exclude(split=Split.HOLDOUT)
        split = cases.values_list("split", flat=True).first()
        if not case_key or split is None:
            raise ValidationFailed("No case with that key in this proposal's suite version.", field="case_key")
        return _Anchor(anchor, case_key=case_key, holdout=split == Split.HOLDOUT)
    raise ValidationFailed("Anchor a comment to the proposal, a diff line or a case.", field="anchor")


def _thread_anchor(parent: Comment, proposal: Proposal) -> _Anchor:
    holdout = (
        parent.anchor == CommentAnchor.CASE
        and EvalCase.objects.filter(
            version_id=proposal.campaign.suite_version_id, key=parent.case_key, split=Split.HOLDOUT
        ).exists()
    )
    return _Anchor(parent.anchor, path=parent.path, line=parent.line, case_key=parent.case_key, holdout=holdout)


def _mentioned_names(text: str) -> list[str]:
    return list(dict.fromkeys(_MENTION.findall(text)))


def comment_add(
    *,
    actor: User,
    proposal: Proposal,
    text: str,
    anchor: str = CommentAnchor.PROPOSAL,
    path: str = "",
    line: int | None = None,
    case_key: str = "",
    blocking: bool = False,
    parent: Comment | None = None,
) -> Comment:
    """A review comment; a reply takes its thread's anchor. It also enters the campaign
    memory, so later proposer prompts know what people asked for, unless it is about a
    held-out case. Members @mentioned (who may see it) are notified."""
    text = text.strip()
    if not text:
        raise ValidationFailed("Write a comment.", field="text")
    if len(text) > MAX_COMMENT_CHARS:
        raise ValidationFailed(f"Keep a comment under {MAX_COMMENT_CHARS:,} characters.", field="text")
    role = _require(proposal.project_id, actor, Role.REVIEWER)
    with transaction.atomic():
        proposal = _locked(proposal)
        if parent is not None:
            if parent.proposal_id != proposal.pk:
                raise ValidationFailed("Reply to a comment of this proposal.", field="parent")
            where = _thread_anchor(parent, proposal)
            if where.holdout and role < Role.MAINTAINER:
                raise ValidationFailed("Reply to a comment of this proposal.", field="parent")
        else:
            where = _check_anchor(proposal, role, anchor, path, line, case_key)
        if blocking and (proposal.merged_at is not None or proposal.closed_at is not None):
            raise Conflict("A merged or closed proposal takes no blocking comment.", field="blocking")
        comment = Comment.objects.create(
            proposal=proposal,
            parent=parent,
            author=actor,
            text=text,
            anchor=where.anchor,
            path=where.path,
            line=where.line,
            case_key=where.case_key,
            blocking=blocking,
        )
        if not where.holdout:
            verdict = proposal.get_outcome_display() if proposal.outcome else "not classified yet"
            memory_record(
                campaign=proposal.campaign,
                proposal=proposal,
                kind=MemoryKind.REVIEW,
                text=(
                    f"reviewer comment on proposal #{proposal.number} ({verdict}) by {actor.get_username()}: "
                    f"{' '.join(text.split())}"
                ),
            )
        audit_record(
            actor=actor,
            project_id=proposal.project_id,
            action="proposal.comment",
            object_type="proposal",
            object_id=proposal.pk,
            object_label=_label(proposal),
            after={
                "comment": comment.pk,
                "anchor": where.anchor,
                "blocking": blocking,
                **({} if where.holdout else {"text": text}),
            },
        )
        _notify_mentions(actor, proposal, text, holdout=where.holdout)
        _event(proposal)
    return comment


def _notify_mentions(actor: User, proposal: Proposal, text: str, *, holdout: bool) -> None:
    names = _mentioned_names(text)
    if not names:
        return
    members = Membership.objects.filter(project_id=proposal.project_id, user__username__in=names)
    if holdout:
        members = members.filter(role__gte=Role.MAINTAINER)
    notify_each(
        [membership.user for membership in members.select_related("user").order_by("user_id")],
        project=proposal.project,
        kind=NotificationKind.MENTION,
        text=f"{actor.get_username()} mentioned you on proposal #{proposal.number}",
        proposal=proposal,
        skip=actor,
    )


def comment_resolve(*, actor: User, comment: Comment, resolution: str, reason: str = "") -> Comment:
    """Mark a comment fixed, or dropped with a reason; by its author or a maintainer."""
    if resolution not in (Resolution.FIXED, Resolution.DROPPED):
        raise ValidationFailed("A comment is resolved as fixed or dropped.", field="resolution")
    reason = " ".join(reason.split())
    if resolution == Resolution.DROPPED and not reason:
        raise ValidationFailed("Say why the comment is dropped.", field="reason")
    if len(reason) > 500:
        raise ValidationFailed("Keep the reason under 500 characters.", field="reason")
    role = _require(comment.proposal.project_id, actor, Role.REVIEWER)
    if role < Role.MAINTAINER and comment.author_id != actor.pk:
        raise PermissionDenied("Only the comment's author or a maintainer resolves it.")
    with transaction.atomic():
        proposal = _locked(comment.proposal)
        comment = Comment.objects.select_for_update().get(pk=comment.pk)
        if comment.resolution != Resolution.OPEN:
            raise Conflict(f"This comment is already marked {comment.resolution}.", field="resolution")
        comment.resolution = resolution
        comment.resolution_reason = reason
        comment.resolved_by = actor
        comment.resolved_at = timezone.now()
        comment.save(update_fields=["resolution", "resolution_reason", "resolved_by", "resolved_at"])
        audit_record(
            actor=actor,
            project_id=proposal.project_id,
            action="proposal.comment_resolve",
            object_type="proposal",
            object_id=proposal.pk,
            object_label=_label(proposal),
            after={"comment": comment.pk, "resolution": resolution, "reason": reason, "blocking": comment.blocking},
        )
        _event(proposal)
    return comment


def proposal_merge_reviewed(*, actor: User, proposal: Proposal) -> Proposal:
    """Merge a reviewed proposal: refused (Conflict, with every blocker) unless its
    review allows it now; head moves by compare-and-swap, so a head that moved since the
    check refuses with "stale" and changes nothing. Author, assignee and voters are told."""
    _require(proposal.project_id, actor, Role.MAINTAINER)
    with transaction.atomic():
        proposal = _locked(proposal)
        state = approval_state(proposal)
        if not state.mergeable:
            raise Conflict(
                f"Cannot merge proposal #{proposal.number}: {'; '.join(state.blockers)}.",
                field="proposal",
                details={"blockers": list(state.blockers)},
            )
        try:
            proposal_merge(
                actor=actor,
                proposal=proposal,
                details={"approvals": list(state.approvals), "approvals_needed": state.approvals_needed},
            )
        except Conflict as error:
            if error.field != "head":
                raise
            head = (error.details or {}).get("head")
            raise Conflict(
                f"Cannot merge proposal #{proposal.number}: {stale_text(head)}.", field="head", details=error.details
            ) from None
        assert proposal.candidate_version is not None  # proposal_merge refuses otherwise
        notify_each(
            [proposal.author, proposal.assignee, *(row.vote.voter for row in state.votes)],
            project=proposal.project,
            kind=NotificationKind.MERGE,
            text=(
                f"{actor.get_username()} merged proposal #{proposal.number}: "
                f"head is v{proposal.candidate_version.number}"
            ),
            proposal=proposal,
            skip=actor,
        )
    proposal.refresh_from_db(fields=["merged_at", "merged_by"])
    return proposal


def proposal_reject(*, actor: User, proposal: Proposal, reason: str) -> Proposal:
    """Close a proposal without merging it; the campaign memory learns who refused it
    and why, so the loop does not propose it again."""
    reason = " ".join(reason.split())
    if not reason:
        raise ValidationFailed("Say why the proposal is rejected.", field="reason")
    if len(reason) > MAX_REASON_CHARS:
        raise ValidationFailed(f"Keep the reason under {MAX_REASON_CHARS} characters.", field="reason")
    _require(proposal.project_id, actor, Role.MAINTAINER)
    with transaction.atomic():
        proposal = _locked(proposal)
        if proposal.merged_at is not None:
            raise Conflict("This proposal is already merged; revert it instead.", field="proposal")
        if proposal.closed_at is not None:
            raise Conflict("This proposal is already closed.", field="proposal")
        if proposal.outcome == Outcome.AUTO_REJECT:
            raise Conflict("This proposal was auto-rejected already.", field="proposal")
        if proposal.stage != ProposalStage.CLASSIFIED:
            raise Conflict("Wait until this proposal is evaluated.", field="proposal")
        proposal.closed_at = timezone.now()
        proposal.closed_by = actor
        proposal.closed_reason = reason
        proposal.save(update_fields=["closed_at", "closed_by", "closed_reason"])
        memory_record(
            campaign=proposal.campaign,
            proposal=proposal,
            kind=MemoryKind.REVIEW,
            text=f"proposal #{proposal.number} rejected by {actor.get_username()}: {reason}",
        )
        audit_record(
            actor=actor,
            project_id=proposal.project_id,
            action="proposal.reject",
            object_type="proposal",
            object_id=proposal.pk,
            object_label=_label(proposal),
            after={"reason": reason},
        )
        _event(proposal)
    return proposal
