"""Grader config validation: cheap (no execution), run by the evals app at import time."""

from __future__ import annotations

from collections.abc import Mapping
from functools import cache
from typing import TYPE_CHECKING, Any

from evolab.engine.graders.result import GraderConfigError
from evolab.engine.graders.text import REGEX_FLAGS, compile_pattern

if TYPE_CHECKING:
    from jsonschema import Draft202012Validator

GRADER_TYPES = ("exact", "contains", "regex", "json", "numeric", "python_tests", "llm_judge")
# Graders that compare with a target and fail without one.
TARGET_GRADERS = ("exact", "contains", "numeric")

_COMMON: dict[str, Any] = {
    "type": {"enum": list(GRADER_TYPES)},
    "pass_threshold": {"type": "number", "minimum": 0, "maximum": 1},
    "target": {},
}
_STRINGS = {"anyOf": [{"type": "string"}, {"type": "array", "items": {"type": "string"}, "minItems": 1}]}
_OPTIONS: dict[str, dict[str, Any]] = {
    "exact": {"strip": {"type": "boolean"}, "case_insensitive": {"type": "boolean"}},
    "contains": {
        "substrings": _STRINGS,
        "mode": {"enum": ["all", "any"]},
        "case_insensitive": {"type": "boolean"},
    },
    "regex": {
        "pattern": {"type": "string", "minLength": 1},
        "flags": {"type": "array", "items": {"enum": list(REGEX_FLAGS)}, "uniqueItems": True},
        "mode": {"enum": ["search", "fullmatch"]},
        "max_input_chars": {"type": "integer", "minimum": 1, "maximum": 1_000_000},
    },
    "json": {"fields": {"type": "object"}, "schema": {"type": "object"}},
    "numeric": {
        "tolerance": {"type": "number", "minimum": 0},
        "rel_tolerance": {"type": "number", "minimum": 0},
    },
    "python_tests": {
        "tests": {"type": "string"},
        "timeout_s": {"type": "number", "exclusiveMinimum": 0, "maximum": 120},
        "cpu_s": {"type": "integer", "minimum": 1, "maximum": 120},
        "memory_mb": {"type": "integer", "minimum": 64, "maximum": 8192},
    },
    # `backend` names the project backend that judges (default: the run's own backend).
    "llm_judge": {
        "rubric": {"type": "string", "minLength": 1},
        "params": {"type": "object"},
        "backend": {"type": "string"},
    },
}
_REQUIRED = {"regex": ["pattern"], "llm_judge": ["rubric"]}


@cache
def _validator(grader_type: str) -> Draft202012Validator:
    from jsonschema import Draft202012Validator

    return Draft202012Validator(
        {
            "type": "object",
            "additionalProperties": False,
            "required": ["type", *_REQUIRED.get(grader_type, [])],
            "properties": {**_COMMON, **_OPTIONS[grader_type]},
        }
    )


def validate_grader_config(config: Any, *, case: Mapping[str, Any] | None = None) -> None:
    """Raise GraderConfigError (naming the field) if `config` cannot work.

    With `case`, also checks the case carries what the grader needs (a target, tests).
    """
    if not isinstance(config, Mapping):
        raise GraderConfigError("(root)", "must be an object with a `type`")
    grader_type = config.get("type")
    if grader_type not in GRADER_TYPES:
        raise GraderConfigError("type", f"{grader_type!r} is not one of {', '.join(GRADER_TYPES)}")
    errors = sorted(_validator(grader_type).iter_errors(dict(config)), key=lambda e: list(map(str, e.path)))
    if errors:
        error = errors[0]
        path = ".".join(str(part) for part in error.path)
        if error.validator == "additionalProperties":
            unknown = sorted(set(config) - set(_COMMON) - set(_OPTIONS[grader_type]))
            raise GraderConfigError(unknown[0], f"unknown option for a {grader_type} grader")
        if error.validator == "required":
            missing = [name for name in error.validator_value if name not in config]
            raise GraderConfigError(missing[0], "is required")
        raise GraderConfigError(path or "(root)", error.message)

    if grader_type == "regex":
        compile_pattern(config)
    elif grader_type == "json":
        if "fields" not in config and "schema" not in config:
            raise GraderConfigError("fields", "a json grader needs `fields`, `schema` or both")
        if "schema" in config:
            from jsonschema import Draft202012Validator
            from jsonschema.exceptions import SchemaError

            try:
                Draft202012Validator.check_schema(config["schema"])
            except SchemaError as exc:
                raise GraderConfigError("schema", f"not a valid JSON Schema: {exc.message}") from None

    if case is not None:
        _check_case(grader_type, config, case)


def _check_case(grader_type: str, config: Mapping[str, Any], case: Mapping[str, Any]) -> None:
    has_target = "target" in config or case.get("target") is not None
    if grader_type == "contains" and "substrings" in config:
        has_target = True
    if grader_type in TARGET_GRADERS and not has_target:
        raise GraderConfigError("target", "the case has no target and the grader config sets none")
    if grader_type == "python_tests":
        if case.get("entry_point"):
            if not case.get("test"):
                raise GraderConfigError("test", "a HumanEval case needs `test` code defining check(candidate)")
        elif not (config.get("tests") or case.get("tests")):
            raise GraderConfigError("tests", "set `tests` in the grader config or the case, or use HumanEval fields")
