from __future__ import annotations

from datetime import datetime
from typing import Any

from ninja import Schema
from pydantic import Field


class SuiteIn(Schema):
    name: str = Field(min_length=1, max_length=100)
    slug: str = Field(default="", max_length=50)
    description: str = ""
    default_grader: dict[str, Any] = {}


class SuiteOut(Schema):
    slug: str
    name: str
    description: str
    default_grader: dict[str, Any]
    latest_version: int | None = Field(alias="latest_version_number")
    latest_case_count: int | None
    created_at: datetime


class VersionOut(Schema):
    number: int
    message: str
    case_count: int
    default_grader: dict[str, Any]
    created_by: str | None
    created_at: datetime

    @staticmethod
    def resolve_created_by(version: Any) -> str | None:
        return version.created_by.get_username() if version.created_by else None


class SuiteDetailOut(SuiteOut):
    latest: VersionOut | None
    split_counts: dict[str, int]


class ChatMessage(Schema):
    role: str
    content: str


class CaseOut(Schema):
    """A case; when `sealed` (holdout, viewer below maintainer) the last four fields are null."""

    key: str
    split: str
    tags: list[str]
    sealed: bool
    input: str | list[ChatMessage] | None
    target: str | None
    grader: dict[str, Any] | None
    metadata: dict[str, Any] | None


class RowErrorOut(Schema):
    line: int
    field: str | None
    message: str


class ImportFailedDetails(Schema):
    errors: list[RowErrorOut]
    more: int


class ImportFailedOut(Schema):
    code: str
    message: str
    field: str | None = None
    # Absent when the request itself was wrong (no file, unknown format): only bad rows have details.
    details: ImportFailedDetails | None = None


class ChangeRequestIn(Schema):
    title: str = Field(min_length=1, max_length=200)
    description: str = ""
    operations: list[dict[str, Any]]
    source: dict[str, Any] | None = None
    draft: bool = False


class ChangeRequestFields(Schema):
    number: int
    title: str
    status: str
    author: str | None
    base_version: int | None
    applied_version: int | None
    operation_count: int
    touches_holdout: bool
    moves_holdout: bool
    source: dict[str, Any] | None
    created_at: datetime
    updated_at: datetime


class ChangeRequestOut(ChangeRequestFields):
    @staticmethod
    def resolve_author(change_request: Any) -> str | None:
        return change_request.author.get_username() if change_request.author else None

    @staticmethod
    def resolve_base_version(change_request: Any) -> int | None:
        return change_request.base_version.number if change_request.base_version else None

    @staticmethod
    def resolve_applied_version(change_request: Any) -> int | None:
        return change_request.applied_version.number if change_request.applied_version else None


class FieldChangeOut(Schema):
    name: str
    old: str
    new: str


class CaseDiffOut(Schema):
    """A touched case; when `sealed` (holdout, viewer below maintainer) no text is given."""

    key: str
    kind: str
    split_before: str | None
    split_after: str | None
    holdout: bool
    sealed: bool
    fields: list[FieldChangeOut]


class ChangeRequestVoteOut(Schema):
    voter: str
    value: str
    counts: bool


class DuplicateOut(Schema):
    new: str
    other: str
    kind: str
    similarity: float
    within_new: bool


class ChangeRequestCommentOut(Schema):
    author: str | None
    case_key: str
    text: str
    created_at: datetime


class ChangeRequestDetailOut(ChangeRequestFields):
    """Built as a dict by the operation (the diff and votes are computed, not columns)."""

    description: str
    close_reason: str
    operations: list[dict[str, Any]]
    changes: list[CaseDiffOut]
    votes: list[ChangeRequestVoteOut]
    approvals_needed: int
    blockers: list[str]
    direct_apply_allowed: bool
    duplicates: list[DuplicateOut]
    hidden_duplicates: int
    comments: list[ChangeRequestCommentOut]


class ChangeRequestVoteIn(Schema):
    value: str


class ChangeRequestCommentIn(Schema):
    """A comment; `case_key` anchors it to a case of the request (empty: a general comment)."""

    text: str
    case_key: str = ""


class ChangeRequestApplyIn(Schema):
    direct: bool = False


class ChangeRequestCloseIn(Schema):
    reason: str = ""


class ChangeRequestApplyOut(Schema):
    change_request: ChangeRequestOut
    version: VersionOut
