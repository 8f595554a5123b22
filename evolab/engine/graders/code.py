"""python_tests: the answer is a program; it passes when the case's tests pass in the sandbox.

Two case shapes:
  * HumanEval: `prompt` (imports, helpers, the signature and docstring), `test` (defines
    `check(candidate)`), `entry_point`. An answer that defines `entry_point` at top level is
    a full definition; anything else is a completion of the prompt's function body.
  * Plain: `tests` (in the case or the grader config) is code appended after the answer,
    typically asserts.
"""

from __future__ import annotations

import ast
import re
from collections.abc import Mapping
from typing import Any

from evolab.engine.graders.result import Grade, GraderConfigError, make_grade
from evolab.engine.sandbox import SandboxLimits, SandboxResult, run_sandboxed

STDERR_TAIL_CHARS = 2000
_FENCE = re.compile(r"```[ \t]*([\w+-]*)[^\n]*\n(.*?)```", re.DOTALL)


def strip_code_fences(answer: str) -> str:
    """The code inside the first python (or untagged) fence; the answer itself if unfenced.

    Only the fence lines are removed: a completion's leading indentation is significant.
    """
    fences = _FENCE.findall(answer)
    for lang, body in fences:
        if lang.lower() in ("python", "py", "python3", ""):
            return str(body)
    if fences:
        return str(fences[0][1])
    return answer


def defines_function(code: str, name: str) -> bool:
    try:
        tree = ast.parse(code)
    except SyntaxError:
        return False
    return any(isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)) and node.name == name for node in tree.body)


def build_program(answer: str, case: Mapping[str, Any], config: Mapping[str, Any]) -> tuple[str, str]:
    """The program to run and how it was assembled ("completion", "full_definition", "program")."""
    code = strip_code_fences(answer)
    entry_point = case.get("entry_point")
    if entry_point:
        prompt = str(case.get("prompt", ""))
        test = case.get("test")
        if not isinstance(test, str) or not test.strip():
            raise GraderConfigError("test", "a HumanEval case needs `test` code defining check(candidate)")
        if defines_function(code, str(entry_point)):
            # The prompt goes first for its imports and helper functions (HumanEval prompts
            # are valid Python on their own); the answer's definition then replaces the stub.
            head = prompt if _parses(prompt) else ""
            program, mode = f"{head}\n\n{code}", "full_definition"
        else:
            program, mode = prompt + code, "completion"
            indented = prompt + "".join(f"    {line}" if line.strip() else line for line in code.splitlines(True))
            if not _parses(program) and _parses(indented):
                # A body returned without its indentation ("return a + b").
                program = indented
        return f"{program}\n\n{test}\n\ncheck({entry_point})\n", mode
    tests = config.get("tests", case.get("tests"))
    if not isinstance(tests, str) or not tests.strip():
        raise GraderConfigError("tests", "set `tests` in the grader config or the case, or use HumanEval fields")
    return f"{code}\n\n{tests}\n", "program"


def _parses(code: str) -> bool:
    """Whether `code` compiles; compile() also catches `return` outside a function."""
    try:
        compile(code, "<answer>", "exec", dont_inherit=True)
    except (SyntaxError, ValueError):
        return False
    return True


def sandbox_limits_for(config: Mapping[str, Any], base: SandboxLimits | None = None) -> SandboxLimits:
    base = base or SandboxLimits()
    return SandboxLimits(
        wall_s=float(config.get("timeout_s", base.wall_s)),
        cpu_s=int(config.get("cpu_s", base.cpu_s)),
        memory_mb=int(config.get("memory_mb", base.memory_mb)),
        max_processes=base.max_processes,
        max_file_mb=base.max_file_mb,
        max_open_files=base.max_open_files,
        max_output_bytes=base.max_output_bytes,
    )


def grade_from_run(config: Mapping[str, Any], result: SandboxResult, mode: str) -> Grade:
    passed = result.exit_code == 0 and result.killed_reason is None
    details = {
        "mode": mode,
        "exit_code": result.exit_code,
        "timed_out": result.timed_out,
        "killed_reason": result.killed_reason,
        "stderr_tail": result.stderr[-STDERR_TAIL_CHARS:],
        "duration_s": round(result.duration_s, 3),
        "sandbox_tier": result.tier,
        "landlock": result.landlock,
    }
    return make_grade(config, 1.0 if passed else 0.0, details, sandbox_tier=result.tier)


def grade_python_tests(
    config: Mapping[str, Any],
    *,
    output: str,
    case: Mapping[str, Any],
    sandbox_limits: SandboxLimits | None = None,
    sandbox_tier: int | None = None,
) -> Grade:
    """Blocking: runs the sandbox. From async code use `grade_async`."""
    program, mode = build_program(output, case, config)
    result = run_sandboxed(program, limits=sandbox_limits_for(config, sandbox_limits), tier=sandbox_tier)
    return grade_from_run(config, result, mode)
