"""Simulated endpoint profiles: which parameters they accept, honour or silently ignore."""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any


class InvalidRequest(Exception):
    """A 400 answer; `param` is named in the error body like OpenAI-style APIs do."""

    def __init__(self, message: str, param: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.param = param


@dataclass(frozen=True)
class Profile:
    name: str
    model_id: str
    temperature_min: float
    temperature_max: float
    # False: the minimum itself is refused (M2.7 refuses temperature 0).
    temperature_min_inclusive: bool
    # Parameters that change the output; the others are accepted and ignored.
    honoured: frozenset[str]
    # Reasoning as <think>…</think> at the start of content (or in reasoning_details
    # when the request sets reasoning_split).
    thinks: bool
    defaults: tuple[tuple[str, Any], ...]

    def validate(self, body: dict[str, Any]) -> dict[str, Any]:
        """Check the sampling parameters of a request; return the effective values."""
        params = dict(self.defaults)
        for key in ("temperature", "top_p", "top_k", "max_tokens", "presence_penalty", "frequency_penalty", "seed"):
            if body.get(key) is not None:
                params[key] = body[key]
        temperature = params.get("temperature")
        if temperature is not None:
            number = _number(temperature, "temperature")
            too_low = number < self.temperature_min or (
                number == self.temperature_min and not self.temperature_min_inclusive
            )
            if too_low or number > self.temperature_max:
                low = "[" if self.temperature_min_inclusive else "("
                raise InvalidRequest(
                    f"invalid temperature {temperature}: must be in {low}{self.temperature_min:g}, "
                    f"{self.temperature_max:g}]",
                    "temperature",
                )
        if "top_p" in params and not 0 < _number(params["top_p"], "top_p") <= 1:
            raise InvalidRequest(f"invalid top_p {params['top_p']}: must be in (0, 1]", "top_p")
        if "top_k" in params and (not isinstance(params["top_k"], int) or params["top_k"] < -1):
            raise InvalidRequest(f"invalid top_k {params['top_k']}: must be an integer >= -1", "top_k")
        if "max_tokens" in params and (not isinstance(params["max_tokens"], int) or params["max_tokens"] < 1):
            raise InvalidRequest(f"invalid max_tokens {params['max_tokens']}: must be a positive integer", "max_tokens")
        for key in ("presence_penalty", "frequency_penalty"):
            if key in self.honoured and key in params and not -2 <= _number(params[key], key) <= 2:
                raise InvalidRequest(f"invalid {key} {params[key]}: must be in [-2, 2]", key)
        if "seed" in params and not isinstance(params["seed"], int):
            raise InvalidRequest("seed must be an integer", "seed")
        if body.get("n") not in (None, 1):
            raise InvalidRequest("only n=1 is supported", "n")
        return params

    def honoured_params(self, params: dict[str, Any]) -> dict[str, Any]:
        return {key: value for key, value in params.items() if key in self.honoured}


def _number(value: Any, name: str) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        raise InvalidRequest(f"{name} must be a number", name)
    return float(value)


PROFILES: dict[str, Profile] = {
    "minimax-m2.7": Profile(
        name="minimax-m2.7",
        model_id="MiniMax-M2.7-sim",
        temperature_min=0.0,
        temperature_max=1.0,
        temperature_min_inclusive=False,
        # Like the hosted M2.7 API: penalties are accepted and silently ignored.
        honoured=frozenset({"temperature", "top_p", "top_k", "max_tokens", "seed"}),
        thinks=True,
        defaults=(("temperature", 1.0), ("top_p", 0.95), ("top_k", 40)),
    ),
    "generic": Profile(
        name="generic",
        model_id="generic-chat-sim",
        temperature_min=0.0,
        temperature_max=2.0,
        temperature_min_inclusive=True,
        honoured=frozenset(
            {"temperature", "top_p", "top_k", "max_tokens", "seed", "presence_penalty", "frequency_penalty"}
        ),
        thinks=False,
        defaults=(("temperature", 1.0), ("top_p", 1.0)),
    ),
}
