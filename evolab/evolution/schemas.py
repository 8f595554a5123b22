from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import Any, Literal

from ninja import Schema
from pydantic import Field


class CampaignIn(Schema):
    """A campaign to start (or to estimate). `base` is a version number or "head"; the
    suite version defaults to the suite's latest; `guard_split` "" means no guard."""

    name: str = Field(min_length=1, max_length=120)
    base: int | Literal["head"] = "head"
    suite: str = Field(min_length=1)
    suite_version: int | None = None
    feedback_split: Literal["train", "dev"] = "train"
    selection_split: Literal["train", "dev"] = "dev"
    guard_split: Literal["holdout", ""] = "holdout"
    runner_backend: str = Field(min_length=1)
    proposer: Literal["reflect", "sweep"] = "reflect"
    proposer_backend: str | None = None
    candidates_per_round: int = Field(default=2, ge=1)
    samples: int = Field(default=2, ge=1)
    seed: int = 0
    budget_rounds: int = Field(default=5, ge=1)
    budget_usd: Decimal = Field(default=Decimal("5"), gt=0, max_digits=12, decimal_places=4)
    budget_tokens: int = Field(default=2_000_000, ge=1)
    budget_minutes: int = Field(default=60, ge=1)
    guidance: str = ""
    protected_paths: list[str] = []
    plateau_rounds: int = Field(default=3, ge=1)


class EstimateLineOut(Schema):
    label: str
    usd: float
    tokens: int


class CampaignEstimateOut(Schema):
    """An upper bound: cached answers cost nothing, and the guard runs only for gains."""

    rounds: int
    usd: float
    tokens: int
    round_usd: float
    lines: list[EstimateLineOut]
    basis: str


class SpendOut(Schema):
    usd: float
    tokens: int
    wall_s: float
    rounds_done: int


class CampaignOut(Schema):
    """A campaign with its spend, read from a CampaignRow."""

    number: int = Field(alias="campaign.number")
    name: str = Field(alias="campaign.name")
    status: str = Field(alias="campaign.status")
    status_reason: str = Field(alias="campaign.status_reason")
    base: int = Field(alias="campaign.base_version.number")
    parent: int = Field(alias="campaign.parent_version.number")
    suite: str = Field(alias="campaign.suite_version.suite.slug")
    suite_version: int = Field(alias="campaign.suite_version.number")
    feedback_split: str = Field(alias="campaign.feedback_split")
    selection_split: str = Field(alias="campaign.selection_split")
    guard_split: str = Field(alias="campaign.guard_split")
    runner_backend: str = Field(alias="campaign.runner_backend.name")
    runner_simulated: bool = Field(alias="campaign.runner_backend.is_simulated")
    proposer: str = Field(alias="campaign.proposer")
    proposer_backend: str | None
    candidates_per_round: int = Field(alias="campaign.candidates_per_round")
    samples: int = Field(alias="campaign.samples")
    seed: int = Field(alias="campaign.seed")
    protected_paths: list[str] = Field(alias="campaign.protected_paths")
    plateau_rounds: int = Field(alias="campaign.plateau_rounds")
    budget_rounds: int = Field(alias="campaign.budget_rounds")
    budget_usd: float = Field(alias="campaign.budget_usd")
    budget_tokens: int = Field(alias="campaign.budget_tokens")
    budget_wall_s: int = Field(alias="campaign.budget_wall_s")
    estimate_usd: float = Field(alias="campaign.estimate_usd")
    warnings: list[str] = Field(alias="campaign.warnings")
    spend: SpendOut
    best_delta: float | None
    created_by: str | None
    created_at: datetime = Field(alias="campaign.created_at")
    finished_at: datetime | None = Field(alias="campaign.finished_at")

    @staticmethod
    def resolve_proposer_backend(row: Any) -> str | None:
        backend = row.campaign.proposer_backend
        return backend.name if backend else None

    @staticmethod
    def resolve_created_by(row: Any) -> str | None:
        user = row.campaign.created_by
        return user.get_username() if user else None


class CampaignCreatedOut(CampaignOut):
    estimate: CampaignEstimateOut


class GuidanceIn(Schema):
    text: str


class GuidanceOut(Schema):
    number: int
    text: str
    author: str | None
    created_at: datetime

    @staticmethod
    def resolve_author(guidance: Any) -> str | None:
        return guidance.author.get_username() if guidance.author else None


class ReasonOut(Schema):
    code: str
    text: str


class ProposalOut(Schema):
    """A proposal of a campaign: its classification with every reason, and the
    statistics (`stats.comparison` on the selection split, `stats.guard` aggregates only)."""

    number: int
    round: int | None
    index: int
    kind: str
    stage: str
    hypothesis: str
    touched_paths: list[str]
    apply_error: str
    base: int
    candidate: int | None
    outcome: str
    reasons: list[ReasonOut]
    stats: dict[str, Any]
    merged: bool
    proposer_cost_usd: float
    proposer_tokens: int
    classified_at: datetime | None

    @staticmethod
    def resolve_round(proposal: Any) -> int | None:
        return proposal.round.number if proposal.round else None

    @staticmethod
    def resolve_base(proposal: Any) -> int:
        return int(proposal.base_version.number)

    @staticmethod
    def resolve_candidate(proposal: Any) -> int | None:
        return proposal.candidate_version.number if proposal.candidate_version else None

    @staticmethod
    def resolve_merged(proposal: Any) -> bool:
        return proposal.merged_at is not None


class PolicyIn(Schema):
    """The whole rule set (missing keys take their defaults); see `evolution.policy`."""

    rules: dict[str, Any]


class PolicyOut(Schema):
    number: int  # 0: the default policy
    rules: dict[str, Any]
