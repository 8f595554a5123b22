"""Structured-answer graders: json (fields and/or schema) and numeric (tolerance)."""

from __future__ import annotations

import json
import math
import re
from collections.abc import Mapping
from typing import Any

from evolab.engine.graders.result import Grade, GraderConfigError, make_grade, target_of

_FENCE = re.compile(r"```[ \t]*([\w+-]*)[^\n]*\n(.*?)```", re.DOTALL)
_MISSING = object()


def extract_json(output: str) -> Any:
    """The JSON value in an answer: the whole text, else a fenced block (```json first,
    the last one wins, as models often show a draft before the final value), else the
    outermost {...} or [...] span. Raises ValueError when there is none."""
    text = output.strip()
    candidates = [text]
    fences = _FENCE.findall(output)
    candidates += [body for lang, body in reversed(fences) if lang.lower() == "json"]
    candidates += [body for lang, body in reversed(fences) if lang.lower() != "json"]
    for opening, closing in (("{", "}"), ("[", "]")):
        start, end = text.find(opening), text.rfind(closing)
        if 0 <= start < end:
            candidates.append(text[start : end + 1])
    for candidate in candidates:
        try:
            return json.loads(candidate)
        except ValueError:
            continue
    raise ValueError("no JSON value found in the output")


def lookup_path(value: Any, path: str) -> Any:
    """`a.b.0.c` into nested dicts and lists; _MISSING when absent."""
    for part in path.split("."):
        if isinstance(value, Mapping) and part in value:
            value = value[part]
        elif isinstance(value, list) and part.lstrip("-").isdigit() and -len(value) <= int(part) < len(value):
            value = value[int(part)]
        else:
            return _MISSING
    return value


def _json_equal(actual: Any, expected: Any) -> bool:
    # JSON has no bool/int overlap: true must not equal 1.
    if isinstance(actual, bool) or isinstance(expected, bool):
        return type(actual) is type(expected) and actual == expected
    if isinstance(actual, (int, float)) and isinstance(expected, (int, float)):
        return math.isclose(actual, expected, rel_tol=1e-9, abs_tol=1e-12)
    if isinstance(actual, dict) and isinstance(expected, dict):
        return actual.keys() == expected.keys() and all(_json_equal(actual[k], expected[k]) for k in actual)
    if isinstance(actual, list) and isinstance(expected, list):
        return len(actual) == len(expected) and all(map(_json_equal, actual, expected))
    return bool(actual == expected)


def grade_json(config: Mapping[str, Any], *, output: str, case: Mapping[str, Any]) -> Grade:
    """Schema validity gates the score (0 when invalid); fields give partial credit."""
    try:
        value = extract_json(output)
    except ValueError as exc:
        return make_grade(config, 0.0, {"error": str(exc)})
    details: dict[str, Any] = {}
    schema = config.get("schema")
    if schema is not None:
        from jsonschema import Draft202012Validator

        errors = sorted(Draft202012Validator(schema).iter_errors(value), key=lambda e: list(e.absolute_path))
        details["schema_errors"] = [
            f"{'.'.join(str(p) for p in error.absolute_path) or '(root)'}: {error.message}" for error in errors[:10]
        ]
        if errors:
            return make_grade(config, 0.0, details)
    fields: Mapping[str, Any] = config.get("fields") or {}
    mismatches = {}
    for path, expected in fields.items():
        actual = lookup_path(value, path)
        if actual is _MISSING:
            mismatches[path] = {"expected": expected, "actual": None, "missing": True}
        elif not _json_equal(actual, expected):
            mismatches[path] = {"expected": expected, "actual": actual}
    details["fields_matched"] = len(fields) - len(mismatches)
    details["fields_total"] = len(fields)
    details["mismatches"] = mismatches
    score = (len(fields) - len(mismatches)) / len(fields) if fields else 1.0
    return make_grade(config, score, details)


# A number as people write it: optional sign, thousands separators, decimals, exponent.
_NUMBER = re.compile(
    # A sign (ASCII or the Unicode minus), unless it is a minus between operands ("3-2").
    r"(?:(?<![\w.])[-+\u2212])?"
    r"(?<![\d.,])"  # never start in the middle of a number
    r"(?:(?:\d{1,3}(?:,\d{3})+(?!\d)|\d+)(?:\.\d+)?|\.\d+)"
    r"(?:[eE][-+]?\d+)?"
)


def parse_number(text: str) -> float:
    return float(text.replace(",", "").replace("\u2212", "-"))


def extract_last_number(output: str) -> float | None:
    matches = _NUMBER.findall(output)
    return parse_number(matches[-1]) if matches else None


def grade_numeric(config: Mapping[str, Any], *, output: str, case: Mapping[str, Any]) -> Grade:
    """The last number in the output against the target, within `tolerance` (absolute)
    or `rel_tolerance` (relative to the target); exact when neither is set."""
    raw_target = target_of(config, case)
    try:
        target = raw_target if isinstance(raw_target, (int, float)) else parse_number(str(raw_target).strip())
    except ValueError:
        raise GraderConfigError("target", f"{raw_target!r} is not a number") from None
    if isinstance(target, bool):
        raise GraderConfigError("target", "a boolean is not a number")
    actual = extract_last_number(output)
    if actual is None:
        return make_grade(config, 0.0, {"error": "no number in the output", "target": target})
    tolerance = float(config.get("tolerance", 0.0))
    rel_tolerance = float(config.get("rel_tolerance", 0.0))
    difference = abs(actual - float(target))
    ok = (
        difference <= tolerance
        or difference <= rel_tolerance * abs(float(target))
        or math.isclose(actual, float(target), rel_tol=1e-12, abs_tol=1e-12)
    )
    return make_grade(config, 1.0 if ok else 0.0, {"extracted": actual, "target": target, "difference": difference})
