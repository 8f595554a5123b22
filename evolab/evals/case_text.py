"""A case's fields as forms show and take them back: shared by the case page's "propose a
change" form (evals) and the curation forms of run results (runs)."""

from __future__ import annotations

import json

from evolab.core.errors import ValidationFailed
from evolab.evals.models import Split


def input_as_text(case_input: str | list[dict[str, str]] | None) -> str:
    """A case input as the form shows it: text as is, chat messages as JSON."""
    if case_input is None:
        return ""
    if isinstance(case_input, str):
        return case_input
    return json.dumps(case_input, indent=2, ensure_ascii=False)


def parse_input(text: str, *, chat: bool) -> str | list[dict[str, str]]:
    """The form's input back as a case input; chat inputs must stay a JSON message list."""
    if not chat:
        if not text.strip():
            raise ValidationFailed("A case needs an input.", field="input")
        return text
    try:
        value = json.loads(text)
    except json.JSONDecodeError as exc:
        raise ValidationFailed(f"Chat input is JSON: {exc.msg} (line {exc.lineno}).", field="input") from None
    if (
        not isinstance(value, list)
        or not value
        or not all(isinstance(m, dict) and set(m) == {"role", "content"} for m in value)
        or not all(isinstance(m["role"], str) and isinstance(m["content"], str) for m in value)
    ):
        raise ValidationFailed('Chat input is a list of {"role": …, "content": …} messages.', field="input")
    return value


def parse_tags(text: str) -> list[str]:
    tags: list[str] = []
    for raw in text.replace("\n", ",").split(","):
        tag = raw.strip()
        if tag and tag not in tags:
            tags.append(tag)
    return tags


def allowed_splits(sees_holdout: bool) -> list[str]:
    """Splits a case may be put in from a form: holdout only for those who may see it."""
    return [s for s in Split.values if sees_holdout or s != Split.HOLDOUT]
