"""What every grader returns, and the error for a grader config that cannot work."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

DEFAULT_PASS_THRESHOLD = 1.0


class GraderConfigError(ValueError):
    """A grader config (or the case data it needs) is invalid; `field` names the culprit."""

    def __init__(self, field: str, message: str) -> None:
        self.field = field
        self.message = message
        super().__init__(f"grader.{field}: {message}")


@dataclass(frozen=True)
class Grade:
    score: float
    passed: bool
    details: dict[str, Any] = field(default_factory=dict)
    # The sandbox tier that ran graded code; None for graders that run none.
    sandbox_tier: int | None = None


def make_grade(
    config: Mapping[str, Any], score: float, details: dict[str, Any], sandbox_tier: int | None = None
) -> Grade:
    """A Grade with the score clamped to 0..1 and `passed` from the config's threshold."""
    score = min(max(float(score), 0.0), 1.0)
    threshold = float(config.get("pass_threshold", DEFAULT_PASS_THRESHOLD))
    return Grade(score=score, passed=score >= threshold, details=details, sandbox_tier=sandbox_tier)


def target_of(config: Mapping[str, Any], case: Mapping[str, Any]) -> Any:
    """The expected answer: the config's `target` overrides the case's."""
    if "target" in config:
        return config["target"]
    if case.get("target") is None:
        raise GraderConfigError("target", "the case has no target and the grader config sets none")
    return case["target"]
