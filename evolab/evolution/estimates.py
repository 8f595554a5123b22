"""What a campaign could cost, before it starts.

A round evaluates its parent on the feedback and selection splits, each candidate on the
selection split, and (when a guard is set) the parent and every candidate on the held-out
split; the reflect proposer makes one model call per candidate. The runs are estimated by
`runs.selectors.spec_estimate` on the base version (candidates are not known yet). The
sum is an upper bound: the loop scores the guard only for candidates that gained, and any
answer the response cache already holds costs nothing.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal

from evolab.evolution.actions import CampaignSpec
from evolab.evolution.models import ProposerKind
from evolab.runs.actions import RunSpec
from evolab.runs.estimates import CHARS_PER_TOKEN
from evolab.runs.selectors import spec_estimate

# A reflect prompt holds the harness, failure trajectories and memory; the answer a
# hypothesis and edits.
PROPOSER_TRAJECTORY_TOKENS = 6_000
PROPOSER_OUTPUT_TOKENS = 1_500
_CENT = Decimal("0.0001")


@dataclass(frozen=True)
class EstimateLine:
    label: str
    usd: Decimal  # per round
    tokens: int  # per round


@dataclass(frozen=True)
class CampaignEstimate:
    rounds: int
    lines: tuple[EstimateLine, ...]
    basis: str

    @property
    def round_usd(self) -> Decimal:
        return sum((line.usd for line in self.lines), Decimal(0))

    @property
    def round_tokens(self) -> int:
        return sum(line.tokens for line in self.lines)

    @property
    def usd(self) -> Decimal:
        return (self.round_usd * self.rounds).quantize(_CENT)

    @property
    def tokens(self) -> int:
        return self.round_tokens * self.rounds


def campaign_estimate(spec: CampaignSpec) -> CampaignEstimate:
    """An upper bound of the campaign's cost if it runs all its rounds."""

    def run(splits: list[str]) -> tuple[Decimal, int, str]:
        estimate = spec_estimate(
            RunSpec(
                harness_version=spec.base_version,
                suite_version=spec.suite_version,
                splits=splits,
                backend=spec.runner_backend,
                samples=spec.samples,
                seed=spec.seed,
            )
        )
        return estimate.usd, estimate.input_tokens + estimate.output_tokens, estimate.basis

    candidates = spec.candidates_per_round
    parent_splits = list(dict.fromkeys([spec.feedback_split, spec.selection_split]))
    parent_usd, parent_tokens, basis = run(parent_splits)
    selection_usd, selection_tokens, _ = run([spec.selection_split])
    lines = [
        EstimateLine(f"parent on {' + '.join(parent_splits)}, k={spec.samples}", parent_usd, parent_tokens),
        EstimateLine(
            f"{candidates} candidate(s) on {spec.selection_split}, k={spec.samples}",
            selection_usd * candidates,
            selection_tokens * candidates,
        ),
    ]
    if spec.guard_split:
        guard_usd, guard_tokens, _ = run([spec.guard_split])
        lines.append(
            EstimateLine(
                f"guard: parent + {candidates} candidate(s) on {spec.guard_split}",
                guard_usd * (candidates + 1),
                guard_tokens * (candidates + 1),
            )
        )
    backend = spec.proposer_backend
    if spec.proposer == ProposerKind.REFLECT and backend is not None:
        harness_chars = sum(len(text) for text in spec.base_version.files.values())
        prompt = harness_chars // CHARS_PER_TOKEN + PROPOSER_TRAJECTORY_TOKENS
        usd = (
            Decimal(prompt) * backend.price_in_per_m + Decimal(PROPOSER_OUTPUT_TOKENS) * backend.price_out_per_m
        ) / Decimal(1_000_000)
        lines.append(
            EstimateLine(
                f"{candidates} proposer call(s) on {backend.name}",
                (usd * candidates).quantize(_CENT),
                (prompt + PROPOSER_OUTPUT_TOKENS) * candidates,
            )
        )
    return CampaignEstimate(
        rounds=spec.budget_rounds,
        lines=tuple(lines),
        basis=(
            f"runs: {basis}; proposer: harness + {PROPOSER_TRAJECTORY_TOKENS:,} trajectory tokens in, "
            f"{PROPOSER_OUTPUT_TOKENS:,} out per call. An upper bound: the guard runs only for candidates "
            "that gained, and cached answers cost nothing"
        ),
    )
