"""Plain data exchanged with model backends.

These types are the contract between `evolab.backends` (which talks to endpoints) and
`evolab.engine` (which runs agent episodes). They hold plain Python data only, so the
runs layer can store them as JSON without translation.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal

BackendKind = Literal["openai_compat", "simulator"]
# The family decides protocol quirks: "minimax" enforces temperature in (0, 1], sends
# top_k through extra_body and keeps <think> reasoning in the assistant content.
BackendFamily = Literal["generic", "minimax"]

Message = dict[str, Any]


@dataclass(frozen=True)
class BackendConfig:
    """Everything needed to call one endpoint; the API key is already resolved."""

    name: str
    kind: BackendKind
    base_url: str
    model: str
    api_key: str | None = None
    family: BackendFamily = "generic"
    default_params: dict[str, Any] = field(default_factory=dict)
    price_in_per_m: float = 0.0
    price_out_per_m: float = 0.0
    max_concurrency: int = 8
    reasoning_split: bool = False
    # Client-side pacing; None means no limit. `rate_share` is this client's part of the
    # backend's limits when several clients (chunks, workers) use the backend at once.
    requests_per_minute: int | None = None
    tokens_per_minute: int | None = None
    rate_share: float = 1.0
    connect_timeout_s: float = 5.0
    total_timeout_s: float = 120.0
    max_retries: int = 4
    # Stream responses (SSE) unless a request says otherwise; a broken stream is retried.
    stream: bool = False


@dataclass(frozen=True)
class ChatRequest:
    messages: list[Message]
    # Sampling parameters as named in harness.yaml: temperature, top_p, top_k, max_tokens,
    # presence_penalty, frequency_penalty, seed. Missing keys fall back to the backend's defaults.
    params: dict[str, Any] = field(default_factory=dict)
    tools: list[dict[str, Any]] | None = None
    # Which of the k samples of a case this is; part of the response-cache key.
    sample_index: int = 0
    # None: use BackendConfig.stream.
    stream: bool | None = None


@dataclass(frozen=True)
class Usage:
    input_tokens: int = 0
    output_tokens: int = 0
    reasoning_tokens: int = 0

    def __add__(self, other: Usage) -> Usage:
        return Usage(
            self.input_tokens + other.input_tokens,
            self.output_tokens + other.output_tokens,
            self.reasoning_tokens + other.reasoning_tokens,
        )


@dataclass(frozen=True)
class Attempt:
    number: int
    request_id: str | None
    status_code: int | None
    error: str | None
    duration_s: float


@dataclass(frozen=True)
class ChatResult:
    # The assistant message exactly as it must be sent back in a multi-turn history
    # (for M2.7 its content keeps the <think>…</think> block unmodified).
    message: Message
    # Visible answer without reasoning, and the reasoning text on its own.
    content: str
    reasoning: str | None
    tool_calls: list[dict[str, Any]]
    finish_reason: str | None
    usage: Usage
    cost_usd: float
    # Duration of the successful attempt; failed attempts and backoff waits are in `attempts`.
    latency_s: float
    attempts: list[Attempt]
    # The endpoint labelled its answer as simulated (x-evolab-simulated header), so the
    # runs layer can show it; never inferred from the model name.
    simulated: bool = False
