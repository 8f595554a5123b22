"""Reads for change requests. The caller has reached the project through `get_project_for`.

Below maintainer, held-out cases stay sealed here as everywhere: their diff carries no
text, operations on them keep only kind and key, comments anchored to them are left
out, and a duplicate warning that involves one is only counted, never named with text.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from django.db.models import QuerySet
from django.http import Http404

from evolab.engine.duplicates import Duplicate, find_duplicates
from evolab.evals.actions import cases_by_key
from evolab.evals.change_operations import HOLDOUT, CaseDiff, Cases, case_diffs, display, plan_operations
from evolab.evals.change_requests import ReviewState, review_state
from evolab.evals.models import ChangeRequest, ChangeRequestComment, ChangeRequestStatus, EvalSuite
from evolab.evals.selectors import can_see_holdout
from evolab.projects.models import Role

STATUS_FILTERS = ("open", *ChangeRequestStatus.values, "all")


def change_requests_of(suite: EvalSuite, status: str = "open") -> QuerySet[ChangeRequest]:
    """The suite's change requests, newest first, without their operations' JSON.
    `status` is "open" (draft, in review, approved), "all", or one status."""
    requests = (
        ChangeRequest.objects.filter(suite=suite)
        .select_related("author", "base_version", "applied_version")
        .defer("operations", "description")
        .order_by("-number")
    )
    if status == "open":
        return requests.filter(
            status__in=[ChangeRequestStatus.DRAFT, ChangeRequestStatus.IN_REVIEW, ChangeRequestStatus.APPROVED]
        )
    if status in ChangeRequestStatus.values:
        return requests.filter(status=status)
    return requests


def open_change_request_count(suite: EvalSuite) -> int:
    return change_requests_of(suite, "open").count()


def get_change_request(suite: EvalSuite, number: int) -> ChangeRequest:
    change_request = (
        ChangeRequest.objects.filter(suite=suite, number=number)
        .select_related("suite", "author", "base_version", "applied_version", "decided_by")
        .first()
    )
    if change_request is None:
        raise Http404("No such change request")
    change_request.suite = suite  # keep the annotated suite the caller holds
    return change_request


@dataclass(frozen=True)
class DuplicateWarning:
    new: str
    other: str
    kind: str
    similarity: float
    within_new: bool


@dataclass(frozen=True)
class ChangeRequestView:
    change_request: ChangeRequest
    diffs: list[CaseDiff]
    duplicates: list[DuplicateWarning]
    hidden_duplicates: int  # warnings involving held-out cases, withheld from this viewer
    comments: list[ChangeRequestComment]
    state: ReviewState
    sees_holdout: bool
    default_grader_change: tuple[str, str] | None  # (old, new) as text

    def holdout_keys_shown(self, diffs: list[CaseDiff] | None = None) -> list[str]:
        """Keys of held-out cases whose text this view shows (for the audit)."""
        return [diff.key for diff in (self.diffs if diffs is None else diffs) if diff.holdout and not diff.sealed]


def _input_text(case: dict[str, Any]) -> str:
    return display("input", case["input"])


def duplicate_warnings(base: Cases, result: Cases, touched: list[str]) -> list[Duplicate]:
    """Added cases, and edited cases whose input changed, against the rest of the suite."""
    new = {
        key: _input_text(result[key])
        for key in touched
        if key in result and (key not in base or base[key]["input"] != result[key]["input"])
    }
    existing = {key: _input_text(case) for key, case in result.items() if key not in new}
    return find_duplicates(new, existing)


def change_request_view(change_request: ChangeRequest, role: Role) -> ChangeRequestView:
    """Everything the change request page shows, as `role` may see it."""
    sees = can_see_holdout(role)
    base_version = change_request.base_version
    base = cases_by_key(base_version)
    grader = base_version.default_grader if base_version is not None else change_request.suite.default_grader
    plan = plan_operations(base, grader, change_request.operations)
    diffs = case_diffs(base, plan.cases, plan.touched, sees_holdout=sees)
    holdout_keys = {key for key, case in {**base, **plan.cases}.items() if case["split"] == HOLDOUT}
    warnings, hidden = [], 0
    for dup in duplicate_warnings(base, plan.cases, plan.touched):
        if not sees and (dup.new in holdout_keys or dup.other in holdout_keys):
            hidden += 1
            continue
        warnings.append(DuplicateWarning(dup.new, dup.other, dup.kind, dup.similarity, dup.within_new))
    comments = ChangeRequestComment.objects.filter(change_request=change_request).select_related("author")
    if not sees:
        comments = comments.filter(holdout=False)
    grader_change = None
    if plan.default_grader != grader:
        grader_change = (display("grader", grader), display("grader", plan.default_grader))
    return ChangeRequestView(
        change_request=change_request,
        diffs=diffs,
        duplicates=warnings,
        hidden_duplicates=hidden,
        comments=list(comments.order_by("created_at", "pk")),
        state=review_state(change_request),
        sees_holdout=sees,
        default_grader_change=grader_change,
    )
