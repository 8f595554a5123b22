from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import Any, Literal

from ninja import Schema
from pydantic import Field

from evolab.evolution.selectors import shown_reasons


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
    def resolve_stats(proposal: Any) -> dict[str, Any]:
        """The held-out guard's numbers only for maintainers and owners."""
        if getattr(proposal, "viewer_sees_holdout", False):
            return dict(proposal.stats)
        return {key: value for key, value in proposal.stats.items() if key != "guard"}

    @staticmethod
    def resolve_reasons(proposal: Any) -> list[dict[str, str]]:
        return shown_reasons(proposal, sees_holdout=getattr(proposal, "viewer_sees_holdout", False))

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


# --- review -----------------------------------------------------------------------------


class VoteIn(Schema):
    """-2 vetoes, +2 approves (it counts from the policy's approver role up)."""

    value: Literal[-2, -1, 1, 2]


class VoteOut(Schema):
    voter: str
    value: int
    role: str | None  # the voter's role now; None once they left the project
    stale: bool  # given on another diff or base: it counts for nothing
    counts: bool  # a +2 that counts towards the approvals needed
    updated_at: datetime = Field(alias="vote.updated_at")

    @staticmethod
    def resolve_value(row: Any) -> int:
        return int(row.vote.value)

    @staticmethod
    def resolve_role(row: Any) -> str | None:
        return row.role.label if row.role is not None else None


class ApprovalStateOut(Schema):
    approvals_needed: int
    approvals: list[str]
    vetoes: list[str]
    stale_votes: list[str]
    open_blocking: int
    head_is_base: bool
    critical: bool
    merged: bool
    closed: bool
    mergeable: bool
    blockers: list[str]
    votes: list[VoteOut]


class CommentIn(Schema):
    """`anchor` "line" needs `path` (a changed file) and `line`; "case" needs `case_key`.
    A reply (`parent`) takes its thread's anchor."""

    text: str = Field(min_length=1)
    anchor: Literal["proposal", "line", "case"] = "proposal"
    path: str = ""
    line: int | None = None
    case_key: str = ""
    blocking: bool = False
    parent: int | None = None


class CommentOut(Schema):
    id: int
    parent: int | None = Field(alias="parent_id")
    author: str | None
    text: str
    anchor: str
    path: str
    line: int | None
    case_key: str
    blocking: bool
    resolution: str  # "" while open
    resolution_reason: str
    resolved_by: str | None
    resolved_at: datetime | None
    created_at: datetime

    @staticmethod
    def resolve_author(comment: Any) -> str | None:
        return comment.author.get_username() if comment.author else None

    @staticmethod
    def resolve_resolved_by(comment: Any) -> str | None:
        return comment.resolved_by.get_username() if comment.resolved_by else None


class ResolveIn(Schema):
    resolution: Literal["fixed", "dropped"]
    reason: str = ""  # required for "dropped"


class RejectIn(Schema):
    reason: str = Field(min_length=1)


class ReviewOut(Schema):
    """A proposal's review: whether it may merge (and every blocker), votes, comments."""

    number: int = Field(alias="proposal.number")
    outcome: str = Field(alias="proposal.outcome")
    assignee: str | None
    merged_at: datetime | None = Field(alias="proposal.merged_at")
    merged_by: str | None
    closed_at: datetime | None = Field(alias="proposal.closed_at")
    closed_reason: str = Field(alias="proposal.closed_reason")
    state: ApprovalStateOut
    comments: list[CommentOut]

    @staticmethod
    def resolve_assignee(review: Any) -> str | None:
        user = review.proposal.assignee
        return user.get_username() if user else None

    @staticmethod
    def resolve_merged_by(review: Any) -> str | None:
        user = review.proposal.merged_by
        return user.get_username() if user else None


class InboxItemOut(Schema):
    """A proposal waiting for review; `assigned_to_me` ones come first."""

    number: int
    campaign: int = Field(alias="campaign.number")
    round: int | None
    hypothesis: str
    touched_paths: list[str]
    reasons: list[ReasonOut]
    assignee: str | None
    assigned_to_me: bool
    base: int = Field(alias="base_version.number")
    candidate: int | None
    created_at: datetime

    @staticmethod
    def resolve_round(proposal: Any) -> int | None:
        return proposal.round.number if proposal.round else None

    @staticmethod
    def resolve_reasons(proposal: Any) -> list[dict[str, str]]:
        return shown_reasons(proposal, sees_holdout=getattr(proposal, "viewer_sees_holdout", False))

    @staticmethod
    def resolve_assignee(proposal: Any) -> str | None:
        return proposal.assignee.get_username() if proposal.assignee else None

    @staticmethod
    def resolve_assigned_to_me(proposal: Any) -> bool:
        return proposal.not_mine == 0  # type: ignore[no-any-return]

    @staticmethod
    def resolve_candidate(proposal: Any) -> int | None:
        return proposal.candidate_version.number if proposal.candidate_version else None


class PathOwnerIn(Schema):
    pattern: str = Field(min_length=1)
    user: str = Field(min_length=1)  # a username


class PathOwnerOut(Schema):
    id: int
    pattern: str
    user: str

    @staticmethod
    def resolve_user(owner: Any) -> str:
        return owner.user.get_username()  # type: ignore[no-any-return]


# --- revisions and reverts (evolution.rebase) -------------------------------------


class MergeConflictOut(Schema):
    path: str
    kind: Literal["content", "add/add", "delete/modify", "modify/delete"]
    merged_with_markers: str


class RebasePreviewOut(Schema):
    """The proposal's change merged onto head. `files` is the merged tree; a conflicting
    path holds its text with conflict markers until it is resolved."""

    base: int
    head: int
    clean: bool
    conflicts: list[MergeConflictOut]
    files: dict[str, str]


class RebaseIn(Schema):
    """`resolved_files`: the finished text of each conflicting path (null deletes the
    file); leave it out when the merge is clean."""

    resolved_files: dict[str, str | None] | None = None


class ReviseIn(Schema):
    """The whole new file tree on the same base, and what the revision changes."""

    files: dict[str, str]
    note: str = Field(min_length=1, max_length=2000)


class RequestChangesIn(Schema):
    summary: str = Field(min_length=1, max_length=2000)


class ProposalRevertIn(Schema):
    reason: str = Field(min_length=1, max_length=2000)


class RevisionOut(ProposalOut):
    """A new revision, queued (`stage` "queued") for the campaign's next round."""

    revision: int
    revision_of: int | None

    @staticmethod
    def resolve_revision_of(proposal: Any) -> int | None:
        return proposal.revision_of.number if proposal.revision_of else None


class RevertedOut(Schema):
    """The version that takes the proposal's change out of head (now head)."""

    proposal: int
    version: int
    digest: str
    message: str
