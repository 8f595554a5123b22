from __future__ import annotations

import asyncio

import pytest

from evolab.engine.graders import grade, grade_async

# Tiny HumanEval-format cases: a prompt ending in a docstring, a check(candidate) test.
ADD = {
    "prompt": 'from typing import List\n\n\ndef add(a: int, b: int) -> int:\n    """Add two numbers."""\n',
    "test": "def check(candidate):\n    assert candidate(2, 3) == 5\n    assert candidate(-1, 1) == 0\n",
    "entry_point": "add",
}
SUM_LIST = {
    "prompt": (
        "from typing import List\n\n\ndef _helper(x: int) -> int:\n    return x\n\n\n"
        'def total(xs: List[int]) -> int:\n    """Sum a list, using _helper."""\n'
    ),
    "test": "def check(candidate):\n    assert candidate([1, 2, 3]) == 6\n    assert candidate([]) == 0\n",
    "entry_point": "total",
}
CONFIG = {"type": "python_tests", "timeout_s": 10}


@pytest.mark.parametrize(
    ("case", "answer", "mode"),
    [
        (ADD, "    return a + b\n", "completion"),
        (ADD, "```python\n    return a + b\n```", "completion"),
        (ADD, "return a + b", "completion"),
        (ADD, "Here:\n```python\ndef add(a, b):\n    return b + a\n```\nDone.", "full_definition"),
        # A full definition that relies on the prompt's imports and helper.
        (SUM_LIST, "def total(xs: List[int]) -> int:\n    return sum(_helper(x) for x in xs)\n", "full_definition"),
        (SUM_LIST, "    return sum(xs)\n", "completion"),
    ],
)
def test_correct_answers_pass(case: dict, answer: str, mode: str, sandbox_tier: int) -> None:
    result = grade(CONFIG, output=answer, case=case, sandbox_tier=sandbox_tier)

    assert result.score == 1.0, result.details
    assert result.passed
    assert result.details["mode"] == mode
    assert result.sandbox_tier == sandbox_tier == result.details["sandbox_tier"]


@pytest.mark.parametrize(
    ("answer", "expected_in_stderr"),
    [
        ("    return a - b\n", "AssertionError"),
        ("def add(a, b):\n    return a * b\n", "AssertionError"),
        ("    return a +\n", "SyntaxError"),
    ],
)
def test_wrong_answers_fail_with_the_stderr_tail(answer: str, expected_in_stderr: str, sandbox_tier: int) -> None:
    result = grade(CONFIG, output=answer, case=ADD, sandbox_tier=sandbox_tier)

    assert result.score == 0.0
    assert not result.passed
    assert expected_in_stderr in result.details["stderr_tail"]
    assert result.sandbox_tier == sandbox_tier


def test_an_endless_answer_times_out(sandbox_tier: int) -> None:
    config = {"type": "python_tests", "timeout_s": 1.5, "cpu_s": 1}

    result = grade(config, output="    while True:\n        pass\n", case=ADD, sandbox_tier=sandbox_tier)

    assert result.score == 0.0
    assert result.details["killed_reason"] in ("cpu_limit", "timeout")


def test_plain_tests_follow_the_program() -> None:
    case = {"tests": "assert is_even(4)\nassert not is_even(3)\n"}

    good = asyncio.run(grade_async(CONFIG, output="def is_even(n):\n    return n % 2 == 0\n", case=case))
    bad = asyncio.run(grade_async(CONFIG, output="def is_even(n):\n    return True\n", case=case))

    assert (good.score, good.details["mode"], bad.score) == (1.0, "program", 0.0)
