from __future__ import annotations

import pytest

from evolab.engine.harness_config import (
    HarnessConfig,
    HarnessConfigError,
    LoopGuard,
    parse_harness_config,
)

VALID = """
sampling:
  temperature: 0.7
  top_p: 0.95
  top_k: 40
  max_tokens: 2048
  presence_penalty: 0.5
  frequency_penalty: -0.5
  seed: 7
agent:
  max_turns: 12
  loop_guard: {window: 5, threshold: 2}
  tools: [calculator, submit_answer]
templates:
  system: prompts/system.md
"""


def test_it_parses_a_full_config() -> None:
    config = parse_harness_config(VALID)

    assert config.sampling.temperature == 0.7
    assert config.sampling.as_request_params() == {
        "temperature": 0.7,
        "top_p": 0.95,
        "top_k": 40,
        "max_tokens": 2048,
        "presence_penalty": 0.5,
        "frequency_penalty": -0.5,
        "seed": 7,
    }
    assert config.agent.max_turns == 12
    assert config.agent.loop_guard == LoopGuard(window=5, threshold=2)
    assert config.agent.tools == ("calculator", "submit_answer")
    assert config.templates.system == "prompts/system.md"
    assert config.templates.user is None


@pytest.mark.parametrize("text", [None, "", "  \n", "# only a comment\n"])
def test_it_gives_defaults_for_an_empty_file(text: str | None) -> None:
    config = parse_harness_config(text)

    assert config == HarnessConfig()
    assert config.sampling.as_request_params() == {}
    assert config.agent.max_turns == 10


def test_it_is_frozen() -> None:
    config = parse_harness_config(VALID)
    with pytest.raises(AttributeError):
        config.agent = None  # type: ignore[misc]


@pytest.mark.parametrize(
    ("text", "field", "message"),
    [
        ("sampling:\n  temprature: 0.5\n", "sampling.temprature", "unknown key"),
        ("sampler: {}\n", "sampler", "unknown key"),
        ("agent:\n  loop_guard: {window: 3, treshold: 2}\n", "agent.loop_guard.treshold", "unknown key"),
        ("sampling:\n  temperature: -1\n", "sampling.temperature", "-1 is less than the minimum of 0"),
        ("sampling:\n  temperature: hot\n", "sampling.temperature", "'hot' is not of type 'number'"),
        ("sampling:\n  top_p: 0\n", "sampling.top_p", "less than or equal to the minimum of 0"),
        ("sampling:\n  top_k: 2.5\n", "sampling.top_k", "is not of type 'integer'"),
        ("sampling:\n  seed: true\n", "sampling.seed", "is not of type 'integer'"),
        ("agent:\n  max_turns: 101\n", "agent.max_turns", "greater than the maximum of 100"),
        ("agent:\n  tools: [calculator, shell]\n", "agent.tools.1", "'shell' is not one of"),
        ("agent:\n  loop_guard: {window: 1}\n", "agent.loop_guard.window", "less than the minimum of 2"),
        ("templates:\n  system: ../etc/passwd\n", "templates.system", "relative path"),
        ("- a list\n", "(root)", "is not of type 'object'"),
    ],
)
def test_it_names_the_field_of_an_error(text: str, field: str, message: str) -> None:
    with pytest.raises(HarnessConfigError) as caught:
        parse_harness_config(text)

    assert caught.value.field == field
    assert message in caught.value.message
    assert str(caught.value).startswith(f"harness.yaml: {field}: ")


def test_the_error_message_reads_as_documented() -> None:
    with pytest.raises(HarnessConfigError) as caught:
        parse_harness_config("sampling:\n  temperature: -1\n")

    assert str(caught.value) == "harness.yaml: sampling.temperature: -1 is less than the minimum of 0"


def test_it_reports_yaml_syntax_errors_with_the_line() -> None:
    with pytest.raises(HarnessConfigError) as caught:
        parse_harness_config("sampling:\n  temperature: [0.5\nagent: {}\n")

    assert caught.value.field.startswith("line ")
    assert "invalid YAML" in caught.value.message
