"""Diff lines as the harness diff templates show them.

`{% diff_code text path %}`: the line as inert text; when the including page sets
`highlight_diff`, Markdown and YAML lines get light highlighting (see `highlight.py`),
every piece still escaped by `inert`.

`{% line_anchor path new_no old_no %}`: the line's id, `L-<path>-<line>` for a line of
the new version and `L-<path>-o<line>` for a removed one, so a comment or a link can
point at one line.
"""

from __future__ import annotations

import re
from typing import Any

from django import template
from django.utils.html import format_html
from django.utils.safestring import SafeString, mark_safe

from evolab.core.templatetags.inert import inert_text
from evolab.harnesses.highlight import highlight_line, language_of

register = template.Library()

_SPACE = re.compile(r"\s")


@register.simple_tag(takes_context=True)
def diff_code(context: template.Context, text: str | None, path: str) -> SafeString:
    line = text or ""
    if not context.get("highlight_diff"):
        return inert_text(line)
    parts = [
        inert_text(piece) if kind is None else format_html('<span class="hl-{}">{}</span>', kind, inert_text(piece))
        for kind, piece in highlight_line(line, language_of(path))
    ]
    return mark_safe("".join(parts))  # each part escaped by inert_text above


@register.simple_tag
def line_anchor(path: str, new_no: Any, old_no: Any = None) -> str:
    """Ids may hold any character but whitespace; a space in a path becomes '_'."""
    name = _SPACE.sub("_", path)
    return f"L-{name}-{new_no}" if new_no is not None else f"L-{name}-o{old_no}"
