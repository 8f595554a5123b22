"""Graders score an output for a case: `grade(config, output=..., case=...) -> Grade`."""

from __future__ import annotations

from evolab.engine.graders.config import GRADER_TYPES, validate_grader_config
from evolab.engine.graders.dispatch import grade, grade_async
from evolab.engine.graders.result import Grade, GraderConfigError

__all__ = ["GRADER_TYPES", "Grade", "GraderConfigError", "grade", "grade_async", "validate_grader_config"]
