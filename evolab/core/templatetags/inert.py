"""`{% load inert %}{{ text|inert }}`: model output and case text shown as inert text.

The value is HTML-escaped first; then every character that could change how text
reads without being seen is replaced by a visible escape: C0 controls (except tab and
newline) and DEL become their Unicode control pictures (␛, ␡), C1 controls and the
bidirectional overrides, embeddings and isolates (U+202A to U+202E, U+2066 to U+2069,
U+061C, U+200E/U+200F) become a marked `U+XXXX`. A right-to-left override therefore
cannot reorder a line, and an escape sequence cannot hide text in a copied terminal.
"""

from __future__ import annotations

from typing import Any

from django import template
from django.utils.html import conditional_escape
from django.utils.safestring import SafeString, mark_safe

register = template.Library()

_BIDI = [0x061C, 0x200E, 0x200F, *range(0x202A, 0x202F), *range(0x2066, 0x206A)]


def _marked(code: int) -> str:
    return f'<span class="ctl" title="invisible control character">U+{code:04X}</span>'


_REPLACEMENTS: dict[int, str] = {
    **{code: chr(0x2400 + code) for code in range(32) if code not in (9, 10)},
    0x7F: "\u2421",
    **{code: _marked(code) for code in range(0x80, 0xA0)},
    **{code: _marked(code) for code in _BIDI},
}


def inert_text(value: Any) -> SafeString:
    """Escape `value`, then make its invisible control characters visible."""
    escaped = str(conditional_escape("" if value is None else value))
    return mark_safe(escaped.translate(_REPLACEMENTS))  # escaped above; only our own spans are added


register.filter("inert", inert_text, is_safe=True)

_PLAIN_REPLACEMENTS: dict[int, str] = {
    **{code: chr(0x2400 + code) for code in range(32) if code not in (9, 10)},
    0x7F: "\u2421",
    **{code: f"U+{code:04X}" for code in range(0x80, 0xA0)},
    **{code: f"U+{code:04X}" for code in _BIDI},
}


def inert_plain(value: Any) -> str:
    """The same visible escapes without markup, for where no tag may go (a <title>, an
    attribute); the result is not marked safe, so the template still escapes it."""
    return ("" if value is None else str(value)).translate(_PLAIN_REPLACEMENTS)


register.filter("inert_plain", inert_plain)
