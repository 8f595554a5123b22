"""Turning an endpoint's answer (whole or streamed) into one assistant turn."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

from evolab.backends.reasoning import reasoning_from_details, split_think
from evolab.backends.types import Message


@dataclass
class AssistantTurn:
    """The fields of one assistant message as received, before interpretation."""

    content: str | None = None
    reasoning_content: str | None = None
    reasoning_details: list[dict[str, Any]] | None = None
    # OpenAI wire format: {"id", "type": "function", "function": {"name", "arguments"}}.
    tool_calls: list[dict[str, Any]] = field(default_factory=list)
    finish_reason: str | None = None
    response_id: str | None = None

    @classmethod
    def from_message(cls, message: dict[str, Any], finish_reason: str | None, response_id: str | None) -> AssistantTurn:
        tool_calls = [
            {
                "id": call.get("id"),
                "type": call.get("type") or "function",
                "function": {
                    "name": (call.get("function") or {}).get("name"),
                    "arguments": (call.get("function") or {}).get("arguments") or "",
                },
            }
            for call in message.get("tool_calls") or []
        ]
        return cls(
            content=message.get("content"),
            reasoning_content=message.get("reasoning_content"),
            reasoning_details=message.get("reasoning_details"),
            tool_calls=tool_calls,
            finish_reason=finish_reason,
            response_id=response_id,
        )

    def history_message(self, *, keep_reasoning_content: bool) -> Message:
        """The assistant message to append to the conversation, unmodified.

        `reasoning_details` goes back as received (MiniMax reasoning_split expects it);
        `reasoning_content` only when asked, because some APIs (DeepSeek) reject it in input.
        """
        message: Message = {"role": "assistant", "content": self.content}
        if self.tool_calls:
            message["tool_calls"] = [dict(call) for call in self.tool_calls]
        if self.reasoning_details:
            message["reasoning_details"] = self.reasoning_details
        if keep_reasoning_content and self.reasoning_content:
            message["reasoning_content"] = self.reasoning_content
        return message

    def visible_and_reasoning(self) -> tuple[str, str | None]:
        visible, think = split_think(self.content or "")
        separate = reasoning_from_details(self.reasoning_details) or self.reasoning_content
        parts = [part for part in (separate, think) if part]
        return visible, "\n\n".join(parts) if parts else None

    def parsed_tool_calls(self) -> list[dict[str, Any]]:
        return [parse_tool_call(call) for call in self.tool_calls]


def parse_tool_call(call: dict[str, Any]) -> dict[str, Any]:
    """Plain-dict tool call: arguments parsed from JSON when possible, the raw string kept."""
    function = call.get("function") or {}
    raw = function.get("arguments") or ""
    arguments: Any = None
    error: str | None = None
    try:
        arguments = json.loads(raw) if raw.strip() else {}
    except json.JSONDecodeError as exc:
        error = f"arguments are not valid JSON: {exc.msg} at position {exc.pos}"
    return {
        "id": call.get("id"),
        "name": function.get("name"),
        "arguments": arguments,
        "arguments_raw": raw,
        "parse_error": error,
    }


@dataclass
class StreamAssembler:
    """Accumulates chat.completion.chunk payloads (as dicts) into one AssistantTurn."""

    content: list[str] = field(default_factory=list)
    reasoning_content: list[str] = field(default_factory=list)
    reasoning_details: dict[int, dict[str, Any]] = field(default_factory=dict)
    tool_calls: dict[int, dict[str, Any]] = field(default_factory=dict)
    finish_reason: str | None = None
    usage: dict[str, Any] | None = None
    response_id: str | None = None

    def feed(self, chunk: dict[str, Any]) -> None:
        self.response_id = self.response_id or chunk.get("id")
        if chunk.get("usage"):
            self.usage = chunk["usage"]
        for choice in chunk.get("choices") or []:
            if choice.get("index", 0) != 0:
                continue
            delta = choice.get("delta") or {}
            if delta.get("content") is not None:
                self.content.append(delta["content"])
            if delta.get("reasoning_content"):
                self.reasoning_content.append(delta["reasoning_content"])
            for position, detail in enumerate(delta.get("reasoning_details") or []):
                self._merge_detail(detail.get("index", position), detail)
            for call in delta.get("tool_calls") or []:
                self._merge_tool_call(call)
            if choice.get("finish_reason"):
                self.finish_reason = choice["finish_reason"]

    def _merge_detail(self, index: int, detail: dict[str, Any]) -> None:
        current = self.reasoning_details.setdefault(index, {})
        for key, value in detail.items():
            if key == "text":
                current["text"] = current.get("text", "") + (value or "")
            elif value is not None and key not in current:
                current[key] = value

    def _merge_tool_call(self, call: dict[str, Any]) -> None:
        current = self.tool_calls.setdefault(
            call.get("index", len(self.tool_calls)),
            {"id": None, "type": "function", "function": {"name": None, "arguments": ""}},
        )
        if call.get("id"):
            current["id"] = call["id"]
        function = call.get("function") or {}
        if function.get("name"):
            current["function"]["name"] = function["name"]
        current["function"]["arguments"] += function.get("arguments") or ""

    def turn(self) -> AssistantTurn:
        content = "".join(self.content)
        return AssistantTurn(
            content=content if content or not self.tool_calls else None,
            reasoning_content="".join(self.reasoning_content) or None,
            reasoning_details=[self.reasoning_details[i] for i in sorted(self.reasoning_details)] or None,
            tool_calls=[self.tool_calls[i] for i in sorted(self.tool_calls)],
            finish_reason=self.finish_reason,
            response_id=self.response_id,
        )
