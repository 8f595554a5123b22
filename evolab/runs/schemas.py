from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import Any, Literal

from ninja import Schema
from pydantic import Field


class RunIn(Schema):
    """A run to start (or to estimate). `harness` is a version number or "head"; the
    suite version defaults to the suite's latest and `max_concurrency` to the backend's."""

    harness: int | Literal["head"] = "head"
    suite: str = Field(min_length=1)
    suite_version: int | None = None
    splits: list[Literal["train", "dev", "holdout"]] = Field(default=["dev"], min_length=1)
    backend: str = Field(min_length=1)
    samples: int = Field(default=1, ge=1, le=20)
    seed: int = 0
    max_concurrency: int | None = Field(default=None, ge=1)
    cost_cap_usd: Decimal | None = Field(default=None, gt=0, max_digits=12, decimal_places=4)
    use_cache: bool = True


class ResumeIn(Schema):
    cost_cap_usd: Decimal | None = Field(default=None, gt=0, max_digits=12, decimal_places=4)


class EstimateOut(Schema):
    requests: int
    input_tokens: int
    output_tokens: int
    usd: float
    basis: str


class ScoreOut(Schema):
    """Mean score over cases (each case weighted once) with its 95% interval."""

    mean: float
    low: float
    high: float
    n: int
    k: float


class ProgressOut(Schema):
    total: int
    finished: int
    done: int
    errors: int
    pending: int
    input_tokens: int
    output_tokens: int
    spend_usd: float
    eta_s: float | None
    score: ScoreOut | None


class RunOut(Schema):
    """A run with its progress, read from a RunRow (the run and its summary)."""

    number: int = Field(alias="run.number")
    status: str = Field(alias="run.status")
    stop_reason: str = Field(alias="run.stop_reason")
    source: str = Field(alias="run.source")
    harness: int = Field(alias="run.harness_version.number")
    suite: str = Field(alias="run.suite_version.suite.slug")
    suite_version: int = Field(alias="run.suite_version.number")
    splits: list[str] = Field(alias="run.splits")
    backend: str = Field(alias="run.backend_label")
    backend_simulated: bool = Field(alias="run.backend_simulated")
    samples: int = Field(alias="run.samples")
    seed: int = Field(alias="run.seed")
    max_concurrency: int = Field(alias="run.max_concurrency")
    cost_cap_usd: float | None = Field(alias="run.cost_cap_usd")
    estimate_usd: float = Field(alias="run.estimate_usd")
    use_cache: bool = Field(alias="run.use_cache")
    created_by: str | None
    created_at: datetime = Field(alias="run.created_at")
    started_at: datetime | None = Field(alias="run.started_at")
    finished_at: datetime | None = Field(alias="run.finished_at")
    progress: ProgressOut = Field(alias="summary")

    @staticmethod
    def resolve_created_by(row: Any) -> str | None:
        return row.run.created_by.get_username() if row.run.created_by else None


class RunCreatedOut(RunOut):
    estimate: EstimateOut


class ResultOut(Schema):
    """One (case, sample) result. When `sealed` (a holdout case, caller below maintainer)
    `output`, `grade_details` and `error` are null."""

    id: int
    case: str = Field(alias="case_key")
    split: str
    tags: list[str]
    sample: int
    status: str
    score: float | None
    passed: bool | None
    input_tokens: int
    output_tokens: int
    cost_usd: float
    latency_s: float | None
    cached: bool
    sealed: bool
    output: str | None
    grade_details: dict[str, Any] | None
    error: str | None
