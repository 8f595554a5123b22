from __future__ import annotations

import asyncio

import pytest

from evolab.backends.types import ChatRequest, ChatResult, Usage
from evolab.engine.graders import Grade, GraderConfigError, grade, grade_async, validate_grader_config
from tests.engine.fake_model import ScriptedModel, reply

# --- exact / contains / regex --------------------------------------------------------------


@pytest.mark.parametrize(
    ("config", "output", "target", "score"),
    [
        ({"type": "exact"}, "  Paris\n", "Paris", 1.0),
        ({"type": "exact", "strip": False}, "  Paris\n", "Paris", 0.0),
        ({"type": "exact"}, "paris", "Paris", 0.0),
        ({"type": "exact", "case_insensitive": True}, "PARIS", "Paris", 1.0),
        ({"type": "exact"}, "Lutetia", ["Paris", "Lutetia"], 1.0),
        ({"type": "exact", "target": "Rome"}, "Rome", "Paris", 1.0),
    ],
)
def test_exact(config: dict, output: str, target: object, score: float) -> None:
    result = grade(config, output=output, case={"target": target})

    assert result.score == score
    assert result.passed is (score == 1.0)
    assert result.sandbox_tier is None


def test_contains_all_gives_partial_credit_and_any_needs_one() -> None:
    case = {"target": ["refund", "30 days", "receipt"]}

    partial = grade({"type": "contains"}, output="A refund within 30 days.", case=case)
    anyone = grade({"type": "contains", "mode": "any"}, output="A refund.", case=case)
    folded = grade({"type": "contains", "substrings": "REFUND", "case_insensitive": True}, output="refund", case={})

    assert partial.score == pytest.approx(2 / 3)
    assert partial.passed is False
    assert partial.details["missing"] == ["receipt"]
    assert anyone.score == 1.0
    assert folded.passed


def test_pass_threshold_decides_passed() -> None:
    result = grade(
        {"type": "contains", "pass_threshold": 0.5}, output="refund in 30 days", case={"target": ["refund", "x", "30"]}
    )

    assert result.score == pytest.approx(2 / 3)
    assert result.passed is True


def test_regex() -> None:
    config = {"type": "regex", "pattern": r"order\s+#\d{5}\b", "flags": ["IGNORECASE"]}

    assert grade(config, output="Your ORDER #12345 shipped", case={}).passed
    assert not grade(config, output="order #123", case={}).passed
    full = {"type": "regex", "pattern": r"\d+", "mode": "fullmatch"}
    assert grade(full, output="123", case={}).passed
    assert not grade(full, output="123 apples", case={}).passed


def test_regex_refuses_catastrophic_patterns_and_caps_input() -> None:
    with pytest.raises(GraderConfigError) as caught:
        validate_grader_config({"type": "regex", "pattern": r"^(a+)+$"})
    assert caught.value.field == "pattern"

    # Possessive and atomic forms are the safe spelling of the same idea.
    validate_grader_config({"type": "regex", "pattern": r"^(a++)+$"})

    long_output = "x" * 50 + "needle"
    result = grade({"type": "regex", "pattern": "needle", "max_input_chars": 50}, output=long_output, case={})
    assert result.score == 0.0
    assert result.details["truncated_to_chars"] == 50


# --- json / numeric -----------------------------------------------------------------------


def test_json_fields_give_partial_credit_and_fences_are_understood() -> None:
    output = 'Here you go:\n```json\n{"order": {"id": 17, "items": [{"sku": "A1"}]}, "refund": true}\n```\n'
    config = {"type": "json", "fields": {"order.id": 17, "order.items.0.sku": "A1", "refund": 1, "status": "ok"}}

    result = grade(config, output=output, case={})

    assert result.score == 0.5
    assert result.details["mismatches"] == {
        "refund": {"expected": 1, "actual": True},
        "status": {"expected": "ok", "actual": None, "missing": True},
    }


def test_json_schema_gates_the_score() -> None:
    schema = {"type": "object", "required": ["answer"], "properties": {"answer": {"type": "integer"}}}
    config = {"type": "json", "schema": schema, "fields": {"answer": 4}}

    assert grade(config, output='{"answer": 4}', case={}).score == 1.0
    invalid = grade(config, output='{"answer": "4"}', case={})
    assert invalid.score == 0.0
    assert invalid.details["schema_errors"] == ["answer: '4' is not of type 'integer'"]
    assert grade(config, output="no json at all", case={}).details["error"] == "no JSON value found in the output"


@pytest.mark.parametrize(
    ("config", "output", "target", "passed"),
    [
        ({"type": "numeric"}, "So the total is 1,234.5 dollars.", 1234.5, True),
        ({"type": "numeric"}, "First 3, then 42", "42", True),
        ({"type": "numeric"}, "about 3.14", 3.14159, False),
        ({"type": "numeric", "tolerance": 0.01}, "about 3.14", 3.14159, True),
        ({"type": "numeric", "rel_tolerance": 0.01}, "roughly 99.5", 100, True),
        ({"type": "numeric", "rel_tolerance": 0.001}, "roughly 99.5", 100, False),
        ({"type": "numeric"}, "It drops to -7 degrees", -7, True),
        ({"type": "numeric"}, "no digits here", 7, False),
    ],
)
def test_numeric(config: dict, output: str, target: object, passed: bool) -> None:
    assert grade(config, output=output, case={"target": target}).passed is passed


# --- config validation --------------------------------------------------------------------


@pytest.mark.parametrize(
    ("config", "field"),
    [
        ({"type": "fuzzy"}, "type"),
        ({}, "type"),
        ({"type": "exact", "case_insensitve": True}, "case_insensitve"),
        ({"type": "exact", "pass_threshold": 2}, "pass_threshold"),
        ({"type": "regex"}, "pattern"),
        ({"type": "regex", "pattern": "(unclosed"}, "pattern"),
        ({"type": "regex", "pattern": "a", "flags": ["UNICORN"]}, "flags.0"),
        ({"type": "json"}, "fields"),
        ({"type": "json", "schema": {"type": "strnig"}}, "schema"),
        ({"type": "numeric", "tolerance": -1}, "tolerance"),
        ({"type": "llm_judge"}, "rubric"),
        ({"type": "python_tests", "timeout_s": 0}, "timeout_s"),
    ],
)
def test_bad_configs_name_the_field(config: dict, field: str) -> None:
    with pytest.raises(GraderConfigError) as caught:
        validate_grader_config(config)

    assert caught.value.field == field
    assert str(caught.value).startswith(f"grader.{field}: ")


def test_validation_with_a_case_checks_what_the_grader_needs() -> None:
    with pytest.raises(GraderConfigError, match="no target"):
        validate_grader_config({"type": "numeric"}, case={"input": "x"})
    with pytest.raises(GraderConfigError) as caught:
        validate_grader_config({"type": "python_tests"}, case={"entry_point": "f", "prompt": "def f():\n"})
    assert caught.value.field == "test"
    validate_grader_config({"type": "contains", "substrings": ["a"]}, case={})


def test_a_missing_target_at_grade_time_is_a_config_error() -> None:
    with pytest.raises(GraderConfigError) as caught:
        grade({"type": "exact"}, output="x", case={"input": "q"})
    assert caught.value.field == "target"


# --- llm_judge ----------------------------------------------------------------------------


JUDGE_CONFIG = {"type": "llm_judge", "rubric": "Award 1 if the answer is polite and correct.", "pass_threshold": 0.7}
CASE = {"input": "What is 2+2?", "target": "4"}


def test_llm_judge_builds_a_prompt_and_keeps_rationale_and_cost() -> None:
    judge = ScriptedModel(
        reply(
            'Verdict:\n```json\n{"score": 0.8, "rationale": "Correct, a little curt."}\n```',
            think="The output says 4 {score: 0}",
            cost=0.0004,
        )
    )

    result = asyncio.run(grade_async(JUDGE_CONFIG, output="It is 4.", case=CASE, judge=judge))

    assert result == Grade(
        score=0.8,
        passed=True,
        details={
            "judge_usage": {"input_tokens": 100, "output_tokens": 20, "reasoning_tokens": 5},
            "judge_cost_usd": 0.0004,
            "rationale": "Correct, a little curt.",
            "judge_score": 0.8,
        },
    )
    prompt = judge.requests[0].messages[1]["content"]
    assert "Award 1 if the answer is polite" in prompt
    assert "What is 2+2?" in prompt
    assert "## Reference answer\n4" in prompt
    assert "<output>\nIt is 4.\n</output>" in prompt


@pytest.mark.parametrize(
    ("verdict", "score"),
    [
        ('{"score": 1, "rationale": "fine"}', 1.0),
        ('Sure! {"rationale": "half right", "score": "0.5"} Hope that helps.', 0.5),
        ("score: 7/10 - mostly right", 0.7),
        ("Score = 85%", 0.85),
    ],
)
def test_llm_judge_parses_verdicts_robustly(verdict: str, score: float) -> None:
    judge = ScriptedModel(reply(verdict))

    assert grade(JUDGE_CONFIG, output="4", case=CASE, judge=judge).score == pytest.approx(score)


def test_an_unparseable_verdict_scores_zero_and_keeps_the_reply() -> None:
    judge = ScriptedModel(reply("I think it is good."))

    result = grade(JUDGE_CONFIG, output="4", case=CASE, judge=judge)

    assert result.score == 0.0
    assert result.details["raw_verdict"] == "I think it is good."
    assert result.details["error"].startswith("unparseable verdict")


def test_llm_judge_accepts_a_plain_async_callable() -> None:
    async def judge(request: ChatRequest) -> ChatResult:
        return ChatResult(
            message={"role": "assistant", "content": '{"score": 0.25}'},
            content='{"score": 0.25}',
            reasoning=None,
            tool_calls=[],
            finish_reason="stop",
            usage=Usage(10, 5),
            cost_usd=0.0,
            latency_s=0.0,
            attempts=[],
        )

    result = grade(JUDGE_CONFIG, output="4", case=CASE, judge=judge)

    assert result.score == 0.25
    assert result.passed is False
