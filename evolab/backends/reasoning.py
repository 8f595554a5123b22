"""Separating model reasoning from the visible answer.

MiniMax M2.7 (and several open reasoning models) put their reasoning inside the content
as `<think>…</think>`. The block must be sent back unmodified in later turns, so we never
edit the message itself; we only derive the visible text and the reasoning text from it.
"""

from __future__ import annotations

import re

_THINK_BLOCK = re.compile(r"<think>(.*?)</think>", re.DOTALL)
_OPEN_TAG = "<think>"


def split_think(content: str) -> tuple[str, str | None]:
    """Return (visible text, reasoning or None) for a content string.

    An unclosed `<think>` (the answer was cut by max_tokens) counts as reasoning up to the
    end, leaving no visible text — a truncated thought is not an answer.
    """
    parts = [match.group(1).strip() for match in _THINK_BLOCK.finditer(content)]
    visible = _THINK_BLOCK.sub("", content)
    if _OPEN_TAG in visible:
        before, _, dangling = visible.partition(_OPEN_TAG)
        parts.append(dangling.strip())
        visible = before
    if not parts:
        return content.strip(), None
    return visible.strip(), "\n\n".join(part for part in parts if part)


def reasoning_from_details(details: object) -> str | None:
    """Join the text of MiniMax `reasoning_details` entries ([{"type": "reasoning.text", "text": …}])."""
    if not isinstance(details, list):
        return None
    texts = [str(item.get("text") or "") for item in details if isinstance(item, dict)]
    joined = "".join(texts)
    return joined or None
