"""Every state change of suite change requests: open, submit, vote, comment, apply, close,
and the owners' review policy of a suite.

Lifecycle: draft → in_review ⇄ approved → applied (a new SuiteVersion, linked), or
closed from any open state. `approved` is kept in step with the votes after each vote
(a later veto sends it back to in review); apply re-checks the votes under a lock.

Votes are counted by the rule shared with harness proposals
(`evolab.engine.approval_rules`): approvals from the policy's approver role up, never
the author's own; any current veto blocks; a change touching the holdout split needs
the stricter count; one that moves a case into or out of holdout needs an owner's
approval (or an owner as its author).

Head moved since the base? Apply rebases when that is safe: if none of the cases the
request touches (nor the default grader, when it sets one) changed between its base and
the head, the operations are replayed on the head; otherwise it refuses with a conflict
naming the cases, and nothing is written.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from django.contrib.auth.models import User
from django.core.exceptions import PermissionDenied
from django.db import IntegrityError, transaction
from django.db.models import Max
from django.utils import timezone

from evolab.core.actions import audit_record, event_emit
from evolab.core.errors import Conflict, ValidationFailed
from evolab.engine.approval_rules import ApprovalRules, Ballot, Tally, tally
from evolab.evals.actions import cases_by_key, suite_head_locked, suite_version_create
from evolab.evals.change_operations import HOLDOUT, plan_operations
from evolab.evals.change_policy import SuitePolicy
from evolab.evals.models import (
    ChangeRequest,
    ChangeRequestComment,
    ChangeRequestStatus,
    ChangeRequestVote,
    ChangeRequestVoteValue,
    EvalCase,
    EvalSuite,
    SuiteVersion,
)
from evolab.projects.models import Membership, Role

MAX_TITLE = 200
MAX_DESCRIPTION = 20_000
MAX_COMMENT = 10_000
MAX_REASON = 300
MAX_SOURCE_CHARS = 2_000
Status = ChangeRequestStatus


def _role(project_id: int, user: User) -> Role | None:
    role = Membership.objects.filter(project_id=project_id, user_id=user.pk).values_list("role", flat=True).first()
    return Role(role) if role is not None else None


def _require(project_id: int, actor: User, min_role: Role) -> Role:
    """The actor's role; entry points check it with `get_project_for` already, this is
    the action's own guard for callers that did not (H6b's curation calls us directly)."""
    role = _role(project_id, actor)
    if role is None or role < min_role:
        raise PermissionDenied(f"This needs the {min_role.label} role or higher.")
    return role


def policy_of(suite: EvalSuite) -> SuitePolicy:
    return SuitePolicy.from_dict(suite.change_policy or {})


def _label(change_request: ChangeRequest) -> str:
    return f"{change_request.suite.slug} change request #{change_request.number}"


def _audit(actor: User | None, change_request: ChangeRequest, action: str, **after: Any) -> None:
    audit_record(
        actor=actor,
        project_id=change_request.suite.project_id,
        action=f"suite.change_request.{action}",
        object_type="change_request",
        object_id=change_request.pk,
        object_label=_label(change_request),
        after={"number": change_request.number, "status": change_request.status, **after},
    )
    event_emit(
        project_id=change_request.suite.project_id,
        type="change_request.status",
        object_type="change_request",
        object_id=change_request.pk,
        data={"suite": change_request.suite.slug, "number": change_request.number, "status": change_request.status},
    )


def _check_source(source: dict[str, Any] | None) -> dict[str, Any] | None:
    if source is None:
        return None
    if not isinstance(source, dict):
        raise ValidationFailed('A source is a JSON object, e.g. {"kind": "result", "run": 12}.', field="source")
    try:
        text = json.dumps(source)
    except (TypeError, ValueError):
        raise ValidationFailed("A source holds JSON values only.", field="source") from None
    if len(text) > MAX_SOURCE_CHARS:
        raise ValidationFailed(f"Keep the source under {MAX_SOURCE_CHARS:,} characters of JSON.", field="source")
    return source


def change_request_open(
    *,
    suite: EvalSuite,
    author: User,
    title: str,
    description: str = "",
    operations: list[dict[str, Any]],
    source: dict[str, Any] | None = None,
    draft: bool = False,
) -> ChangeRequest:
    """Open a change request on the suite's latest version, in review (or a draft).

    Every operation is checked against that version first (graders, existing keys for
    edit/delete, unique keys for add); a wrong one raises ValidationFailed naming it and
    nothing is written. Authors below maintainer cannot touch held-out cases. `source`
    records where the request came from (e.g. a run's result) and is shown on its page.
    """
    role = _require(suite.project_id, author, Role.REVIEWER)
    title = " ".join(title.split())
    if not title:
        raise ValidationFailed("Give the change request a title.", field="title")
    if len(title) > MAX_TITLE:
        raise ValidationFailed(f"Keep the title under {MAX_TITLE} characters.", field="title")
    if len(description) > MAX_DESCRIPTION:
        raise ValidationFailed(f"Keep the description under {MAX_DESCRIPTION:,} characters.", field="description")
    source = _check_source(source)
    with transaction.atomic():
        base = suite_head_locked(suite)
        grader = base.default_grader if base is not None else suite.default_grader
        plan = plan_operations(cases_by_key(base), grader, operations, may_touch_holdout=role >= Role.MAINTAINER)
        number = (ChangeRequest.objects.filter(suite=suite).aggregate(n=Max("number"))["n"] or 0) + 1
        try:
            with transaction.atomic():
                change_request = ChangeRequest.objects.create(
                    suite=suite,
                    number=number,
                    base_version=base,
                    author=author,
                    title=title,
                    description=description.strip(),
                    status=Status.DRAFT if draft else Status.IN_REVIEW,
                    operations=plan.operations,
                    operation_count=len(plan.operations),
                    source=source,
                    touches_holdout=plan.touches_holdout,
                    moves_holdout=plan.moves_holdout,
                )
        except IntegrityError:
            raise Conflict("Another change request took this number first; try again.") from None
        change_request.suite = suite
        _audit(
            author,
            change_request,
            "open",
            base=base.number if base else None,
            operations=len(plan.operations),
            touches_holdout=plan.touches_holdout,
            moves_holdout=plan.moves_holdout,
            source=source,
        )
    return change_request


def _locked(change_request: ChangeRequest) -> ChangeRequest:
    return (
        ChangeRequest.objects.select_for_update(of=("self",))
        .select_related("suite", "base_version", "author")
        .get(pk=change_request.pk)
    )


def _check_open(change_request: ChangeRequest) -> None:
    if change_request.status == Status.APPLIED:
        raise Conflict("This change request is applied already.", field="status")
    if change_request.status == Status.CLOSED:
        raise Conflict("This change request is closed.", field="status")


def _author_or_maintainer(change_request: ChangeRequest, actor: User, what: str) -> None:
    role = _require(change_request.suite.project_id, actor, Role.REVIEWER)
    if role < Role.MAINTAINER and change_request.author_id != actor.pk:
        raise PermissionDenied(f"Only the author or a maintainer {what} a change request.")


def change_request_submit(*, actor: User, change_request: ChangeRequest) -> ChangeRequest:
    """A draft goes to review (its author or a maintainer)."""
    with transaction.atomic():
        change_request = _locked(change_request)
        _author_or_maintainer(change_request, actor, "submits")
        if change_request.status != Status.DRAFT:
            raise Conflict("Only a draft is submitted for review.", field="status")
        change_request.status = Status.IN_REVIEW
        change_request.save(update_fields=["status", "updated_at"])
        _audit(actor, change_request, "submit")
    return change_request


# --- the review state --------------------------------------------------------------


@dataclass(frozen=True)
class ReviewState:
    policy: SuitePolicy
    tally: Tally
    votes: tuple[tuple[str, str, bool], ...]  # (voter, value, counts) in vote order
    direct_allowed: bool  # a maintainer may apply it now without its approvals

    @property
    def blockers(self) -> tuple[str, ...]:
        return self.tally.blockers

    @property
    def approved(self) -> bool:
        return not self.tally.blockers


def direct_rule(policy: SuitePolicy) -> str:
    """The direct-apply rule in words, for refusals and the policy panel."""
    if not policy.allow_direct_apply:
        return "maintainers apply a change request without its approvals"
    return (
        f"maintainers apply without approvals a change request of more than {policy.direct_max_ops} "
        "operations or one touching holdout"
    )


def approval_rules(change_request: ChangeRequest, policy: SuitePolicy) -> ApprovalRules:
    needed = policy.approvals_needed_holdout if change_request.touches_holdout else policy.approvals_needed
    return ApprovalRules(
        approvals_needed=needed,
        approver_min_rank=policy.approver_rank,
        veto_min_rank=Role.REVIEWER,
        consent_rank=Role.OWNER if change_request.moves_holdout else None,
        consent_label="owner (a case moves into or out of holdout)",
    )


def review_state(change_request: ChangeRequest) -> ReviewState:
    """The votes as they count now (current roles), in two queries."""
    policy = policy_of(change_request.suite)
    roles = dict(Membership.objects.filter(project_id=change_request.suite.project_id).values_list("user_id", "role"))
    votes = list(
        ChangeRequestVote.objects.filter(change_request=change_request)
        .select_related("voter")
        .order_by("created_at", "pk")
    )
    rules = approval_rules(change_request, policy)
    ballots = [
        Ballot(
            voter=vote.voter.get_username(),
            approve=vote.value == ChangeRequestVoteValue.APPROVE,
            veto=vote.value == ChangeRequestVoteValue.VETO,
            rank=roles.get(vote.voter_id),
            is_author=vote.voter_id == change_request.author_id,
        )
        for vote in votes
    ]
    counted = tally(ballots, rules, author_rank=roles.get(change_request.author_id or 0))
    rows = tuple(
        (ballot.voter, vote.value, ballot.voter in counted.approvals)
        for ballot, vote in zip(ballots, votes, strict=True)
    )
    direct = policy.allow_direct_apply and policy.is_small(
        change_request.operation_count, change_request.touches_holdout
    )
    return ReviewState(policy=policy, tally=counted, votes=rows, direct_allowed=direct)


def _sync_status(change_request: ChangeRequest) -> None:
    if change_request.status not in (Status.IN_REVIEW, Status.APPROVED):
        return
    status = Status.APPROVED if review_state(change_request).approved else Status.IN_REVIEW
    if status != change_request.status:
        change_request.status = status
        change_request.save(update_fields=["status", "updated_at"])


def change_request_vote(*, actor: User, change_request: ChangeRequest, value: str) -> ChangeRequestVote:
    """Cast or replace the actor's vote: approve, request changes, or veto."""
    if value not in ChangeRequestVoteValue.values:
        raise ValidationFailed("A vote is approve, request_changes or veto.", field="value")
    _require(change_request.suite.project_id, actor, Role.REVIEWER)
    with transaction.atomic():
        change_request = _locked(change_request)
        _check_open(change_request)
        if change_request.status == Status.DRAFT:
            raise Conflict("This change request is a draft; it takes votes once submitted.", field="status")
        before = (
            ChangeRequestVote.objects.filter(change_request=change_request, voter=actor)
            .values_list("value", flat=True)
            .first()
        )
        vote, _ = ChangeRequestVote.objects.update_or_create(
            change_request=change_request, voter=actor, defaults={"value": value}
        )
        _sync_status(change_request)
        _audit(actor, change_request, "vote", value=value, before=before)
    return vote


def change_request_comment(
    *, actor: User, change_request: ChangeRequest, text: str, case_key: str = ""
) -> ChangeRequestComment:
    """A comment, general or anchored to a case of the request (its base or an added
    case). Below maintainer a held-out case cannot be an anchor: it answers as a missing key."""
    text = text.strip()
    if not text:
        raise ValidationFailed("Write a comment.", field="text")
    if len(text) > MAX_COMMENT:
        raise ValidationFailed(f"Keep a comment under {MAX_COMMENT:,} characters.", field="text")
    role = _require(change_request.suite.project_id, actor, Role.REVIEWER)
    case_key = case_key.strip()
    with transaction.atomic():
        change_request = _locked(change_request)
        holdout = False
        if case_key:
            splits = _splits_of(change_request, case_key)
            holdout = HOLDOUT in splits
            if not splits or (holdout and role < Role.MAINTAINER):
                raise ValidationFailed("No case with that key in this change request's suite.", field="case_key")
        comment = ChangeRequestComment.objects.create(
            change_request=change_request, author=actor, case_key=case_key, holdout=holdout, text=text
        )
        # A comment on a held-out case may quote it: its text stays out of the audit log.
        _audit(
            actor,
            change_request,
            "comment",
            comment=comment.pk,
            case_key=case_key,
            **({} if holdout else {"text": text}),
        )
    return comment


def _splits_of(change_request: ChangeRequest, key: str) -> set[str]:
    """The splits `key` has in the base and after the request (empty: no such case)."""
    splits: set[str] = set()
    if change_request.base_version_id is not None:
        base = cases_by_key(change_request.base_version).get(key)
        if base is not None:
            splits.add(base["split"])
    for op in change_request.operations:
        if op["op"] == "add" and op["case"]["key"] == key:
            splits.add(op["case"]["split"])
        elif op.get("key") == key:
            split = op.get("split") or op.get("changes", {}).get("split")
            if split:
                splits.add(split)
    return splits


def change_request_apply(*, actor: User, change_request: ChangeRequest, direct: bool = False) -> SuiteVersion:
    """Apply the request as the suite's next version, in one transaction.

    Without `direct` its votes must allow it now. With `direct`, a maintainer skips the
    review, which the suite's policy must allow for a change this small (or the suite
    has no version yet: a first version has nothing to review against). Raises Conflict
    with every blocker, or when head moved and touched cases changed meanwhile.
    """
    _require(change_request.suite.project_id, actor, Role.MAINTAINER)
    with transaction.atomic():
        change_request = _locked(change_request)
        _check_open(change_request)
        state = review_state(change_request)
        if direct:
            if not (state.direct_allowed or change_request.base_version_id is None):
                raise PermissionDenied(f"This suite's policy does not let {direct_rule(state.policy)}.")
        elif change_request.status == Status.DRAFT:
            raise Conflict("Submit the draft for review first.", field="status")
        elif state.blockers:
            raise Conflict(
                f"Cannot apply change request #{change_request.number}: {'; '.join(state.blockers)}.",
                field="status",
                details={"blockers": list(state.blockers)},
            )
        head = suite_head_locked(change_request.suite)
        start = _rebased_start(change_request, head)
        grader = head.default_grader if head is not None else change_request.suite.default_grader
        plan = plan_operations(start, grader, change_request.operations)
        version = suite_version_create(
            actor=actor,
            suite=change_request.suite,
            cases=plan.cases,
            default_grader=plan.default_grader,
            message=f"change request #{change_request.number}: {change_request.title}",
            audit={"change_request": change_request.number, "direct": direct, "operations": len(plan.operations)},
        )
        change_request.status = Status.APPLIED
        change_request.applied_version = version
        change_request.applied_directly = direct
        change_request.decided_by = actor
        change_request.decided_at = timezone.now()
        change_request.save(
            update_fields=["status", "applied_version", "applied_directly", "decided_by", "decided_at", "updated_at"]
        )
        _audit(
            actor,
            change_request,
            "apply",
            version=version.number,
            direct=direct,
            approvals=list(state.tally.approvals),
            rebased_onto=head.number if head is not None and head != change_request.base_version else None,
        )
    return version


def _rebased_start(change_request: ChangeRequest, head: SuiteVersion | None) -> dict[str, dict[str, Any]]:
    base = change_request.base_version
    base_cases = cases_by_key(base)
    if head is None or (base is not None and head.pk == base.pk):
        return base_cases
    head_cases = cases_by_key(head)
    touched = {
        op.get("key") or op["case"]["key"] for op in change_request.operations if op["op"] != "set_default_grader"
    }
    moved = sorted(key for key in touched if base_cases.get(key) != head_cases.get(key))
    sets_grader = any(op["op"] == "set_default_grader" for op in change_request.operations)
    base_grader = base.default_grader if base is not None else None
    if moved or (sets_grader and head.default_grader != base_grader):
        what = ", ".join(moved[:10]) + (f" and {len(moved) - 10} more" if len(moved) > 10 else "")
        reason = f"it changes the same cases: {what}" if moved else "the default grader changed too"
        raise Conflict(
            f"The suite moved to v{head.number} since this change request was opened on "
            f"{'v' + str(base.number) if base else 'an empty suite'}, and {reason}. "
            "Close it and open a new one on the latest version.",
            field="base",
            details={"head": head.number, "cases": moved},
        )
    return head_cases


def change_request_close(*, actor: User, change_request: ChangeRequest, reason: str = "") -> ChangeRequest:
    """Close without applying (its author or a maintainer)."""
    reason = " ".join(reason.split())
    if len(reason) > MAX_REASON:
        raise ValidationFailed(f"Keep the reason under {MAX_REASON} characters.", field="reason")
    with transaction.atomic():
        change_request = _locked(change_request)
        _author_or_maintainer(change_request, actor, "closes")
        _check_open(change_request)
        change_request.status = Status.CLOSED
        change_request.close_reason = reason
        change_request.decided_by = actor
        change_request.decided_at = timezone.now()
        change_request.save(update_fields=["status", "close_reason", "decided_by", "decided_at", "updated_at"])
        _audit(actor, change_request, "close", reason=reason)
    return change_request


def suite_policy_update(*, actor: User, suite: EvalSuite, settings: dict[str, Any]) -> SuitePolicy:
    """Owners set how the suite's change requests are reviewed."""
    _require(suite.project_id, actor, Role.OWNER)
    policy = SuitePolicy.from_dict(settings)
    with transaction.atomic():
        before = policy_of(suite).as_dict()
        EvalSuite.objects.filter(pk=suite.pk).update(change_policy=policy.as_dict())
        suite.change_policy = policy.as_dict()
        audit_record(
            actor=actor,
            project_id=suite.project_id,
            action="suite.policy.update",
            object_type="suite",
            object_id=suite.pk,
            object_label=suite.slug,
            before=before,
            after=policy.as_dict(),
        )
    return policy


def holdout_view_record(*, actor: User, suite: EvalSuite, keys: list[str], where: str) -> None:
    """Audit one view of held-out case text (once per page or response, listing every
    key shown), so who read the sealed split is on the record."""
    if not keys:
        return
    audit_record(
        actor=actor,
        project_id=suite.project_id,
        action="holdout.viewed",
        object_type="suite",
        object_id=suite.pk,
        object_label=suite.slug,
        after={"where": where, "keys": sorted(set(keys))[:500], "count": len(set(keys))},
    )


def holdout_export_record(*, actor: User, version: SuiteVersion) -> None:
    """Audit an export that includes the version's held-out cases (their keys listed)."""
    keys = list(
        EvalCase.objects.filter(version=version, split=HOLDOUT).order_by("id").values_list("key", flat=True)
    )
    holdout_view_record(actor=actor, suite=version.suite, keys=keys, where=f"export v{version.number}")
