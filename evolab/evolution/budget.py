"""A campaign's spend against its budget: rounds, USD, tokens and wall time.

Spend is derived from rows (the results of the campaign's runs and its proposer calls),
so a restarted worker counts exactly what was billed. A result served from the response
cache costs nothing, so re-evaluating an unchanged version is not billed twice.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal

from django.db.models import Sum
from django.utils import timezone

from evolab.evolution.models import Campaign, Proposal, Round, RoundStatus
from evolab.runs.models import CaseResult

WARNING_LEVELS = (50, 80)
CAPS = ("usd", "tokens", "wall")


@dataclass(frozen=True)
class Spend:
    usd: float
    tokens: int
    wall_s: float
    rounds_done: int

    def fraction(self, campaign: Campaign, cap: str) -> float:
        used, limit = {
            "usd": (self.usd, float(campaign.budget_usd)),
            "tokens": (float(self.tokens), float(campaign.budget_tokens)),
            "wall": (self.wall_s, float(campaign.budget_wall_s)),
        }[cap]
        return used / limit if limit > 0 else 1.0


def campaign_run_ids(campaign: Campaign) -> set[int]:
    ids: set[int] = set()
    for parent, guard in Round.objects.filter(campaign=campaign).values_list("parent_run_id", "parent_guard_run_id"):
        ids.update(i for i in (parent, guard) if i is not None)
    fields = ("candidate_run_id", "guard_run_id", "parent_run_id", "parent_guard_run_id")
    for row in Proposal.objects.filter(campaign=campaign).values_list(*fields):
        ids.update(i for i in row if i is not None)
    return ids


def wall_seconds(campaign: Campaign, now: datetime | None = None) -> float:
    running = (now or timezone.now()) - campaign.running_since if campaign.running_since else timedelta(0)
    return campaign.active_s + running.total_seconds()


def campaign_spend(campaign: Campaign) -> Spend:
    results = CaseResult.objects.filter(run_id__in=campaign_run_ids(campaign)).aggregate(
        usd=Sum("cost_usd"), input=Sum("input_tokens"), output=Sum("output_tokens")
    )
    proposer = Proposal.objects.filter(campaign=campaign).aggregate(
        usd=Sum("proposer_cost_usd"), tokens=Sum("proposer_tokens")
    )
    return Spend(
        usd=float(results["usd"] or 0) + float(proposer["usd"] or 0),
        tokens=int((results["input"] or 0) + (results["output"] or 0) + (proposer["tokens"] or 0)),
        wall_s=wall_seconds(campaign),
        rounds_done=Round.objects.filter(campaign=campaign, status__in=[RoundStatus.DONE, RoundStatus.FAILED]).count(),
    )


def cap_reached(campaign: Campaign, spend: Spend) -> str:
    """Which cap stops the campaign, as a sentence; "" while none is reached."""
    if spend.usd >= float(campaign.budget_usd):
        return f"the USD cap (${campaign.budget_usd:.2f}) was reached: ${spend.usd:.4f} spent"
    if spend.tokens >= campaign.budget_tokens:
        return f"the token cap ({campaign.budget_tokens:,}) was reached: {spend.tokens:,} used"
    if spend.wall_s >= campaign.budget_wall_s:
        return f"the wall-time cap ({campaign.budget_wall_s:,} s) was reached"
    return ""


def warnings_due(campaign: Campaign, spend: Spend) -> list[str]:
    """Warnings ("usd:50", "tokens:80", …) reached now and not given before."""
    due: list[str] = []
    for cap in CAPS:
        fraction = spend.fraction(campaign, cap)
        due.extend(
            f"{cap}:{level}"
            for level in WARNING_LEVELS
            if fraction * 100 >= level and f"{cap}:{level}" not in campaign.warnings
        )
    return due


@dataclass(frozen=True)
class RunCaps:
    cost_cap_usd: Decimal
    token_cap: int
    deadline_at: datetime


def caps_for_next_run(campaign: Campaign, spend: Spend) -> RunCaps:
    """What a run the campaign starts now may spend: whatever the budget has left, so the
    hard stop holds inside the run as well (no result is started past it)."""
    remaining_usd = max(Decimal("0.0001"), campaign.budget_usd - Decimal(str(round(spend.usd, 4))))
    return RunCaps(
        cost_cap_usd=remaining_usd,
        token_cap=max(1, campaign.budget_tokens - spend.tokens),
        deadline_at=timezone.now() + timedelta(seconds=max(0.0, campaign.budget_wall_s - spend.wall_s)),
    )
