"""Audit events as readable changes: `field: before → after`, one line each."""

from __future__ import annotations

import json
from typing import Any

from django import template

from evolab.core.models import AuditEvent

register = template.Library()


def _text(value: Any) -> str:
    if value is None or value == "":
        return "—"
    if isinstance(value, str):
        return value
    return json.dumps(value, ensure_ascii=False, sort_keys=True)


@register.simple_tag
def audit_changes(event: AuditEvent) -> list[dict[str, str]]:
    """The fields an event changed; a creation lists what was set, a removal what was there."""
    before = event.before if isinstance(event.before, dict) else {}
    after = event.after if isinstance(event.after, dict) else {}
    fields = list(dict.fromkeys([*before, *after]))
    return [
        {"field": field, "before": _text(before.get(field)), "after": _text(after.get(field))}
        for field in fields
        if before.get(field) != after.get(field)
    ]
