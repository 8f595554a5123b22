"""Text graders: exact, contains, regex."""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from evolab.engine.graders.result import Grade, GraderConfigError, make_grade, target_of

# Python's `re` cannot be interrupted, so a regex grader guards in two ways instead of a
# timeout: patterns with a quantified group that itself contains an unbounded quantifier
# (the shape of exponential backtracking, e.g. `(a+)+$`) are refused when the config is
# validated, and the output is cut to `max_input_chars` before matching, which bounds the
# polynomial cases (`\d*\d*\d*x`) that slip through.
DEFAULT_MAX_INPUT_CHARS = 20_000
REGEX_FLAGS = {
    "IGNORECASE": re.IGNORECASE,
    "MULTILINE": re.MULTILINE,
    "DOTALL": re.DOTALL,
    "VERBOSE": re.VERBOSE,
    "ASCII": re.ASCII,
}


def _as_list(value: Any, field: str) -> list[str]:
    if isinstance(value, str):
        return [value]
    if isinstance(value, list) and value and all(isinstance(item, str) for item in value):
        return list(value)
    raise GraderConfigError(field, "must be a string or a non-empty list of strings")


def grade_exact(config: Mapping[str, Any], *, output: str, case: Mapping[str, Any]) -> Grade:
    """Score 1 when the output equals the target (or one of a list of targets)."""
    target = target_of(config, case)
    targets = [str(item) for item in target] if isinstance(target, list) else [str(target)]
    strip = config.get("strip", True)
    fold = config.get("case_insensitive", False)

    def normalise(text: str) -> str:
        text = text.strip() if strip else text
        return text.casefold() if fold else text

    matched = [target for target in targets if normalise(output) == normalise(target)]
    return make_grade(config, 1.0 if matched else 0.0, {"matched": matched[0] if matched else None})


def grade_contains(config: Mapping[str, Any], *, output: str, case: Mapping[str, Any]) -> Grade:
    """Substring checks. mode `all` (default) gives partial credit: the fraction found."""
    source = config["substrings"] if "substrings" in config else target_of(config, case)
    substrings = _as_list(source, "substrings")
    fold = config.get("case_insensitive", False)
    haystack = output.casefold() if fold else output
    found = [text for text in substrings if (text.casefold() if fold else text) in haystack]
    missing = [text for text in substrings if text not in found]
    # mode `any` is pass/fail; `all` gives partial credit.
    score = (1.0 if found else 0.0) if config.get("mode", "all") == "any" else len(found) / len(substrings)
    return make_grade(config, score, {"found": found, "missing": missing})


def compile_pattern(config: Mapping[str, Any]) -> re.Pattern[str]:
    """Compile the config's pattern, refusing shapes known to backtrack catastrophically."""
    pattern = config.get("pattern")
    if not isinstance(pattern, str) or not pattern:
        raise GraderConfigError("pattern", "a non-empty regular expression is required")
    flags = 0
    for name in config.get("flags", []):
        if name not in REGEX_FLAGS:
            raise GraderConfigError("flags", f"unknown flag {name!r} (known: {', '.join(REGEX_FLAGS)})")
        flags |= REGEX_FLAGS[name]
    try:
        compiled = re.compile(pattern, flags)
    except re.error as exc:
        raise GraderConfigError("pattern", f"invalid regular expression: {exc}") from None
    if _has_nested_unbounded_repeat(pattern, flags):
        raise GraderConfigError(
            "pattern",
            "a repeated group contains an unbounded quantifier (e.g. '(a+)+'), which can "
            "backtrack exponentially; use a possessive quantifier or an atomic group (?>...)",
        )
    return compiled


def _has_nested_unbounded_repeat(pattern: str, flags: int) -> bool:
    """Whether a repeated part of the pattern contains an unbounded repeat."""
    from re import _constants, _parser  # type: ignore[attr-defined]

    # Opcodes are singleton named constants; compare by identity, because plain ints in
    # the tree (literals, range bounds) can be equal to an opcode's value.
    repeats = (_constants.MAX_REPEAT, _constants.MIN_REPEAT)
    no_backtracking = (_constants.POSSESSIVE_REPEAT, _constants.ATOMIC_GROUP)

    def is_op(item: Any, ops: tuple[Any, ...]) -> bool:
        return isinstance(item, tuple) and len(item) == 2 and any(item[0] is op for op in ops)

    def walk(node: Any, inside_repeat: bool) -> bool:
        if not isinstance(node, (_parser.SubPattern, list, tuple)):
            return False
        for item in node:
            if is_op(item, repeats):
                _low, high, body = item[1]
                unbounded = high is _constants.MAXREPEAT or high == _constants.MAXREPEAT
                if inside_repeat and unbounded:
                    return True
                if walk(body, inside_repeat or unbounded or high > 1):
                    return True
            elif is_op(item, no_backtracking):
                continue
            elif walk(item, inside_repeat):
                return True
        return False

    return bool(walk(_parser.parse(pattern, flags), False))


def grade_regex(config: Mapping[str, Any], *, output: str, case: Mapping[str, Any]) -> Grade:
    """Score 1 when the pattern matches (search by default, or `mode: fullmatch`)."""
    compiled = compile_pattern(config)
    limit = int(config.get("max_input_chars", DEFAULT_MAX_INPUT_CHARS))
    text = output[:limit]
    match = compiled.fullmatch(text) if config.get("mode") == "fullmatch" else compiled.search(text)
    details: dict[str, Any] = {"matched": match.group(0)[:500] if match else None}
    if len(output) > limit:
        details["truncated_to_chars"] = limit
    return make_grade(config, 1.0 if match else 0.0, details)
