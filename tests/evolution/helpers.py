"""Campaign rows written directly, for pages that only read them (no model is called)."""

from __future__ import annotations

from typing import Any

from evolab.evolution.models import Campaign, Outcome, Proposal, ProposalStage, ProposerKind, Round, RoundStatus


def comparison(delta: float, half: float = 0.03) -> dict[str, Any]:
    return {
        "n": 12,
        "k_parent": 2.0,
        "k_candidate": 2.0,
        "parent_mean": 0.5,
        "candidate_mean": 0.5 + delta,
        "delta": delta,
        "low": delta - half,
        "high": delta + half,
        "confidence": 0.95,
        "p_value": 0.04,
        "test": "permutation",
        "wins": 4,
        "losses": 1,
        "ties": 7,
        "noise_floor": 0.02,
        "mde": 0.05,
    }


def add_rounds(campaign: Campaign, count: int, per_round: int = 2) -> None:
    """`count` more finished rounds, each with `per_round` classified proposals."""
    last = campaign.rounds.order_by("-number").first()
    start = last.number if last else 0
    next_proposal = Proposal.objects.filter(project_id=campaign.project_id).order_by("-number").first()
    number = next_proposal.number if next_proposal else 0
    guidance = campaign.guidance_versions.order_by("-number").first()
    for offset in range(1, count + 1):
        current = Round.objects.create(
            campaign=campaign,
            number=start + offset,
            parent_version=campaign.parent_version,
            guidance=guidance,
            status=RoundStatus.DONE,
        )
        for index in range(per_round):
            number += 1
            Proposal.objects.create(
                project_id=campaign.project_id,
                number=number,
                campaign=campaign,
                round=current,
                index=index,
                kind=ProposerKind.REFLECT,
                stage=ProposalStage.CLASSIFIED,
                hypothesis=f"try <b>{number}</b>",
                base_version=campaign.parent_version,
                touched_paths=["skills/refunds.md"],
                stats={"comparison": comparison(0.08 if index == 0 else -0.01), "guard": comparison(0.04)},
                outcome=Outcome.NEEDS_REVIEW if index == 0 else Outcome.AUTO_REJECT,
                reasons=[{"code": "policy_requires_review", "text": "The policy sends every merge to a person."}],
                model_text="raw <script>answer</script>",
                apply_error="" if index == 0 else "search text not found",
            )
