from __future__ import annotations

import asyncio
import json

from evolab.backends.types import Usage
from evolab.engine.agent_loop import Episode, run_episode
from evolab.engine.harness_config import parse_harness_config
from evolab.engine.tools import ToolBox
from tests.engine.fake_model import ScriptedModel, reply

CONFIG = parse_harness_config(
    """
sampling: {temperature: 0.3, max_tokens: 512, seed: 11}
agent:
  max_turns: 4
  loop_guard: {window: 4, threshold: 3}
  tools: [calculator, lookup, submit_answer]
"""
)
MESSAGES = [{"role": "system", "content": "Use tools."}, {"role": "user", "content": "What is 17*23?"}]


def run(model: ScriptedModel, *, tools: ToolBox | None = None, config=CONFIG, sample_index: int = 0) -> Episode:
    toolbox = tools if tools is not None else ToolBox.for_case(config.agent.tools, case={})
    return asyncio.run(run_episode(model, MESSAGES, config, toolbox, sample_index=sample_index))


def test_a_tool_using_episode_succeeds() -> None:
    model = ScriptedModel(
        reply(tool_calls=[("calculator", {"expression": "17 * 23"})], think="I should compute."),
        reply("The answer is 391.", think="391 it is."),
    )

    episode = run(model, sample_index=2)

    assert episode.status == "answered"
    assert episode.final_answer == "The answer is 391."
    assert episode.turns == 2
    assert [(c.name, c.arguments, c.result, c.error) for c in episode.tool_calls] == [
        ("calculator", {"expression": "17 * 23"}, "391", False)
    ]
    assert episode.usage == Usage(200, 40, 10)
    assert episode.cost_usd == 0.002
    assert len(episode.attempts) == 2
    assert episode.latency_s > 0
    # The request carried the harness's sampling params, the tool schemas and the sample.
    first = model.requests[0]
    assert first.params == {"temperature": 0.3, "max_tokens": 512, "seed": 11}
    assert first.sample_index == 2
    assert [tool["function"]["name"] for tool in first.tools or []] == ["calculator", "lookup", "submit_answer"]
    # The tool result went back to the model, answering the call by id.
    assert model.requests[1].messages[-1] == {"role": "tool", "tool_call_id": "call_0_calculator", "content": "391"}
    json.dumps(episode.as_json())


def test_think_blocks_go_back_to_the_model_unmodified() -> None:
    first = reply(tool_calls=[("calculator", {"expression": "2+2"})], think="Let me <b>think</b>\n  carefully.")
    model = ScriptedModel(first, reply("4", think="done"))

    episode = run(model)

    sent_back = model.requests[1].messages[2]
    assert sent_back == first.message
    assert sent_back["content"] == "<think>Let me <b>think</b>\n  carefully.</think>\n"
    assert episode.transcript[2] is first.message
    assert episode.transcript[-1]["content"] == "<think>done</think>\n4"
    assert episode.final_answer == "4"


def test_submit_answer_ends_the_episode_with_its_argument() -> None:
    model = ScriptedModel(
        reply("Submitting.", tool_calls=[("submit_answer", {"answer": "391"})]),
        reply("never sent"),
    )

    episode = run(model)

    assert episode.status == "answered"
    assert episode.final_answer == "391"
    assert episode.turns == 1
    assert len(model.requests) == 1
    assert episode.transcript[-1]["role"] == "tool"


def test_it_stops_at_max_turns() -> None:
    model = ScriptedModel(
        *[reply(tool_calls=[("calculator", {"expression": f"{n} + 1"})]) for n in range(10)],
    )

    episode = run(model)

    assert episode.status == "max_turns"
    assert episode.final_answer is None
    assert episode.output == ""
    assert episode.turns == 4
    assert len(model.requests) == 4
    assert len(episode.tool_calls) == 4


def test_a_repeated_tool_call_ends_as_looped() -> None:
    config = parse_harness_config("agent: {max_turns: 20, loop_guard: {window: 5, threshold: 3}, tools: [lookup]}")
    # Same call with the same arguments in another key order: still the same call.
    model = ScriptedModel(
        reply(tool_calls=[("lookup", {"query": "refund", "max_results": 2})]),
        reply(tool_calls=[("lookup", {"max_results": 2, "query": "refund"})]),
        reply(tool_calls=[("lookup", {"query": "refund", "max_results": 2})]),
        reply("never sent"),
    )

    episode = run(model, config=config, tools=ToolBox.for_case(["lookup"], case={}))

    assert episode.status == "looped"
    assert episode.turns == 3
    assert episode.loop_signature == 'call:lookup({"max_results":2,"query":"refund"})'
    # The third, looping call is not executed.
    assert len(episode.tool_calls) == 2


def test_the_same_output_repeated_ends_as_looped() -> None:
    model = ScriptedModel(
        *[reply("Let me check again.", tool_calls=[("calculator", {"expression": f"{n}*2"})]) for n in range(5)]
    )

    episode = run(model)

    assert episode.status == "looped"
    assert episode.loop_signature == "output:Let me check again."


def test_a_model_error_ends_the_episode_with_its_text() -> None:
    model = ScriptedModel(
        reply(tool_calls=[("calculator", {"expression": "1+1"})]),
        TimeoutError("backend timed out after 120 s"),
    )

    episode = run(model)

    assert episode.status == "error"
    assert episode.error == "TimeoutError: backend timed out after 120 s"
    assert episode.turns == 1
    assert episode.usage.input_tokens == 100


def test_tool_errors_are_returned_to_the_model() -> None:
    model = ScriptedModel(
        reply(
            tool_calls=[
                ("calculator", {"expression": "__import__('os')"}),
                ("shell", {"cmd": "ls"}),
                ("calculator", {"expression": "1/0"}),
            ]
        ),
        reply("I give up."),
    )

    episode = run(model)

    results = [record.result for record in episode.tool_calls]
    assert results[0].startswith("Error: unsupported syntax")
    assert results[1].startswith("Error: unknown tool 'shell'")
    assert results[2] == "Error: division by zero"
    assert all(record.error for record in episode.tool_calls)
    assert episode.status == "answered"


def test_invalid_json_arguments_are_reported_to_the_model() -> None:
    bad = reply(tool_calls=[("calculator", {})])
    bad.tool_calls[0]["function"]["arguments"] = "{not json"
    model = ScriptedModel(bad, reply("ok"))

    episode = run(model)

    assert episode.tool_calls[0].result.startswith("Error: arguments are not valid JSON")
    assert model.requests[1].messages[-1]["role"] == "tool"


def test_lookup_searches_the_case_documents() -> None:
    case = {
        "documents": [
            {"title": "Refund policy", "text": "Refunds are possible within 30 days.\n\nShipping is free."},
            {"title": "Warranty", "text": "Two years of warranty on electronics."},
        ]
    }
    model = ScriptedModel(reply(tool_calls=[("lookup", {"query": "refund days"})]), reply("30 days"))

    episode = run(model, tools=ToolBox.for_case(["lookup"], case=case))

    assert episode.tool_calls[0].result.startswith("[Refund policy]\nRefunds are possible within 30 days.")
    assert "Warranty" not in episode.tool_calls[0].result
