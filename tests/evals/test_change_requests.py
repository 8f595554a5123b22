"""The change-request lifecycle and its rules (actions layer)."""

from __future__ import annotations

import re
from typing import Any

import pytest
from django.core.exceptions import PermissionDenied

from evolab.core.errors import Conflict, ValidationFailed
from evolab.core.models import AuditEvent
from evolab.evals.actions import cases_by_key, suite_version_import
from evolab.evals.change_requests import (
    change_request_apply,
    change_request_close,
    change_request_comment,
    change_request_open,
    change_request_submit,
    change_request_vote,
    review_state,
    suite_policy_update,
)
from evolab.evals.models import ChangeRequest, ChangeRequestStatus, EvalSuite, SuiteVersion
from tests.conftest import Team
from tests.evals.factories import jsonl
from tests.factories import MembershipFactory, UserFactory

Status = ChangeRequestStatus


def _open(team: Team, suite: EvalSuite, operations: list[dict[str, Any]], **kwargs: Any) -> ChangeRequest:
    return change_request_open(
        suite=suite, author=kwargs.pop("author", team.reviewer), title="Fix cases", operations=operations, **kwargs
    )


EDITS = [
    {"op": "edit", "key": "refund-001", "changes": {"target": "no", "tags": ["policy", "refunds"]}},
    {"op": "add", "case": {"key": "new-1", "input": "How do I reset my password?", "target": "link", "split": "dev"}},
    {"op": "delete", "key": "HumanEval/0"},
    {"op": "retag", "key": "date-002", "tags": ["tools", "dates"]},
]


def test_lifecycle_applies_exactly_the_edits_as_the_next_version(team: Team, suite: EvalSuite) -> None:
    change_request = _open(team, suite, EDITS, description="Targets were wrong")
    assert change_request.status == Status.IN_REVIEW and change_request.base_version.number == 1
    assert not change_request.touches_holdout
    change_request_vote(actor=team.maintainer, change_request=change_request, value="approve")
    change_request.refresh_from_db()
    assert change_request.status == Status.APPROVED
    version = change_request_apply(actor=team.maintainer, change_request=change_request)
    assert version.number == 2 and version.case_count == 4
    before, after = cases_by_key(change_request.base_version), cases_by_key(version)
    assert set(after) == {"refund-001", "date-002", "hold-1", "new-1"}
    assert after["refund-001"] == {**before["refund-001"], "target": "no", "tags": ["policy", "refunds"]}
    assert after["date-002"] == {**before["date-002"], "tags": ["tools", "dates"]}
    assert after["hold-1"] == before["hold-1"]
    assert after["new-1"]["input"] == "How do I reset my password?" and after["new-1"]["split"] == "dev"
    change_request.refresh_from_db()
    assert change_request.status == Status.APPLIED and change_request.applied_version == version
    actions = list(
        AuditEvent.objects.filter(object_type="change_request").order_by("pk").values_list("action", flat=True)
    )
    assert actions == [
        "suite.change_request.open",
        "suite.change_request.vote",
        "suite.change_request.apply",
    ]
    with pytest.raises(Conflict, match="applied already"):
        change_request_apply(actor=team.maintainer, change_request=change_request)


def test_draft_submit_and_close(team: Team, suite: EvalSuite) -> None:
    change_request = _open(team, suite, EDITS[:1], draft=True)
    assert change_request.status == Status.DRAFT
    with pytest.raises(Conflict, match="draft"):
        change_request_vote(actor=team.maintainer, change_request=change_request, value="approve")
    with pytest.raises(PermissionDenied):
        change_request_submit(actor=UserFactory(), change_request=change_request)
    change_request_submit(actor=team.reviewer, change_request=change_request)
    other_reviewer = UserFactory()
    MembershipFactory(project=team.project, user=other_reviewer, role=20)
    with pytest.raises(PermissionDenied):
        change_request_close(actor=other_reviewer, change_request=change_request)
    closed = change_request_close(actor=team.reviewer, change_request=change_request, reason="not needed")
    assert closed.status == Status.CLOSED and closed.close_reason == "not needed"
    with pytest.raises(Conflict, match="closed"):
        change_request_apply(actor=team.owner, change_request=change_request, direct=True)
    assert SuiteVersion.objects.filter(suite=suite).count() == 1


@pytest.mark.parametrize(
    ("operations", "message"),
    [
        ([{"op": "edit", "key": "nope", "changes": {"target": "x"}}], "operation 1 (edit 'nope'): no case 'nope'"),
        ([{"op": "add", "case": {"key": "refund-001", "input": "x"}}], "exists already"),
        ([{"op": "delete", "key": "refund-001"}, {"op": "delete", "key": "refund-001"}], "operation 2"),
        ([{"op": "set_default_grader", "grader": {"type": "nonsense"}}], "invalid grader"),
        ([{"op": "add", "case": {"key": "x", "input": "y", "grader": {"type": "regex"}}}], "operation 1 (add 'x')"),
        ([{"op": "edit", "key": "refund-001", "changes": {"key": "other"}}], "'key' cannot be edited"),
        ([{"op": "move_split", "key": "refund-001", "split": "train"}], "in train already"),
        ([{"op": "frobnicate"}], "'op' is one of"),
        ([], "at least one operation"),
    ],
)
def test_bad_operations_name_the_operation_and_write_nothing(
    team: Team, suite: EvalSuite, operations: list[dict[str, Any]], message: str
) -> None:
    audits = AuditEvent.objects.count()
    with pytest.raises(ValidationFailed, match=re.escape(message)):
        _open(team, suite, operations, author=team.maintainer)
    assert ChangeRequest.objects.count() == 0 and AuditEvent.objects.count() == audits


def test_reviewers_cannot_change_holdout_cases(team: Team, suite: EvalSuite) -> None:
    for operations in (
        [{"op": "edit", "key": "hold-1", "changes": {"target": "x"}}],
        [{"op": "move_split", "key": "refund-001", "split": "holdout"}],
        [{"op": "add", "case": {"key": "h2", "input": "q", "target": "a", "split": "holdout"}}],
    ):
        with pytest.raises(ValidationFailed, match="maintainers and owners"):
            _open(team, suite, operations)
    with pytest.raises(PermissionDenied):
        _open(team, suite, EDITS[:1], author=team.viewer)


def test_holdout_changes_need_the_stricter_count(team: Team, suite: EvalSuite) -> None:
    change_request = _open(
        team, suite, [{"op": "edit", "key": "hold-1", "changes": {"target": "31 days"}}], author=team.maintainer
    )
    assert change_request.touches_holdout and not change_request.moves_holdout
    change_request_vote(actor=team.reviewer, change_request=change_request, value="approve")
    assert review_state(change_request).blockers == ("needs 2 approvals, has 1",)
    with pytest.raises(Conflict, match="needs 2 approvals, has 1"):
        change_request_apply(actor=team.maintainer, change_request=change_request)
    change_request_vote(actor=team.owner, change_request=change_request, value="approve")
    assert change_request_apply(actor=team.maintainer, change_request=change_request).number == 2


def test_moving_into_or_out_of_holdout_needs_an_owner(team: Team, suite: EvalSuite) -> None:
    suite_policy_update(actor=team.owner, suite=suite, settings={"approvals_needed": 1, "approvals_needed_holdout": 1})
    for key, split in (("refund-001", "holdout"), ("hold-1", "dev")):
        change_request = _open(team, suite, [{"op": "move_split", "key": key, "split": split}], author=team.maintainer)
        assert change_request.moves_holdout
        change_request_vote(actor=team.reviewer, change_request=change_request, value="approve")
        state = review_state(change_request)
        assert state.blockers == ("needs an approval from an owner (a case moves into or out of holdout)",)
        with pytest.raises(Conflict, match="owner"):
            change_request_apply(actor=team.maintainer, change_request=change_request)
        change_request_vote(actor=team.owner, change_request=change_request, value="approve")
        change_request_apply(actor=team.maintainer, change_request=change_request)
    latest = cases_by_key(SuiteVersion.objects.get(suite=suite, number=3))
    assert latest["refund-001"]["split"] == "holdout" and latest["hold-1"]["split"] == "dev"


def test_an_owner_author_consents_but_does_not_approve_their_own(team: Team, suite: EvalSuite) -> None:
    change_request = _open(team, suite, [{"op": "move_split", "key": "hold-1", "split": "dev"}], author=team.owner)
    change_request_vote(actor=team.owner, change_request=change_request, value="approve")
    assert review_state(change_request).blockers == ("needs 2 approvals, has 0",)
    change_request_vote(actor=team.reviewer, change_request=change_request, value="approve")
    change_request_vote(actor=team.maintainer, change_request=change_request, value="approve")
    assert review_state(change_request).approved


def test_a_veto_blocks_and_sends_it_back_to_review(team: Team, suite: EvalSuite) -> None:
    change_request = _open(team, suite, EDITS[:1])
    change_request_vote(actor=team.maintainer, change_request=change_request, value="approve")
    change_request.refresh_from_db()
    assert change_request.status == Status.APPROVED
    change_request_vote(actor=team.owner, change_request=change_request, value="veto")
    change_request.refresh_from_db()
    assert change_request.status == Status.IN_REVIEW
    with pytest.raises(Conflict, match="vetoed by owner"):
        change_request_apply(actor=team.maintainer, change_request=change_request)


def test_direct_apply_follows_the_policy(team: Team, suite: EvalSuite) -> None:
    change_request = _open(team, suite, EDITS[:2], author=team.maintainer)
    with pytest.raises(PermissionDenied, match="policy"):
        change_request_apply(actor=team.maintainer, change_request=change_request, direct=True)
    suite_policy_update(actor=team.owner, suite=suite, settings={"allow_direct_apply": True, "direct_max_ops": 1})
    suite.refresh_from_db()
    with pytest.raises(PermissionDenied, match="more than 1"):
        change_request_apply(actor=team.maintainer, change_request=change_request, direct=True)
    suite_policy_update(actor=team.owner, suite=suite, settings={"allow_direct_apply": True, "direct_max_ops": 2})
    version = change_request_apply(actor=team.maintainer, change_request=change_request, direct=True)
    assert version.number == 2
    audit = AuditEvent.objects.get(action="suite.change_request.apply")
    assert audit.after["direct"] is True and audit.actor == team.maintainer
    holdout = _open(team, suite, [{"op": "edit", "key": "hold-1", "changes": {"target": "x"}}], author=team.maintainer)
    with pytest.raises(PermissionDenied):
        change_request_apply(actor=team.maintainer, change_request=holdout, direct=True)
    with pytest.raises(PermissionDenied):
        suite_policy_update(actor=team.maintainer, suite=suite, settings={"allow_direct_apply": True})


def test_policy_is_validated(team: Team, suite: EvalSuite) -> None:
    for settings, field in (
        ({"approvals_needed": 3, "approvals_needed_holdout": 1}, "approvals_needed_holdout"),
        ({"approver_min_role": "viewer"}, "approver_min_role"),
        ({"direct_max_ops": 0}, "direct_max_ops"),
        ({"surprise": 1}, "surprise"),
    ):
        with pytest.raises(ValidationFailed) as error:
            suite_policy_update(actor=team.owner, suite=suite, settings=settings)
        assert error.value.field == field


def test_head_moved_rebases_when_clean_and_conflicts_otherwise(team: Team, suite: EvalSuite) -> None:
    clean = _open(team, suite, [{"op": "retag", "key": "date-002", "tags": ["x"]}])
    clashing = _open(team, suite, [{"op": "edit", "key": "refund-001", "changes": {"target": "maybe"}}])
    suite_version_import(
        actor=team.maintainer,
        suite=suite,
        source=jsonl([{"key": "refund-001", "input": "Can I get a refund?", "target": "yes, within 30 days"}]),
        fmt="jsonl",
        base="merge",
    )
    for change_request in (clean, clashing):
        change_request_vote(actor=team.owner, change_request=change_request, value="approve")
    version = change_request_apply(actor=team.maintainer, change_request=clean)
    after = cases_by_key(version)
    assert version.number == 3 and after["date-002"]["tags"] == ["x"]
    assert after["refund-001"]["target"] == "yes, within 30 days"
    with pytest.raises(Conflict, match="changes the same cases: refund-001") as error:
        change_request_apply(actor=team.maintainer, change_request=clashing)
    assert (
        error.value.details["cases"] == ["refund-001", "date-002"][:1] or "refund-001" in error.value.details["cases"]
    )
    assert SuiteVersion.objects.filter(suite=suite).count() == 3


def test_comments_anchor_to_cases_and_hide_holdout_anchors(team: Team, suite: EvalSuite) -> None:
    change_request = _open(team, suite, EDITS, author=team.maintainer)
    general = change_request_comment(actor=team.reviewer, change_request=change_request, text="looks right")
    anchored = change_request_comment(actor=team.reviewer, change_request=change_request, text="why?", case_key="new-1")
    assert general.case_key == "" and anchored.case_key == "new-1" and not anchored.holdout
    with pytest.raises(ValidationFailed, match="No case"):
        change_request_comment(actor=team.reviewer, change_request=change_request, text="?", case_key="hold-1")
    sealed = change_request_comment(actor=team.maintainer, change_request=change_request, text="ok", case_key="hold-1")
    assert sealed.holdout
    audit = AuditEvent.objects.filter(action="suite.change_request.comment").order_by("pk").last()
    assert audit is not None and "text" not in audit.after


def test_set_default_grader_is_checked_against_every_case_that_uses_it(team: Team, suite: EvalSuite) -> None:
    # The fixture's cases have no own grader; a json grader needs a JSON target they lack.
    with pytest.raises(ValidationFailed, match="under the new default grader"):
        _open(team, suite, [{"op": "set_default_grader", "grader": {"type": "python_tests"}}], author=team.maintainer)
    change_request = _open(
        team, suite, [{"op": "set_default_grader", "grader": {"type": "regex", "pattern": "."}}], author=team.maintainer
    )
    change_request_vote(actor=team.owner, change_request=change_request, value="approve")
    version = change_request_apply(actor=team.maintainer, change_request=change_request)
    suite.refresh_from_db()
    assert version.default_grader == {"type": "regex", "pattern": "."} == suite.default_grader
