"""A scripted chat model: returns prepared replies in order and records every request."""

from __future__ import annotations

import json
from typing import Any

from evolab.backends.types import Attempt, ChatRequest, ChatResult, Usage


def reply(
    content: str = "",
    *,
    tool_calls: list[tuple[str, dict[str, Any]]] | None = None,
    think: str | None = None,
    cost: float = 0.001,
) -> ChatResult:
    """A ChatResult as a MiniMax-style backend returns it (reasoning kept in the message)."""
    raw_content = f"<think>{think}</think>\n{content}" if think else content
    calls = [
        {"id": f"call_{index}_{name}", "type": "function", "function": {"name": name, "arguments": json.dumps(args)}}
        for index, (name, args) in enumerate(tool_calls or [])
    ]
    message: dict[str, Any] = {"role": "assistant", "content": raw_content}
    if calls:
        message["tool_calls"] = calls
    return ChatResult(
        message=message,
        content=content,
        reasoning=think,
        tool_calls=calls,
        finish_reason="tool_calls" if calls else "stop",
        usage=Usage(input_tokens=100, output_tokens=20, reasoning_tokens=5),
        cost_usd=cost,
        latency_s=0.01,
        attempts=[Attempt(number=1, request_id="req", status_code=200, error=None, duration_s=0.01)],
    )


class ScriptedModel:
    def __init__(self, *replies: ChatResult | Exception) -> None:
        self.replies = list(replies)
        self.requests: list[ChatRequest] = []

    async def chat(self, request: ChatRequest) -> ChatResult:
        # Deep-copy through JSON: what was sent must not change when history grows later.
        self.requests.append(
            ChatRequest(
                messages=json.loads(json.dumps(request.messages)),
                params=dict(request.params),
                tools=request.tools,
                sample_index=request.sample_index,
            )
        )
        next_reply = self.replies.pop(0)
        if isinstance(next_reply, Exception):
            raise next_reply
        return next_reply
