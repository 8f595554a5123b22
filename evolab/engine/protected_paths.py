"""Which paths an automatic proposal may touch.

A campaign names protected paths as glob patterns (`system.md`, `skills/safety/*`,
`policies/**`); no automatic proposal may change them. Rather than trying to canonicalise
every trick a model could play with a path (`skills/../system.md`, `./system.md`, a
Cyrillic dze for `s`, a zero-width joiner, a full-width letter), an automatic proposal may only
use *plain* paths: ASCII letters, digits, `.`, `_`, `-` and `/`, relative, with no empty,
`.` or `..` segment and no trailing slash. Everything else is refused outright, so the only
remaining degree of freedom is letter case, and matching is case-insensitive.

Pattern syntax: `*` matches within one segment, `**` any number of segments (also none),
`?` and `[...]` as in fnmatch. A pattern protects what it matches *and everything below
it*: `skills/safety` protects `skills/safety/x.md`; a trailing slash means the same.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from fnmatch import fnmatchcase

_PLAIN_CHARS = re.compile(r"[A-Za-z0-9._\-/]")
# Patterns may also use glob syntax; any other character could never match a plain path.
_PATTERN_CHARS = re.compile(r"[A-Za-z0-9._\-/*?\[\]!]")


@dataclass(frozen=True)
class PathViolation:
    path: str
    reason: str


def plain_path_problem(path: str) -> str | None:
    """Why `path` is not a plain relative path, or None if it is one."""
    shown = ascii(path)
    if path == "":
        return "not a plain relative path: the path is empty"
    for char in path:
        if unicodedata.category(char) == "Cc":
            return f"not a plain relative path: {shown} contains the control character U+{ord(char):04X}"
    if "\\" in path:
        return f"not a plain relative path: {shown} contains a backslash"
    if path.startswith("/"):
        return f"not a plain relative path: {shown} is absolute"
    for char in path:
        if not _PLAIN_CHARS.fullmatch(char):
            return (
                f"not a plain relative path: {shown} contains {char!r} (U+{ord(char):04X}); only ASCII letters, "
                "digits, '.', '_', '-' and '/' are allowed"
            )
    if path.endswith("/"):
        return f"not a plain relative path: {shown} ends with '/'"
    segments = path.split("/")
    if "" in segments:
        return f"not a plain relative path: {shown} has an empty segment ('//')"
    for segment in segments:
        if segment in (".", ".."):
            return f"not a plain relative path: {shown} has a '{segment}' segment"
    return None


def validate_patterns(patterns: Iterable[str]) -> list[str]:
    """The configured patterns in canonical form: case-folded, no `./`, `//` or trailing `/`.

    Blank entries are dropped and duplicates removed. Raises ValueError naming a pattern
    that is absolute, climbs with `..`, uses a backslash, or contains a character no plain
    path can contain (such a pattern would silently protect nothing).
    """
    result: list[str] = []
    for raw in patterns:
        if not isinstance(raw, str):
            raise ValueError(f"protected pattern {raw!r} must be text")
        pattern = raw.strip()
        if not pattern:
            continue
        if pattern.startswith("/"):
            raise ValueError(f"protected pattern {raw!r} is absolute; patterns are relative to the harness")
        if "\\" in pattern:
            raise ValueError(f"protected pattern {raw!r} contains a backslash; use '/'")
        for char in pattern:
            if not _PATTERN_CHARS.fullmatch(char):
                raise ValueError(f"protected pattern {raw!r} contains {char!r}, which no allowed path can contain")
        segments = [segment for segment in pattern.split("/") if segment not in ("", ".")]
        if ".." in segments:
            raise ValueError(f"protected pattern {raw!r} contains '..'")
        if not segments:
            raise ValueError(f"protected pattern {raw!r} matches nothing")
        collapsed: list[str] = []
        for segment in segments:
            if not (segment == "**" and collapsed and collapsed[-1] == "**"):
                collapsed.append(segment)
        normalised = "/".join(collapsed).casefold()
        if normalised not in result:
            result.append(normalised)
    return result


def _match_segments(pattern: Sequence[str], parts: Sequence[str]) -> bool:
    if not pattern:
        return not parts
    head, rest = pattern[0], pattern[1:]
    if head == "**":
        return any(_match_segments(rest, parts[i:]) for i in range(len(parts) + 1))
    return bool(parts) and fnmatchcase(parts[0], head) and _match_segments(rest, parts[1:])


def matching_pattern(path: str, patterns: Iterable[str]) -> str | None:
    """The first of `patterns` that protects `path` (itself or a folder above it), or None.

    Case-insensitive; `patterns` are normalised with `validate_patterns` first.
    """
    parts = path.casefold().split("/")
    for pattern in validate_patterns(patterns):
        segments = pattern.split("/")
        if any(_match_segments(segments, parts[:depth]) for depth in range(1, len(parts) + 1)):
            return pattern
    return None


def check_proposal_paths(paths: Iterable[str], protected: Sequence[str]) -> list[PathViolation]:
    """Every path an automatic proposal may not touch, with the reason; empty when all are fine."""
    patterns = validate_patterns(protected)
    violations: list[PathViolation] = []
    seen: set[str] = set()
    for path in paths:
        if path in seen:
            continue
        seen.add(path)
        problem = plain_path_problem(path)
        if problem is not None:
            violations.append(PathViolation(path, problem))
            continue
        pattern = matching_pattern(path, patterns)
        if pattern is not None:
            violations.append(PathViolation(path, f"{path} is protected (pattern {pattern!r})"))
    return violations
