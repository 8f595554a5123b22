"""Simulator state: configuration, counters, and the turn generator behind the HTTP layer."""

from __future__ import annotations

import hashlib
import json
import re
import time
from collections import Counter, OrderedDict, deque
from dataclasses import dataclass, field, replace
from typing import Any

from evolab.backends.reasoning import reasoning_from_details
from evolab.backends.simulator import skill_model
from evolab.backends.simulator.faults import FaultConfig, LatencyConfig, RateLimiter, seeded_rng
from evolab.backends.simulator.profiles import PROFILES, InvalidRequest, Profile
from evolab.backends.simulator.tokens import count_tokens, cut_to_tokens, prompt_tokens

SYSTEM_FINGERPRINT = "evolab-simulator"
# How many issued assistant messages we remember to verify histories against.
_ISSUED_MEMORY = 100_000
# How many chat requests the request log keeps (the oldest are forgotten first).
_REQUEST_LOG_SIZE = 20_000
_NONCE_IN_CALL_ID = re.compile(r"^call_e(\d+)_")


@dataclass(frozen=True)
class SimulatorConfig:
    profile: str = "minimax-m2.7"
    latency: LatencyConfig = field(default_factory=LatencyConfig)
    rpm: int | None = None
    faults: FaultConfig = field(default_factory=FaultConfig)
    seed: int = 0

    def __post_init__(self) -> None:
        if self.profile not in PROFILES:
            raise ValueError(f"unknown profile {self.profile!r}; expected one of {', '.join(PROFILES)}")


@dataclass(frozen=True)
class RequestRecord:
    """One chat request as it arrived: the episode it belongs to (see `episode_key`), its
    turn (assistant messages already in the history) and the fault injected into it
    (None: answered normally)."""

    episode: str
    turn: int
    fault: str | None


def episode_key(messages: list[dict[str, Any]], seed: Any) -> str:
    """What every request of one agent episode shares: system prompt, user text and seed.

    A test computes it from a stored transcript to ask whether that episode was requested."""
    text = f"{skill_model.system_text(messages)}\x1f{skill_model.last_user_text(messages)}\x1f{seed}"
    return hashlib.sha256(text.encode()).hexdigest()[:24]


@dataclass
class Generated:
    """One assistant turn in wire format, before it is sent whole or as chunks."""

    content: str | None
    reasoning_details: list[dict[str, Any]] | None
    tool_calls: list[dict[str, Any]]
    finish_reason: str
    usage: dict[str, Any]

    def message(self) -> dict[str, Any]:
        message: dict[str, Any] = {"role": "assistant", "content": self.content}
        if self.tool_calls:
            message["tool_calls"] = self.tool_calls
        if self.reasoning_details is not None:
            message["reasoning_details"] = self.reasoning_details
        return message


class SimulatorState:
    """Everything the server remembers. Touched only from the server's event loop, except
    `configure`/`reset`/`stats`, which tests call between requests."""

    def __init__(self, config: SimulatorConfig) -> None:
        self.config = config
        # Whole request bodies, kept only when a test asks (`keep_bodies`): a canary test
        # must see everything that was sent, not a digest of it.
        self.bodies: list[bytes] | None = None
        self.reset()

    def keep_bodies(self, keep: bool = True) -> None:
        self.bodies = [] if keep else None

    @property
    def profile(self) -> Profile:
        return PROFILES[self.config.profile]

    def configure(self, **changes: Any) -> None:
        """Change configuration (faults, rpm, latency, seed, profile) and restart fault scripts."""
        self.config = replace(self.config, **changes)
        self.rate_limiter = RateLimiter(self.config.rpm)
        self._script_position = 0

    def reset(self) -> None:
        self.counters: Counter[str] = Counter()
        self.statuses: Counter[str] = Counter()
        self.faults_injected: Counter[str] = Counter()
        self._occurrences: Counter[str] = Counter()
        self._episodes: Counter[str] = Counter()
        self._issued: OrderedDict[str, None] = OrderedDict()
        self._request_log: deque[RequestRecord] = deque(maxlen=_REQUEST_LOG_SIZE)
        self._script_position = 0
        self.rate_limiter = RateLimiter(self.config.rpm)
        if self.bodies is not None:
            self.bodies = []

    def requests(self) -> list[RequestRecord]:
        """The most recent chat requests that reached fault injection, oldest first."""
        return list(self._request_log)

    def issued(self, message: dict[str, Any]) -> bool:
        """Whether this assistant message is one the simulator generated whole (a message
        assembled from a cut stream is not)."""
        return _history_digest(message) in self._issued

    def stats(self) -> dict[str, Any]:
        return {
            "simulated": True,
            "profile": self.profile.name,
            "model": self.profile.model_id,
            "chat_requests": self.counters["chat_requests"],
            "requests": self.counters["requests"],
            "responses_by_status": dict(self.statuses),
            "faults_injected": dict(self.faults_injected),
            "history_verified": self.counters["history_verified"],
            "history_unrecognised": self.counters["history_unrecognised"],
        }

    def next_fault(self, body: bytes) -> tuple[str | None, int]:
        """The fault for this request and how often this exact body was seen before.

        Deterministic given the seed and, per distinct body, the order of arrival: a
        retry of the same body gets a fresh draw, an unrelated request does not shift it.
        """
        digest = hashlib.sha256(body).hexdigest()
        occurrence = self._occurrences[digest]
        self._occurrences[digest] += 1
        faults = self.config.faults
        if self._script_position < len(faults.script):
            scripted = faults.script[self._script_position]
            self._script_position += 1
            fault = None if scripted == "ok" else scripted
        else:
            fault = faults.draw(seeded_rng(self.config.seed, "fault", digest, occurrence).random())
        if fault:
            self.faults_injected[fault] += 1
        self._log_request(body, fault)
        return fault, occurrence

    def _log_request(self, body: bytes, fault: str | None) -> None:
        if self.bodies is not None:
            self.bodies.append(body)
        try:
            payload = json.loads(body)
        except ValueError:
            payload = None
        messages = payload.get("messages") if isinstance(payload, dict) else None
        messages = [message for message in messages or [] if isinstance(message, dict)]
        seed = payload.get("seed") if isinstance(payload, dict) else None
        turn = sum(1 for message in messages if message.get("role") == "assistant")
        self._request_log.append(RequestRecord(episode_key(messages, seed), turn, fault))

    def latency_s(self, body: bytes, occurrence: int) -> float:
        digest = hashlib.sha256(body).hexdigest()
        return self.config.latency.sample_s(seeded_rng(self.config.seed, "latency", digest, occurrence))

    def generate(self, body: dict[str, Any]) -> Generated:
        """Validate a chat request and produce the assistant turn (raises InvalidRequest)."""
        profile = self.profile
        messages = _checked_messages(body.get("messages"))
        tools = body.get("tools") or None
        params = profile.validate(body)
        split = profile.thinks and body.get("reasoning_split") is True
        self._check_history(messages)

        honoured = profile.honoured_params(params)
        varying = {key: value for key, value in honoured.items() if key not in {"max_tokens", "seed"}}
        episode = (
            self.config.seed,
            skill_model.system_text(messages),
            skill_model.last_user_text(messages),
            sorted(varying.items()),
        )
        turn = sum(1 for message in messages if message.get("role") == "assistant")
        if "seed" in honoured:
            nonce = None
            # A seeded request's luck depends on the task, the sampling parameters and the
            # seed, not on the harness: two harness versions asked the same seeded question
            # share their luck (common random numbers), so a paired comparison sees what
            # the harness change did rather than sampling noise.
            luck = (self.config.seed, skill_model.last_user_text(messages), sorted(varying.items()))
            episode_seed = seeded_rng(*luck, "seed", honoured["seed"]).getrandbits(48)
        else:
            nonce = self._episode_nonce(messages, repr(episode), turn)
            episode_seed = seeded_rng(*episode, "nonce", nonce).getrandbits(48)
        sampling = skill_model.Sampling(
            temperature=float(honoured.get("temperature", 1.0)),
            top_p=float(honoured.get("top_p", 1.0)),
            top_k=honoured.get("top_k"),
        )
        reply = skill_model.reply(messages, tools, sampling, episode_seed)
        generated = self._wire_format(reply, profile, split, params.get("max_tokens"), nonce, episode_seed, turn)
        generated.usage["prompt_tokens"] = prompt_tokens(messages, tools)
        generated.usage["total_tokens"] = generated.usage["prompt_tokens"] + generated.usage["completion_tokens"]
        self._remember(generated)
        return generated

    def _episode_nonce(self, messages: list[dict[str, Any]], episode: str, turn: int) -> int:
        """Without a request seed, the n-th identical episode is sample n; later turns find
        n again in the tool-call ids the simulator handed out on the first turn."""
        if turn == 0:
            nonce = self._episodes[episode]
            self._episodes[episode] += 1
            return nonce
        for message in messages:
            for call in message.get("tool_calls") or []:
                match = _NONCE_IN_CALL_ID.match(str(call.get("id") or ""))
                if match:
                    return int(match.group(1))
        return 0

    def _wire_format(
        self,
        reply: skill_model.ModelReply,
        profile: Profile,
        split: bool,
        max_tokens: int | None,
        nonce: int | None,
        episode_seed: int,
        turn: int,
    ) -> Generated:
        reasoning = reply.reasoning if profile.thinks else ""
        content = reply.content
        id_rng = seeded_rng(episode_seed, turn)
        prefix = f"call_e{nonce}_" if nonce is not None else "call_"
        tool_calls = [
            {
                "id": f"{prefix}{id_rng.getrandbits(40):010x}",
                "type": "function",
                "function": {"name": name, "arguments": json.dumps(arguments, ensure_ascii=False)},
            }
            for name, arguments in reply.tool_calls
        ]
        reasoning_tokens = count_tokens(reasoning)
        call_tokens = count_tokens(json.dumps(tool_calls)) if tool_calls else 0
        completion = reasoning_tokens + count_tokens(content) + call_tokens
        finish_reason = "tool_calls" if tool_calls else "stop"
        think_closed = True
        if max_tokens is not None and completion > max_tokens:
            # Cut like a real model: reasoning first, then the answer; tool calls are lost.
            finish_reason, tool_calls, completion = "length", [], max_tokens
            if reasoning_tokens >= max_tokens:
                reasoning, content, think_closed = cut_to_tokens(reasoning, max_tokens), "", False
                reasoning_tokens = max_tokens
            else:
                content = cut_to_tokens(content, max_tokens - reasoning_tokens)
        details = None
        if reasoning and split:
            details = [
                {
                    "type": "reasoning.text",
                    "id": "reasoning-text-1",
                    "format": "MiniMax-response-v1",
                    "index": 0,
                    "text": reasoning,
                }
            ]
        elif reasoning:
            think = f"<think>\n{reasoning}\n</think>\n\n" if think_closed else f"<think>\n{reasoning}"
            content = think + content
        usage: dict[str, Any] = {"completion_tokens": completion}
        if profile.thinks:
            usage["completion_tokens_details"] = {"reasoning_tokens": reasoning_tokens}
        return Generated(
            content=content if content or not tool_calls else None,
            reasoning_details=details,
            tool_calls=tool_calls,
            finish_reason=finish_reason,
            usage=usage,
        )

    def _remember(self, generated: Generated) -> None:
        self._issued[_history_digest(generated.message())] = None
        while len(self._issued) > _ISSUED_MEMORY:
            self._issued.popitem(last=False)

    def _check_history(self, messages: list[dict[str, Any]]) -> None:
        """Count assistant messages sent back exactly as issued, and those that were altered
        (e.g. a client that stripped the <think> block M2.7 needs to see again)."""
        for message in messages:
            if message.get("role") == "assistant":
                known = _history_digest(message) in self._issued
                self.counters["history_verified" if known else "history_unrecognised"] += 1


def _history_digest(message: dict[str, Any]) -> str:
    reasoning = reasoning_from_details(message.get("reasoning_details")) or ""
    text = f"{message.get('content') or ''}\x1f{reasoning}"
    return hashlib.sha256(text.encode()).hexdigest()


_ROLES = {"system", "developer", "user", "assistant", "tool"}


def _checked_messages(messages: Any) -> list[dict[str, Any]]:
    if not isinstance(messages, list) or not messages:
        raise InvalidRequest("messages must be a non-empty list", "messages")
    offered_ids: set[str] = set()
    for index, message in enumerate(messages):
        if not isinstance(message, dict) or message.get("role") not in _ROLES:
            raise InvalidRequest(f"messages[{index}] needs a role among {sorted(_ROLES)}", "messages")
        for call in message.get("tool_calls") or []:
            offered_ids.add(str(call.get("id")))
        if message["role"] == "tool" and str(message.get("tool_call_id")) not in offered_ids:
            raise InvalidRequest(
                f"messages[{index}].tool_call_id {message.get('tool_call_id')!r} answers no earlier tool call",
                "messages",
            )
    return messages


def now_s() -> int:
    return int(time.time())
