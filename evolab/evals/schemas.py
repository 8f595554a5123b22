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
    details: ImportFailedDetails
