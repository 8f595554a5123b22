"""Sampling parameters: family defaults, validation, and the split into SDK arguments.

Parameters arrive named as in harness.yaml. The `openai` package accepts the standard
ones as keyword arguments; anything else (top_k, reasoning_split, …) must travel in
`extra_body` or the SDK refuses it.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

from evolab.backends.errors import BackendRequestRefused
from evolab.backends.types import BackendConfig

# Keyword arguments of chat.completions.create that we pass through as they are.
STANDARD_PARAMS = frozenset(
    {
        "temperature",
        "top_p",
        "max_tokens",
        "max_completion_tokens",
        "presence_penalty",
        "frequency_penalty",
        "seed",
        "stop",
        "logit_bias",
        "response_format",
        "tool_choice",
        "parallel_tool_calls",
        "user",
        "metadata",
        "reasoning_effort",
    }
)
# Controlled by the client itself, never by a harness.
RESERVED_PARAMS = frozenset({"stream", "stream_options", "messages", "model", "tools", "n"})

# MiniMax recommends temperature 1.0, top_p 0.95, top_k 40 for M2.x.
MINIMAX_DEFAULTS: dict[str, Any] = {"top_p": 0.95, "top_k": 40}


@dataclass(frozen=True)
class PreparedParams:
    kwargs: dict[str, Any]
    extra_body: dict[str, Any] = field(default_factory=dict)


def merge_params(config: BackendConfig, request_params: dict[str, Any]) -> dict[str, Any]:
    """Family defaults < backend defaults < the request's own parameters; None means unset."""
    merged: dict[str, Any] = {}
    if config.family == "minimax":
        merged.update(MINIMAX_DEFAULTS)
    merged.update(config.default_params)
    merged.update(request_params)
    return {key: value for key, value in merged.items() if value is not None}


def validate_params(config: BackendConfig, params: dict[str, Any], *, family_rules: bool = True) -> None:
    """Refuse requests the endpoint is known to reject, before spending a round trip."""
    for key in sorted(params):
        if key in RESERVED_PARAMS:
            raise BackendRequestRefused(f"parameter {key!r} is set by the client, not by the harness", param=key)
    if family_rules and config.family == "minimax" and "temperature" in params:
        temperature = params["temperature"]
        if not _is_number(temperature) or not 0.0 < float(temperature) <= 1.0:
            raise BackendRequestRefused(
                f"temperature={temperature!r} is outside (0, 1], the range MiniMax M2.7 accepts "
                "(0 is not allowed; use a small positive value such as 0.01 for near-greedy sampling)",
                param="temperature",
            )


def prepare_params(config: BackendConfig, request_params: dict[str, Any], *, check: bool = True) -> PreparedParams:
    """Merge, validate (family rules only when `check`), and split into kwargs and extra_body."""
    params = merge_params(config, request_params)
    validate_params(config, params, family_rules=check)
    kwargs = {key: value for key, value in params.items() if key in STANDARD_PARAMS}
    extra_body = {key: value for key, value in params.items() if key not in STANDARD_PARAMS}
    if config.reasoning_split:
        extra_body["reasoning_split"] = True
    return PreparedParams(kwargs=kwargs, extra_body=extra_body)


def _is_number(value: object) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)
