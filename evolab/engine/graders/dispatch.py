"""`grade` / `grade_async`: pick the grader for a config's `type` and run it."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Mapping
from typing import Any

from evolab.engine.graders.code import grade_python_tests
from evolab.engine.graders.config import validate_grader_config
from evolab.engine.graders.judge import grade_llm_judge
from evolab.engine.graders.result import Grade, GraderConfigError
from evolab.engine.graders.structured import grade_json, grade_numeric
from evolab.engine.graders.text import grade_contains, grade_exact, grade_regex
from evolab.engine.sandbox import SandboxLimits

_PURE_GRADERS: dict[str, Callable[..., Grade]] = {
    "exact": grade_exact,
    "contains": grade_contains,
    "regex": grade_regex,
    "json": grade_json,
    "numeric": grade_numeric,
}


async def grade_async(
    grader_config: Mapping[str, Any],
    *,
    output: str,
    case: Mapping[str, Any],
    judge: Any = None,
    sandbox_limits: SandboxLimits | None = None,
    sandbox_tier: int | None = None,
) -> Grade:
    """Grade one output. The sandbox runs in a worker thread; the judge is awaited."""
    validate_grader_config(grader_config)
    grader_type = grader_config["type"]
    if grader_type in _PURE_GRADERS:
        return _PURE_GRADERS[grader_type](grader_config, output=output, case=case)
    if grader_type == "python_tests":
        return await asyncio.to_thread(
            grade_python_tests,
            grader_config,
            output=output,
            case=case,
            sandbox_limits=sandbox_limits,
            sandbox_tier=sandbox_tier,
        )
    if judge is None:
        raise GraderConfigError("type", "an llm_judge grader needs a judge model")
    return await grade_llm_judge(grader_config, output=output, case=case, judge=judge)


def grade(
    grader_config: Mapping[str, Any],
    *,
    output: str,
    case: Mapping[str, Any],
    judge: Any = None,
    sandbox_limits: SandboxLimits | None = None,
    sandbox_tier: int | None = None,
) -> Grade:
    """Synchronous `grade_async`, for code that has no event loop running."""
    validate_grader_config(grader_config)
    if grader_config["type"] in _PURE_GRADERS:
        return _PURE_GRADERS[grader_config["type"]](grader_config, output=output, case=case)
    if grader_config["type"] == "python_tests":
        return grade_python_tests(
            grader_config, output=output, case=case, sandbox_limits=sandbox_limits, sandbox_tier=sandbox_tier
        )
    return asyncio.run(grade_async(grader_config, output=output, case=case, judge=judge, sandbox_limits=sandbox_limits))
