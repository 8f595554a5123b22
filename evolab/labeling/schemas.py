from __future__ import annotations

from datetime import datetime

from ninja import Schema
from pydantic import Field

from evolab.labeling.actions import MAX_RATIONALE_CHARS


class QueueOut(Schema):
    number: int
    name: str
    status: str
    scale: str
    rubric: str
    reviewers_per_item: int
    items: int = Field(alias="item_count")
    assigned: int = Field(alias="assigned_count")
    labelled: int = Field(alias="labelled_count")
    created_at: datetime


class MessageOut(Schema):
    role: str
    content: str


class ItemOut(Schema):
    """An item as the labeller sees it: nothing names the run, version, backend or model."""

    position: int
    case_key: str
    input: list[MessageOut]
    output: str
    target: str | None
    holdout: bool
    passed: bool | None
    score: float | None
    rationale: str
    labelled: bool


class NextOut(Schema):
    assigned: int
    done: int
    item: ItemOut | None


class LabelIn(Schema):
    passed: bool | None = None
    score: float | None = Field(default=None, ge=0, le=1)
    rationale: str = Field(default="", max_length=MAX_RATIONALE_CHARS)


class LabelOut(Schema):
    position: int
    passed: bool | None
    score: float | None
    rationale: str
    labelled_at: datetime | None
    next_position: int | None


class AgreementStatsOut(Schema):
    items: int
    percent: float | None
    kappa: float | None
    warning: bool


class PairOut(Schema):
    first: str
    second: str
    stats: AgreementStatsOut


class JudgeOut(Schema):
    rubric: str | None
    items: int
    unresolved: int
    stats: AgreementStatsOut
    warning: bool
    summary: str


class AgreementOut(Schema):
    scale: str
    method: str
    bucketing: str
    labelled_items: int
    overall: AgreementStatsOut
    pairs: list[PairOut]
    judges: list[JudgeOut]
