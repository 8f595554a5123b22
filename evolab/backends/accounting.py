"""Token usage and cost."""

from __future__ import annotations

from typing import Any

from evolab.backends.types import BackendConfig, Usage


def usage_from_payload(payload: Any) -> Usage:
    """Read an OpenAI `usage` object (pydantic model or dict).

    output_tokens is `completion_tokens`, which already includes reasoning tokens;
    reasoning_tokens is only what the endpoint reports in completion_tokens_details (0 if
    it reports nothing — we do not guess).
    """
    if payload is None:
        return Usage()
    data = payload if isinstance(payload, dict) else payload.model_dump()
    details = data.get("completion_tokens_details") or {}
    return Usage(
        input_tokens=int(data.get("prompt_tokens") or 0),
        output_tokens=int(data.get("completion_tokens") or 0),
        reasoning_tokens=int(details.get("reasoning_tokens") or 0),
    )


def cost_usd(config: BackendConfig, usage: Usage) -> float:
    """Prices are per 1M tokens; reasoning tokens are billed as output (they are part of it)."""
    return (usage.input_tokens * config.price_in_per_m + usage.output_tokens * config.price_out_per_m) / 1_000_000
