"""A rough, deterministic token count (words and punctuation), good enough for usage numbers."""

from __future__ import annotations

import json
import re
from typing import Any

_TOKEN = re.compile(r"\w+|[^\w\s]")
# Chat formats add a few tokens per message for roles and separators.
_PER_MESSAGE = 4


def count_tokens(text: str) -> int:
    return len(_TOKEN.findall(text))


def cut_to_tokens(text: str, limit: int) -> str:
    """The prefix of `text` holding its first `limit` tokens."""
    if limit <= 0:
        return ""
    for index, match in enumerate(_TOKEN.finditer(text)):
        if index == limit - 1:
            return text[: match.end()]
    return text


def prompt_tokens(messages: list[dict[str, Any]], tools: list[dict[str, Any]] | None) -> int:
    total = 0
    for message in messages:
        content = message.get("content")
        total += _PER_MESSAGE + count_tokens(content if isinstance(content, str) else json.dumps(content or ""))
        if message.get("tool_calls"):
            total += count_tokens(json.dumps(message["tool_calls"]))
        for detail in message.get("reasoning_details") or []:
            total += count_tokens(str(detail.get("text", "")))
    if tools:
        total += count_tokens(json.dumps(tools))
    return total
