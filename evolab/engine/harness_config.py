"""Parse and validate `harness.yaml`, the sampling and agent settings of a harness version.

The Django harnesses app calls `parse_harness_config` to validate uploaded versions, so this
module stays import-light: PyYAML at import time, jsonschema only on first validation.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import cache
from typing import TYPE_CHECKING, Any

import yaml

if TYPE_CHECKING:
    from jsonschema import Draft202012Validator
    from jsonschema.exceptions import ValidationError

HARNESS_YAML = "harness.yaml"
KNOWN_TOOLS = ("calculator", "python", "lookup", "submit_answer")

_RELATIVE_PATH = r"^(?!/)(?!.*(^|/)\.\.(/|$))[^\\]+$"

HARNESS_SCHEMA: dict[str, Any] = {
    "$schema": "https://json-schema.org/draft/2020-12/schema",
    "type": "object",
    "additionalProperties": False,
    "properties": {
        "sampling": {
            "type": "object",
            "additionalProperties": False,
            "properties": {
                "temperature": {"type": "number", "minimum": 0, "maximum": 2},
                "top_p": {"type": "number", "exclusiveMinimum": 0, "maximum": 1},
                "top_k": {"type": "integer", "minimum": 1},
                "max_tokens": {"type": "integer", "minimum": 1},
                "presence_penalty": {"type": "number", "minimum": -2, "maximum": 2},
                "frequency_penalty": {"type": "number", "minimum": -2, "maximum": 2},
                "seed": {"type": "integer"},
            },
        },
        "agent": {
            "type": "object",
            "additionalProperties": False,
            "properties": {
                "max_turns": {"type": "integer", "minimum": 1, "maximum": 100},
                "loop_guard": {
                    "type": "object",
                    "additionalProperties": False,
                    "properties": {
                        "window": {"type": "integer", "minimum": 2},
                        "threshold": {"type": "integer", "minimum": 2},
                    },
                },
                "tools": {
                    "type": "array",
                    "uniqueItems": True,
                    "items": {"enum": list(KNOWN_TOOLS)},
                },
            },
        },
        "templates": {
            "type": "object",
            "additionalProperties": False,
            "properties": {
                "system": {"type": "string", "minLength": 1, "pattern": _RELATIVE_PATH},
                "user": {"type": "string", "minLength": 1, "pattern": _RELATIVE_PATH},
            },
        },
    },
}


class HarnessConfigError(ValueError):
    """harness.yaml is not valid; `field` is the dotted path of the offending value."""

    def __init__(self, field: str, message: str) -> None:
        self.field = field
        self.message = message
        super().__init__(f"{HARNESS_YAML}: {field}: {message}")


@dataclass(frozen=True)
class SamplingParams:
    """Sampling parameters; None means "use the backend's default"."""

    temperature: float | None = None
    top_p: float | None = None
    top_k: int | None = None
    max_tokens: int | None = None
    presence_penalty: float | None = None
    frequency_penalty: float | None = None
    seed: int | None = None

    def as_request_params(self) -> dict[str, Any]:
        """The parameters that are set, named as `ChatRequest.params` expects."""
        return {name: value for name, value in vars(self).items() if value is not None}


@dataclass(frozen=True)
class LoopGuard:
    window: int = 6
    threshold: int = 3


@dataclass(frozen=True)
class AgentSettings:
    max_turns: int = 10
    loop_guard: LoopGuard = field(default_factory=LoopGuard)
    # No tool unless the harness asks for it: a plain chat harness needs no schema noise.
    tools: tuple[str, ...] = ()


@dataclass(frozen=True)
class TemplateSettings:
    """Entry templates (paths inside the harness); None selects the default layout."""

    system: str | None = None
    user: str | None = None


@dataclass(frozen=True)
class HarnessConfig:
    sampling: SamplingParams = field(default_factory=SamplingParams)
    agent: AgentSettings = field(default_factory=AgentSettings)
    templates: TemplateSettings = field(default_factory=TemplateSettings)


def parse_harness_config(text: str | None) -> HarnessConfig:
    """Parse harness.yaml text; an empty or missing file gives the defaults.

    Raises HarnessConfigError naming the field path of the first problem found.
    """
    if text is None or not text.strip():
        return HarnessConfig()
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f"line {mark.line + 1}, column {mark.column + 1}" if mark else "(yaml)"
        problem = getattr(exc, "problem", None) or str(exc)
        raise HarnessConfigError(where, f"invalid YAML: {problem}") from None
    if data is None:
        return HarnessConfig()
    errors = sorted(_validator().iter_errors(data), key=_error_sort_key)
    if errors:
        raise _to_config_error(errors[0])
    return _build(data)


def _build(data: dict[str, Any]) -> HarnessConfig:
    sampling = dict(data.get("sampling") or {})
    # JSON Schema accepts 3.0 as an integer; the dataclass promises int.
    for name in ("top_k", "max_tokens", "seed"):
        if name in sampling:
            sampling[name] = int(sampling[name])
    for name in ("temperature", "top_p", "presence_penalty", "frequency_penalty"):
        if name in sampling:
            sampling[name] = float(sampling[name])
    agent = dict(data.get("agent") or {})
    guard = {key: int(value) for key, value in (agent.pop("loop_guard", None) or {}).items()}
    agent_settings = AgentSettings(
        max_turns=int(agent.get("max_turns", AgentSettings.max_turns)),
        loop_guard=LoopGuard(**guard),
        tools=tuple(agent.get("tools", ())),
    )
    return HarnessConfig(
        sampling=SamplingParams(**sampling),
        agent=agent_settings,
        templates=TemplateSettings(**(data.get("templates") or {})),
    )


@cache
def _validator() -> Draft202012Validator:
    from jsonschema import Draft202012Validator

    return Draft202012Validator(HARNESS_SCHEMA)


def _error_sort_key(error: ValidationError) -> tuple[str, ...]:
    return tuple(str(part) for part in error.absolute_path)


def _field_path(parts: list[Any]) -> str:
    return ".".join(str(part) for part in parts) or "(root)"


def _to_config_error(error: ValidationError) -> HarnessConfigError:
    path = list(error.absolute_path)
    if error.validator == "additionalProperties" and isinstance(error.instance, dict):
        # Name the unknown key itself, so a typo such as `temprature` is pointed at.
        schema = error.schema if isinstance(error.schema, dict) else {}
        allowed = sorted(schema.get("properties", {}))
        unknown = sorted(set(error.instance) - set(allowed))
        return HarnessConfigError(
            _field_path([*path, unknown[0]]),
            f"unknown key (allowed: {', '.join(allowed)})",
        )
    if error.validator == "pattern" and path and path[0] == "templates":
        return HarnessConfigError(_field_path(path), "must be a relative path inside the harness")
    return HarnessConfigError(_field_path(path), error.message)
