"""Which sampling parameters does an endpoint accept, reject, or silently ignore?

A handful of tiny requests (max_tokens small, one short prompt, about fifteen in all).
"Ignored" can only be inferred: with a fixed seed, two extreme values of a parameter that
should matter produce identical output and usage. That inference needs the endpoint to be
deterministic for a fixed seed, which the probe checks first; when it is not, the probe
says so instead of guessing.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, replace
from typing import Any, Literal

from evolab.backends.client import BackendClient
from evolab.backends.errors import BackendError
from evolab.backends.types import BackendConfig, ChatRequest, ChatResult

ProbeStatus = Literal["accepted", "rejected", "ignored", "unknown"]

PROBE_MESSAGES = [{"role": "user", "content": "Write ten random English words, separated by spaces."}]
BASE_PARAMS: dict[str, Any] = {"temperature": 0.7, "seed": 1234, "max_tokens": 64}
# Extreme values whose outputs should differ if the endpoint honours the parameter.
CONTRASTS: dict[str, tuple[Any, Any]] = {
    "temperature": (0.01, 1.0),
    "top_p": (0.05, 1.0),
    "top_k": (1, 100),
    "presence_penalty": (0.0, 2.0),
    "frequency_penalty": (0.0, 2.0),
}
# Extra values checked for refusal only: OpenAI allows temperature 0, MiniMax M2.7 does not.
RANGE_CHECKS: dict[str, tuple[Any, ...]] = {"temperature": (0.0,)}
SMALL_MAX_TOKENS = 5
ALTERNATIVE_SEED = 4321


@dataclass(frozen=True)
class ProbeTrial:
    value: Any
    outcome: Literal["ok", "rejected", "error"]
    detail: str


@dataclass(frozen=True)
class ProbeResult:
    param: str
    status: ProbeStatus
    evidence: str
    trials: tuple[ProbeTrial, ...] = ()

    @property
    def rejected_values(self) -> list[Any]:
        return [trial.value for trial in self.trials if trial.outcome == "rejected"]

    @property
    def accepted_values(self) -> list[Any]:
        return [trial.value for trial in self.trials if trial.outcome == "ok"]


@dataclass(frozen=True)
class _Outcome:
    value: Any
    result: ChatResult | None
    error: BackendError | None

    def trial(self, param: str) -> ProbeTrial:
        if self.result is not None:
            return ProbeTrial(self.value, "ok", _describe(self.result))
        assert self.error is not None
        outcome: Literal["rejected", "error"] = "rejected" if _names(self.error, param) else "error"
        return ProbeTrial(self.value, outcome, self.error.message)


async def probe_parameters(config: BackendConfig, *, client: BackendClient | None = None) -> dict[str, ProbeResult]:
    """Probe temperature, top_p, top_k, presence/frequency penalties, seed and max_tokens."""
    own_client = client is None
    # One retry absorbs a transient blip; more would only make the probe slow and costly.
    probe_client = client or BackendClient(replace(config, max_retries=1, stream=False))
    try:
        return await _probe(probe_client)
    finally:
        if own_client:
            await probe_client.aclose()


async def _probe(client: BackendClient) -> dict[str, ProbeResult]:
    async def send(param: str | None, value: Any) -> _Outcome:
        params = dict(BASE_PARAMS)
        if param is not None:
            params[param] = value
        try:
            # Our own family checks are off: the point is to learn what the endpoint refuses.
            result = await client.chat(ChatRequest(messages=PROBE_MESSAGES, params=params), check_params=False)
        except BackendError as exc:
            return _Outcome(value, None, exc)
        return _Outcome(value, result, None)

    first, second = await asyncio.gather(send(None, None), send(None, None))
    if first.result is None or second.result is None:
        failed = first.error or second.error
        evidence = f"baseline request failed: {failed.message if failed else 'no answer'}"
        names = [*CONTRASTS, "seed", "max_tokens"]
        return {name: ProbeResult(name, "unknown", evidence) for name in names}
    deterministic = _fingerprint(first.result) == _fingerprint(second.result)

    jobs: dict[str, list[Any]] = {param: [*RANGE_CHECKS.get(param, ()), *values] for param, values in CONTRASTS.items()}
    jobs["seed"] = [ALTERNATIVE_SEED]
    jobs["max_tokens"] = [SMALL_MAX_TOKENS]
    flat = [(param, value) for param, values in jobs.items() for value in values]
    outcomes = await asyncio.gather(*(send(param, value) for param, value in flat))
    by_param: dict[str, list[_Outcome]] = {param: [] for param in jobs}
    for (param, _), outcome in zip(flat, outcomes, strict=True):
        by_param[param].append(outcome)

    results = {param: _contrast(param, by_param[param], deterministic) for param in CONTRASTS}
    results["seed"] = _seed(by_param["seed"][0], first.result, deterministic)
    results["max_tokens"] = _max_tokens(by_param["max_tokens"][0])
    return results


def _contrast(param: str, outcomes: list[_Outcome], deterministic: bool) -> ProbeResult:
    trials = tuple(outcome.trial(param) for outcome in outcomes)
    rejected = [t for t in trials if t.outcome == "rejected"]
    if rejected:
        accepted = ", ".join(repr(t.value) for t in trials if t.outcome == "ok") or "none"
        refused = "; ".join(f"{param}={t.value!r} → {t.detail}" for t in rejected)
        return ProbeResult(param, "rejected", f"rejected {refused}; accepted: {accepted}", trials)
    errors = [t for t in trials if t.outcome == "error"]
    if errors:
        return ProbeResult(param, "unknown", f"{param}={errors[0].value!r} failed: {errors[0].detail}", trials)
    low, high = (o for o in outcomes[-2:])
    assert low.result is not None and high.result is not None
    if not deterministic:
        return ProbeResult(
            param,
            "accepted",
            f"accepted {low.value!r} and {high.value!r}; whether it is honoured is unknown because the same "
            "seed twice gave different outputs",
            trials,
        )
    if _fingerprint(low.result) == _fingerprint(high.result):
        return ProbeResult(
            param,
            "ignored",
            f"accepted, but {param}={low.value!r} and {param}={high.value!r} gave identical output and usage "
            "with a fixed seed (as far as can be told, ignored)",
            trials,
        )
    return ProbeResult(param, "accepted", f"{param}={low.value!r} and {high.value!r} changed the output", trials)


def _seed(outcome: _Outcome, baseline: ChatResult, deterministic: bool) -> ProbeResult:
    trial = outcome.trial("seed")
    if outcome.result is None:
        status: ProbeStatus = "rejected" if trial.outcome == "rejected" else "unknown"
        return ProbeResult("seed", status, f"seed={outcome.value} failed: {trial.detail}", (trial,))
    if not deterministic:
        return ProbeResult(
            "seed",
            "ignored",
            "the same seed twice gave different outputs (as far as can be told, not honoured)",
            (trial,),
        )
    if _fingerprint(outcome.result) == _fingerprint(baseline):
        return ProbeResult(
            "seed",
            "ignored",
            f"seeds {BASE_PARAMS['seed']} and {outcome.value} gave identical output; the endpoint may be "
            "deterministic regardless of seed",
            (trial,),
        )
    return ProbeResult("seed", "accepted", "the same seed reproduced the output; another seed changed it", (trial,))


def _max_tokens(outcome: _Outcome) -> ProbeResult:
    trial = outcome.trial("max_tokens")
    if outcome.result is None:
        status: ProbeStatus = "rejected" if trial.outcome == "rejected" else "unknown"
        return ProbeResult("max_tokens", status, f"max_tokens={outcome.value} failed: {trial.detail}", (trial,))
    produced = outcome.result.usage.output_tokens
    if produced > SMALL_MAX_TOKENS:
        return ProbeResult(
            "max_tokens",
            "ignored",
            f"max_tokens={SMALL_MAX_TOKENS} but {produced} output tokens were reported",
            (trial,),
        )
    return ProbeResult(
        "max_tokens",
        "accepted",
        f"max_tokens={SMALL_MAX_TOKENS}: {produced} output tokens, finish_reason={outcome.result.finish_reason}",
        (trial,),
    )


def _fingerprint(result: ChatResult) -> tuple[Any, ...]:
    return (result.message.get("content"), result.reasoning, result.usage.output_tokens, result.finish_reason)


def _describe(result: ChatResult) -> str:
    return f"{result.usage.output_tokens} output tokens, finish_reason={result.finish_reason}"


def _names(error: BackendError, param: str) -> bool:
    """A 4xx whose message names the parameter counts as a refusal of that parameter."""
    status = error.status_code
    return status is not None and 400 <= status < 500 and param in error.message
