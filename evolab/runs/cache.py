"""The response cache: identical requests are answered from stored results.

A request is identical when the endpoint, model, the backend's default parameters, the
request parameters, messages, tools and sample index all match, so re-running an
unchanged harness costs nothing while a different sample of the same case still asks
the model. Only successful answers are stored; a failure is never cached.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Awaitable, Callable
from dataclasses import asdict, replace
from typing import Any

from evolab.backends.types import BackendConfig, ChatRequest, ChatResult, Usage
from evolab.engine.agent_loop import ChatModel


def cache_key(config: BackendConfig, request: ChatRequest) -> str:
    payload = [
        config.base_url,
        config.model,
        config.family,
        config.default_params,
        request.params,
        request.messages,
        request.tools,
        request.sample_index,
    ]
    encoded = json.dumps(payload, sort_keys=True, separators=(",", ":"), ensure_ascii=False, default=str)
    return hashlib.sha256(encoded.encode()).hexdigest()


def result_to_json(result: ChatResult) -> dict[str, Any]:
    return asdict(result)


def result_from_json(data: dict[str, Any]) -> ChatResult:
    """A stored answer, as served from the cache: it costs nothing now and made no attempt."""
    return ChatResult(
        message=data["message"],
        content=data["content"],
        reasoning=data.get("reasoning"),
        tool_calls=data.get("tool_calls") or [],
        finish_reason=data.get("finish_reason"),
        usage=Usage(**data.get("usage", {})),
        cost_usd=0.0,
        latency_s=0.0,
        attempts=[],
        simulated=bool(data.get("simulated", False)),
    )


Lookup = Callable[[str], Awaitable[dict[str, Any] | None]]


class CachedModel:
    """Wraps a backend client for one chunk: answers from the cache when it can, and
    collects new answers for the chunk's next batch write."""

    def __init__(
        self, inner: ChatModel, config: BackendConfig, *, lookup: Lookup, known: dict[str, Any], enabled: bool = True
    ) -> None:
        self.inner = inner
        self.enabled = enabled  # a run may opt out: then every request goes to the backend
        self.config = config
        self.lookup = lookup
        self.known = known  # prefetched entries for this chunk's first turns
        self.new_entries: dict[str, dict[str, Any]] = {}

    def for_episode(self) -> EpisodeModel:
        return EpisodeModel(self)


class EpisodeModel:
    """The model as one episode sees it; remembers whether every answer came from the cache."""

    def __init__(self, shared: CachedModel) -> None:
        self.shared = shared
        self.calls = 0
        self.hits = 0

    @property
    def all_cached(self) -> bool:
        return self.calls > 0 and self.hits == self.calls

    async def chat(self, request: ChatRequest) -> ChatResult:
        self.calls += 1
        if not self.shared.enabled:
            return await self.shared.inner.chat(request)
        key = cache_key(self.shared.config, request)
        stored = self.shared.known.get(key) or self.shared.new_entries.get(key) or await self.shared.lookup(key)
        if stored is not None:
            self.hits += 1
            return result_from_json(stored)
        result = await self.shared.inner.chat(request)
        self.shared.new_entries[key] = result_to_json(replace(result, attempts=[]))
        return result
