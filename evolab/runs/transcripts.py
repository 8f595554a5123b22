"""A stored transcript turned into what the result page shows: messages in order,
reasoning split from the visible text, and each tool call as one compact row with its
arguments and its result (the `tool` message that answered it is folded into the row).

Pure data in, pure data out: the template renders every string through `|inert`.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from evolab.backends.reasoning import reasoning_from_details, split_think


@dataclass
class ToolCallRow:
    call_id: str
    name: str
    arguments: str
    result: str | None = None
    error: bool = False
    duration_s: float | None = None


@dataclass
class TranscriptEntry:
    role: str
    text: str
    reasoning: str | None = None
    tool_calls: list[ToolCallRow] = field(default_factory=list)
    # A tool message whose call is not in any assistant turn: shown on its own.
    tool_call_id: str | None = None


def _text(content: Any) -> str:
    """Message content as text: a string, or the text parts of a content list."""
    if content is None:
        return ""
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        return "\n".join(str(part.get("text", "")) if isinstance(part, Mapping) else str(part) for part in content)
    return str(content)


def _arguments(raw: Any) -> str:
    if isinstance(raw, str):
        try:
            raw = json.loads(raw)
        except json.JSONDecodeError:
            return raw
    return json.dumps(raw, ensure_ascii=False, sort_keys=True)


def transcript_entries(
    transcript: Sequence[Mapping[str, Any]], tool_calls: Sequence[Mapping[str, Any]]
) -> list[TranscriptEntry]:
    records = {str(record.get("call_id")): record for record in tool_calls}
    rows_by_id: dict[str, ToolCallRow] = {}
    entries: list[TranscriptEntry] = []
    for message in transcript:
        role = str(message.get("role", "?"))
        if role == "tool":
            call_id = str(message.get("tool_call_id", ""))
            row = rows_by_id.get(call_id)
            if row is not None:
                row.result = _text(message.get("content"))
                continue
            entries.append(TranscriptEntry(role="tool", text=_text(message.get("content")), tool_call_id=call_id))
            continue
        text = _text(message.get("content"))
        reasoning = None
        if role == "assistant":
            text, think = split_think(text)
            separate = (
                message.get("reasoning")
                or message.get("reasoning_content")
                or reasoning_from_details(message.get("reasoning_details"))
            )
            parts = [str(part) for part in (separate, think) if part]
            reasoning = "\n\n".join(parts) if parts else None
        entry = TranscriptEntry(role=role, text=text, reasoning=reasoning)
        for call in message.get("tool_calls") or []:
            function = call.get("function") or {}
            call_id = str(call.get("id", ""))
            record = records.get(call_id, {})
            row = ToolCallRow(
                call_id=call_id,
                name=str(function.get("name") or record.get("name") or "?"),
                arguments=_arguments(function.get("arguments", record.get("arguments", ""))),
                result=str(record["result"]) if "result" in record else None,
                error=bool(record.get("error", False)),
                duration_s=record.get("duration_s"),
            )
            rows_by_id[call_id] = row
            entry.tool_calls.append(row)
        entries.append(entry)
    return entries
