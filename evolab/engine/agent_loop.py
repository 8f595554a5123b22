"""One agent episode: call the model, run the tools it asks for, stop on an answer or a guard.

The loop knows nothing of HTTP or caching: it takes any `ChatModel` (the backends client, the
simulator client, or a scripted fake in tests).
"""

from __future__ import annotations

import json
import time
from collections import Counter, deque
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from typing import Any, Literal, Protocol

from evolab.backends.types import Attempt, ChatRequest, ChatResult, Message, Usage
from evolab.engine.harness_config import HarnessConfig
from evolab.engine.tools import SUBMIT_ANSWER, ToolBox, ToolError

EpisodeStatus = Literal["answered", "max_turns", "looped", "error"]


class ChatModel(Protocol):
    async def chat(self, request: ChatRequest) -> ChatResult: ...


@dataclass(frozen=True)
class ToolCallRecord:
    call_id: str
    name: str
    arguments: dict[str, Any]
    result: str
    duration_s: float
    error: bool = False
    turn: int = 0


@dataclass
class Episode:
    status: EpisodeStatus
    final_answer: str | None
    transcript: list[Message]
    tool_calls: list[ToolCallRecord] = field(default_factory=list)
    usage: Usage = field(default_factory=Usage)
    cost_usd: float = 0.0
    # Wall clock of the whole episode, model and tools included.
    latency_s: float = 0.0
    turns: int = 0
    attempts: list[Attempt] = field(default_factory=list)
    error: str | None = None
    # For `looped`: the repeated call or output that tripped the guard.
    loop_signature: str | None = None

    @property
    def output(self) -> str:
        """What graders read: the final answer, or "" when there is none."""
        return self.final_answer or ""

    def as_json(self) -> dict[str, Any]:
        """Plain JSON-serialisable data for storage in a CaseResult."""
        return asdict(self)


async def run_episode(
    model: ChatModel,
    messages: Sequence[Message],
    config: HarnessConfig,
    tools: ToolBox,
    *,
    sample_index: int = 0,
) -> Episode:
    """Run the agent until it answers, calls submit_answer, loops, or runs out of turns."""
    started = time.monotonic()
    history: list[Message] = [dict(message) for message in messages]
    episode = Episode(status="max_turns", final_answer=None, transcript=history)
    guard = _LoopGuard(config.agent.loop_guard.window, config.agent.loop_guard.threshold)
    tool_schemas = tools.schemas() or None
    params = config.sampling.as_request_params()

    try:
        for turn in range(1, config.agent.max_turns + 1):
            request = ChatRequest(
                messages=list(history), params=dict(params), tools=tool_schemas, sample_index=sample_index
            )
            try:
                result = await model.chat(request)
            except Exception as exc:  # any backend failure ends the episode, recorded
                episode.status = "error"
                episode.error = f"{type(exc).__name__}: {exc}"
                attempts = getattr(exc, "attempts", None)
                if isinstance(attempts, list):
                    episode.attempts.extend(a for a in attempts if isinstance(a, Attempt))
                return episode
            episode.turns = turn
            episode.usage = episode.usage + result.usage
            episode.cost_usd += result.cost_usd
            episode.attempts.extend(result.attempts)
            # Exactly as returned: M2.7 needs its <think> block back verbatim next turn.
            history.append(result.message)

            if not result.tool_calls:
                episode.status = "answered"
                episode.final_answer = result.content
                return episode

            calls = [_parse_call(raw) for raw in result.tool_calls]
            looped = guard.observe([call.signature for call in calls], result.content)
            if looped is not None:
                episode.status = "looped"
                episode.loop_signature = looped
                return episode

            for call in calls:
                record = await _execute(call, tools, turn)
                episode.tool_calls.append(record)
                history.append({"role": "tool", "tool_call_id": call.call_id, "content": record.result})
                if call.name == SUBMIT_ANSWER and not record.error:
                    episode.status = "answered"
                    episode.final_answer = str(call.arguments["answer"])
                    return episode
        return episode
    finally:
        episode.latency_s = time.monotonic() - started


@dataclass(frozen=True)
class _Call:
    call_id: str
    name: str
    arguments: dict[str, Any]
    # Set when the arguments were not a JSON object; reported to the model.
    argument_error: str | None
    signature: str


def _parse_call(raw: dict[str, Any]) -> _Call:
    """A tool call in either shape a ChatModel may return: the OpenAI wire format
    (`{"id", "function": {"name", "arguments": "<json>"}}`) or the backends client's
    parsed form (`{"id", "name", "arguments", "arguments_raw", "parse_error"}`), whose
    raw argument text is decoded again here so both report errors alike."""
    function = raw.get("function") or {}
    if function:
        name = str(function.get("name", ""))
        raw_arguments = function.get("arguments") or "{}"
    else:
        name = str(raw.get("name") or "")
        raw_arguments = raw.get("arguments_raw") or raw.get("arguments") or "{}"
    arguments: dict[str, Any] = {}
    argument_error = None
    if isinstance(raw_arguments, dict):
        arguments = raw_arguments
    else:
        try:
            decoded = json.loads(raw_arguments)
        except (TypeError, ValueError) as exc:
            argument_error = f"arguments are not valid JSON: {exc}"
        else:
            if isinstance(decoded, dict):
                arguments = decoded
            else:
                argument_error = "arguments must be a JSON object"
    canonical = json.dumps(arguments, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    signature = f"{name}({canonical if argument_error is None else raw_arguments})"
    return _Call(str(raw.get("id", "")), name, arguments, argument_error, signature)


async def _execute(call: _Call, tools: ToolBox, turn: int) -> ToolCallRecord:
    started = time.monotonic()
    error = True
    if call.argument_error is not None:
        result = f"Error: {call.argument_error}"
    elif call.name == SUBMIT_ANSWER and call.name in tools.tools and not isinstance(call.arguments.get("answer"), str):
        result = "Error: argument 'answer' (string) is required"
    else:
        try:
            result = await tools.call(call.name, call.arguments)
            error = False
        except ToolError as exc:
            result = f"Error: {exc}"
        except Exception as exc:  # a broken tool must not end the episode; the model may recover
            result = f"Error: {type(exc).__name__}: {exc}"
    return ToolCallRecord(call.call_id, call.name, call.arguments, result, time.monotonic() - started, error, turn)


class _LoopGuard:
    """Detects an agent repeating itself.

    Each turn contributes its set of tool-call signatures (name + canonical arguments) and
    its visible text. If any of them occurs in `threshold` of the last `window` turns, the
    agent is looping.
    """

    def __init__(self, window: int, threshold: int) -> None:
        self.threshold = threshold
        self.turns: deque[frozenset[str]] = deque(maxlen=window)

    def observe(self, call_signatures: list[str], content: str) -> str | None:
        keys = {f"call:{signature}" for signature in call_signatures}
        if content.strip():
            keys.add(f"output:{content.strip()}")
        self.turns.append(frozenset(keys))
        counts = Counter(key for turn in self.turns for key in turn)
        repeated = [key for key, count in counts.items() if count >= self.threshold]
        return min(repeated) if repeated else None
