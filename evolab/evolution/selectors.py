"""Reads for campaigns, proposals and the policy. Callers reach the project through
`get_project_for`.

Lists and the campaign page cost a fixed number of queries however many campaigns,
rounds or proposals there are: spend is aggregated in SQL for a page of campaigns at
once, and a campaign's timeline is read in four queries (rounds, proposals, the parents'
per-case scores, the runs' costs). Spend follows `budget.campaign_spend` exactly.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any, overload

from django.db.models import Avg, Count, FloatField, QuerySet, Sum
from django.db.models.functions import Coalesce
from django.http import Http404

from evolab.engine.statistics import Estimate, score_estimate
from evolab.evolution.budget import Spend, wall_seconds
from evolab.evolution.models import Campaign, Guidance, MemoryEntry, PolicyVersion, Proposal, Round, RoundStatus
from evolab.projects.models import Project
from evolab.runs.models import CaseResult, ResultStatus

# --------------------------------------------------------------------- campaigns


def campaigns_of(project: Project) -> QuerySet[Campaign]:
    """Newest first, with what a row and the page header show."""
    return (
        Campaign.objects.filter(project=project)
        .select_related(
            "base_version", "parent_version", "suite_version__suite", "runner_backend", "proposer_backend", "created_by"
        )
        .defer("base_version__files", "parent_version__files")
        .order_by("-number")
    )


def get_campaign(project: Project, number: int) -> Campaign:
    campaign = campaigns_of(project).filter(number=number).first()
    if campaign is None:
        raise Http404(f"No campaign {number}")
    return campaign


@dataclass(frozen=True)
class CampaignRow:
    campaign: Campaign
    spend: Spend
    best_delta: float | None  # the largest selection delta among its merged proposals

    @property
    def gauges(self) -> list[Gauge]:
        c, s = self.campaign, self.spend
        return [
            Gauge("rounds", "Rounds", s.rounds_done, c.budget_rounds, [], f"{s.rounds_done} of {c.budget_rounds}"),
            Gauge(
                "usd",
                "USD",
                s.usd,
                float(c.budget_usd),
                _levels(c, "usd"),
                f"${s.usd:.4f} of ${c.budget_usd:.2f}",
            ),
            Gauge(
                "tokens",
                "Tokens",
                s.tokens,
                c.budget_tokens,
                _levels(c, "tokens"),
                f"{s.tokens:,} of {c.budget_tokens:,}",
            ),
            Gauge(
                "wall",
                "Wall time",
                s.wall_s,
                c.budget_wall_s,
                _levels(c, "wall"),
                f"{s.wall_s / 60:.1f} of {c.budget_wall_s / 60:.0f} min",
            ),
        ]


@dataclass(frozen=True)
class Gauge:
    key: str
    label: str
    used: float
    cap: float
    warnings: list[int]  # the warning levels (50, 80) already given
    text: str

    @property
    def percent(self) -> float:
        return min(100.0, 100.0 * self.used / self.cap) if self.cap else 100.0


def _levels(campaign: Campaign, cap: str) -> list[int]:
    return sorted(int(w.split(":")[1]) for w in campaign.warnings if w.startswith(f"{cap}:"))


def campaign_rows(campaigns: Sequence[Campaign]) -> list[CampaignRow]:
    """Spend and best delta of several campaigns in four queries."""
    ids = [c.pk for c in campaigns]
    run_owner: dict[int, int] = {}
    rounds_done: dict[int, int] = defaultdict(int)
    for campaign_id, parent, guard, status in Round.objects.filter(campaign_id__in=ids).values_list(
        "campaign_id", "parent_run_id", "parent_guard_run_id", "status"
    ):
        run_owner.update({run: campaign_id for run in (parent, guard) if run is not None})
        rounds_done[campaign_id] += status in (RoundStatus.DONE, RoundStatus.FAILED)
    proposer_usd: dict[int, float] = defaultdict(float)
    proposer_tokens: dict[int, int] = defaultdict(int)
    best: dict[int, float] = {}
    for campaign_id, run, guard, usd, tokens, merged, stats in Proposal.objects.filter(campaign_id__in=ids).values_list(
        "campaign_id", "candidate_run_id", "guard_run_id", "proposer_cost_usd", "proposer_tokens", "merged_at", "stats"
    ):
        run_owner.update({r: campaign_id for r in (run, guard) if r is not None})
        proposer_usd[campaign_id] += usd
        proposer_tokens[campaign_id] += tokens
        delta = ((stats or {}).get("comparison") or {}).get("delta")
        if merged is not None and delta is not None:
            best[campaign_id] = max(best.get(campaign_id, delta), delta)
    results_usd: dict[int, float] = defaultdict(float)
    results_tokens: dict[int, int] = defaultdict(int)
    for row in (
        CaseResult.objects.filter(run_id__in=list(run_owner))
        .values("run")
        .annotate(
            usd=Coalesce(Sum("cost_usd"), 0.0, output_field=FloatField()),
            input=Coalesce(Sum("input_tokens"), 0),
            output=Coalesce(Sum("output_tokens"), 0),
        )
        .order_by()
    ):
        owner = run_owner[row["run"]]
        results_usd[owner] += float(row["usd"])
        results_tokens[owner] += int(row["input"]) + int(row["output"])
    return [
        CampaignRow(
            campaign=c,
            spend=Spend(
                usd=results_usd[c.pk] + proposer_usd[c.pk],
                tokens=results_tokens[c.pk] + proposer_tokens[c.pk],
                wall_s=wall_seconds(c),
                rounds_done=rounds_done[c.pk],
            ),
            best_delta=best.get(c.pk),
        )
        for c in campaigns
    ]


def campaign_row(campaign: Campaign) -> CampaignRow:
    return campaign_rows([campaign])[0]


class CampaignList:
    """Campaigns as a lazily sliced sequence of CampaignRow for Paginator and ninja."""

    def __init__(self, campaigns: QuerySet[Campaign]) -> None:
        self._campaigns = campaigns

    def count(self) -> int:
        return self._campaigns.count()

    def __len__(self) -> int:
        return self.count()

    @overload
    def __getitem__(self, index: int) -> CampaignRow: ...
    @overload
    def __getitem__(self, index: slice) -> list[CampaignRow]: ...
    def __getitem__(self, index: int | slice) -> CampaignRow | list[CampaignRow]:
        if isinstance(index, int):
            return self[index : index + 1][0]
        return campaign_rows(list(self._campaigns[index]))

    def __iter__(self) -> Iterator[CampaignRow]:
        return iter(self[:])


def campaign_list(project: Project) -> CampaignList:
    return CampaignList(campaigns_of(project))


def latest_campaign(project: Project) -> Campaign | None:
    return campaigns_of(project).first()


# ---------------------------------------------------------------------- timeline

HIDDEN_GUARD_REASON = "The selection split improved but the held-out guard did not: the gain may not generalise."


def shown_reasons(proposal: Proposal, *, sees_holdout: bool) -> list[dict[str, str]]:
    """The classification's reasons; below maintainer the holdout reason loses its numbers."""
    reasons = []
    for reason in proposal.reasons:
        text = str(reason.get("text", ""))
        if reason.get("code") == "holdout_diverged" and not sees_holdout:
            text = HIDDEN_GUARD_REASON
        reasons.append({"code": str(reason.get("code", "")), "text": text})
    return reasons


@dataclass(frozen=True)
class ProposalView:
    proposal: Proposal
    run_cost_usd: float
    # The held-out guard's numbers are for maintainers and owners; others learn only
    # whether it held.
    sees_holdout: bool = False

    @property
    def reasons(self) -> list[dict[str, str]]:
        return shown_reasons(self.proposal, sees_holdout=self.sees_holdout)

    @property
    def comparison(self) -> dict[str, Any] | None:
        return self.proposal.stats.get("comparison")  # type: ignore[no-any-return]

    @property
    def guard(self) -> dict[str, Any] | None:
        return self.proposal.stats.get("guard")  # type: ignore[no-any-return]

    @property
    def diverged(self) -> bool:
        return bool(self.proposal.stats.get("diverged"))

    @property
    def failed(self) -> bool:
        return bool(self.proposal.apply_error) or bool(self.proposal.stats.get("protected_violations"))

    @property
    def delta_text(self) -> str:
        return points_text(self.comparison)

    @property
    def guard_text(self) -> str:
        return points_text(self.guard) if self.sees_holdout else ""

    @property
    def tone(self) -> str:
        """up / down when the whole interval is above / below zero; noise otherwise."""
        return tone_of(self.comparison)


def points_text(comparison: dict[str, Any] | None) -> str:
    """A delta in score points with its interval: "+6.2 pts [+3.3, +9.1]"; "—" when none."""
    if not comparison:
        return "—"
    return f"{comparison['delta'] * 100:+.1f} pts [{comparison['low'] * 100:+.1f}, {comparison['high'] * 100:+.1f}]"


def tone_of(comparison: dict[str, Any] | None) -> str:
    if not comparison:
        return "noise"
    if comparison["low"] > 0:
        return "up"
    if comparison["high"] < 0:
        return "down"
    return "noise"


@dataclass(frozen=True)
class RoundView:
    round: Round
    parent_score: Estimate | None
    proposals: list[ProposalView] = field(default_factory=list)


@dataclass(frozen=True)
class Timeline:
    rounds: list[RoundView]  # newest first
    queued: list[ProposalView]  # human proposals waiting for the next round


def campaign_timeline(campaign: Campaign, *, sees_holdout: bool = False) -> Timeline:
    rounds = list(
        Round.objects.filter(campaign=campaign)
        .select_related("parent_version", "guidance", "parent_run")
        .defer("parent_version__files")
        .order_by("-number")
    )
    proposals = list(
        Proposal.objects.filter(campaign=campaign)
        .select_related("candidate_version", "author")
        .defer("candidate_version__files")
        .order_by("round_id", "index", "number")
    )
    run_ids = [r for p in proposals for r in (p.candidate_run_id, p.guard_run_id) if r is not None]
    costs = dict(
        CaseResult.objects.filter(run_id__in=run_ids)
        .values("run")
        .annotate(usd=Coalesce(Sum("cost_usd"), 0.0, output_field=FloatField()))
        .order_by()
        .values_list("run", "usd")
    )
    per_case: dict[int, dict[str, list[float]]] = defaultdict(dict)
    for row in (
        CaseResult.objects.filter(
            run_id__in=[r.parent_run_id for r in rounds if r.parent_run_id is not None],
            case__split=campaign.selection_split,
            status=ResultStatus.DONE,
            score__isnull=False,
        )
        .values("run", "case")
        .annotate(mean=Avg("score"), n=Count("id"))
        .order_by()
    ):
        per_case[row["run"]][str(row["case"])] = [float(row["mean"])] * int(row["n"])
    by_round: dict[int | None, list[ProposalView]] = defaultdict(list)
    for proposal in proposals:
        cost = sum(float(costs.get(r, 0.0)) for r in (proposal.candidate_run_id, proposal.guard_run_id) if r)
        by_round[proposal.round_id].append(ProposalView(proposal, cost, sees_holdout))
    views = [
        RoundView(
            round=r,
            parent_score=score_estimate(per_case[r.parent_run_id]) if r.parent_run_id in per_case else None,
            proposals=by_round[r.pk],
        )
        for r in rounds
    ]
    return Timeline(rounds=views, queued=by_round[None])


def guidance_history(campaign: Campaign) -> QuerySet[Guidance]:
    return Guidance.objects.filter(campaign=campaign).select_related("author").order_by("-number")


def memory_of(campaign: Campaign) -> QuerySet[MemoryEntry]:
    return MemoryEntry.objects.filter(campaign=campaign).order_by("-pk")


def proposals_of(campaign: Campaign) -> QuerySet[Proposal]:
    return (
        Proposal.objects.filter(campaign=campaign)
        .select_related("round", "base_version", "candidate_version")
        .defer("base_version__files", "candidate_version__files")
        .order_by("number")
    )


# ------------------------------------------------------------------------ policy


def policy_history(project: Project) -> QuerySet[PolicyVersion]:
    return PolicyVersion.objects.filter(project=project).select_related("author").order_by("-number")
