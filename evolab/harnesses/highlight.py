"""Light syntax highlighting of harness files, one line at a time, as plain data.

Markdown: headings, list markers, code fences and block quotes. YAML: keys, list
markers and comments. A line is split into `(kind, text)` segments whose texts join back
to the line exactly; the template escapes every text (`|inert`) and wraps the marked
ones in a span. Line by line because a diff shows lines out of their file: nothing here
depends on the lines around it, so a hunk is highlighted the same as the whole file.
"""

from __future__ import annotations

import re
from typing import Literal

Kind = Literal["heading", "marker", "fence", "quote", "key", "comment"]
Segment = tuple[Kind | None, str]

_MD_HEADING = re.compile(r"^ {0,3}#{1,6}(?:\s|$)")
_MD_FENCE = re.compile(r"^ {0,3}(?:```|~~~)")
_MD_QUOTE = re.compile(r"^ {0,3}>")
_MD_MARKER = re.compile(r"^(\s*)([-*+]|\d{1,9}[.)])(\s)")
_YAML_MARKER = re.compile(r"^(\s*)(-)(\s|$)")
# A key: up to the first ': ' (or ':' at the end); quoted keys too.
_YAML_KEY = re.compile(r"""^("[^"]*"|'[^']*'|[^\s#'"{\[][^:#]*?)(:)(?=\s|$)""")


def language_of(path: str) -> str | None:
    lower = path.lower()
    if lower.endswith((".md", ".markdown")):
        return "markdown"
    if lower.endswith((".yaml", ".yml")):
        return "yaml"
    return None


def highlight_line(line: str, language: str | None) -> list[Segment]:
    if language == "markdown":
        return _markdown(line)
    if language == "yaml":
        return _yaml(line)
    return [(None, line)]


def _markdown(line: str) -> list[Segment]:
    if _MD_HEADING.match(line):
        return [("heading", line)]
    if _MD_FENCE.match(line):
        return [("fence", line)]
    if _MD_QUOTE.match(line):
        return [("quote", line)]
    marker = _MD_MARKER.match(line)
    if marker:
        return _joined([(None, marker.group(1)), ("marker", marker.group(2)), (None, line[marker.end(2) :])])
    return [(None, line)]


def _comment_start(text: str) -> int | None:
    """Where a YAML comment starts: '#' at the start or after whitespace, outside quotes."""
    quote: str | None = None
    for index, char in enumerate(text):
        if quote:
            if char == quote:
                quote = None
        elif char in "'\"":
            quote = char
        elif char == "#" and (index == 0 or text[index - 1] in " \t"):
            return index
    return None


def _yaml(line: str) -> list[Segment]:
    segments: list[Segment] = []
    rest = line
    comment = ""
    start = _comment_start(line)
    if start is not None:
        rest, comment = line[:start], line[start:]
    marker = _YAML_MARKER.match(rest)
    if marker:
        segments += [(None, marker.group(1)), ("marker", marker.group(2)), (None, marker.group(3))]
        rest = rest[marker.end() :]
    indent = len(rest) - len(rest.lstrip(" "))
    key = _YAML_KEY.match(rest[indent:])
    if key:
        segments += [(None, rest[:indent]), ("key", key.group(1)), (None, key.group(2))]
        rest = rest[indent + key.end() :]
    segments.append((None, rest))
    if comment:
        segments.append(("comment", comment))
    return _joined(segments)


def _joined(segments: list[Segment]) -> list[Segment]:
    """Drop empty segments and merge neighbours of the same kind."""
    out: list[Segment] = []
    for kind, text in segments:
        if not text:
            continue
        if out and out[-1][0] == kind:
            out[-1] = (kind, out[-1][1] + text)
        else:
            out.append((kind, text))
    return out
