"""What a run will cost, before it starts.

Input tokens are counted from the rendered prompts (about four characters a token);
output tokens come from this backend's earlier results in the project when there are
any, otherwise from an assumption stated with the figure. Agent loops with tools can
take several turns, so the estimate is a guide, and the cost cap is the guarantee.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal

from django.db.models import Avg, Count

from evolab.projects.models import Backend
from evolab.runs.models import CaseResult, ResultStatus

CHARS_PER_TOKEN = 4
ASSUMED_OUTPUT_TOKENS = 400


@dataclass(frozen=True)
class CostEstimate:
    requests: int
    input_tokens: int
    output_tokens: int
    usd: Decimal
    basis: str


def estimate_cost(*, backend: Backend | None, prompt_chars: list[int], samples: int) -> CostEstimate:
    """`prompt_chars`: the rendered prompt length of each case that will run."""
    episodes = len(prompt_chars) * samples
    input_tokens = sum(prompt_chars) * samples // CHARS_PER_TOKEN
    if backend is None:
        return CostEstimate(0, 0, 0, Decimal(0), "pre-recorded outputs: no model is called")
    history = CaseResult.objects.filter(run__backend=backend, status=ResultStatus.DONE, cached=False).aggregate(
        n=Count("id"), output=Avg("output_tokens"), input=Avg("input_tokens")
    )
    if history["n"]:
        output_per_episode = int(history["output"] or 0)
        # Earlier results also tell how much the agent loop multiplies the prompt.
        turns = max(
            1.0, (history["input"] or 0) / max(1, sum(prompt_chars) / max(1, len(prompt_chars)) / CHARS_PER_TOKEN)
        )
        input_tokens = int(input_tokens * min(turns, 10))
        basis = f"output tokens from {history['n']} earlier results on this backend"
    else:
        output_per_episode = ASSUMED_OUTPUT_TOKENS
        basis = f"assuming one turn and {ASSUMED_OUTPUT_TOKENS} output tokens per case (no earlier results)"
    output_tokens = output_per_episode * episodes
    usd = (Decimal(input_tokens) * backend.price_in_per_m + Decimal(output_tokens) * backend.price_out_per_m) / Decimal(
        1_000_000
    )
    return CostEstimate(episodes, input_tokens, output_tokens, usd.quantize(Decimal("0.0001")), basis)
