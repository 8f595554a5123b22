"""Filters that keep case text inert and readable: autoescaping still applies after them."""

from __future__ import annotations

import json
from typing import Any

from django import template

register = template.Library()

# C0 controls (except tab and newline) and DEL become their visible Unicode pictures.
_CONTROL_PICTURES = {code: 0x2400 + code for code in range(32) if code not in (9, 10)} | {127: 0x2421}


@register.filter
def visible_controls(value: Any) -> str:
    """'a\\x1bb' → 'a␛b': control characters shown, never interpreted by the terminal or browser."""
    return str(value).translate(_CONTROL_PICTURES)


@register.filter
def pretty_json(value: Any) -> str:
    return json.dumps(value, indent=2, ensure_ascii=False, sort_keys=True)
