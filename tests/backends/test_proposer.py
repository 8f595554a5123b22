"""Proposer prompts: the simulator proposes guidance for the most frequent missing insight."""

from __future__ import annotations

import json
from typing import Any

import pytest

from evolab.backends.client import BackendClient
from evolab.backends.simulator.insights import INSIGHTS, detect_insights
from evolab.backends.simulator.skill_model import Sampling, reply
from evolab.backends.simulator.testing import RunningSimulator
from evolab.backends.types import ChatRequest
from evolab.demo import demo_harness_files, demo_suite_rows, with_guidance
from tests.backends.episodes import passes, render_system
from tests.backends.test_skill_model import direct_episode


def proposer_prompt(files: dict[str, str], failures: list[tuple[dict[str, Any], str | None]]) -> list[dict[str, Any]]:
    harness = "\n\n".join(f"### {path}\n{text}" for path, text in sorted(files.items()))
    trajectories = "\n\n".join(
        f"### Case {row['key']}\nInput: {row['input']}\nFinal answer: {answer!r}\nScore: 0" for row, answer in failures
    )
    user = (
        f"## Current harness\n{harness}\n\n## Failure trajectories\n{trajectories}\n\n"
        "## Output format\nReply with one JSON object: hypothesis, edits."
    )
    return [{"role": "system", "content": "You improve agent harnesses."}, {"role": "user", "content": user}]


def failures_of(files: dict[str, str]) -> list[tuple[dict[str, Any], str | None]]:
    system = render_system(files)
    found = []
    for row in demo_suite_rows():
        if row["split"] == "train":
            answer = direct_episode(system, row, 0).answer
            if not passes(row, answer):
                found.append((row, answer))
    return found


def apply(files: dict[str, str], edits: list[dict[str, str]]) -> dict[str, str]:
    changed = dict(files)
    for edit in edits:
        base = changed.get(edit["path"], "") if edit["op"] == "append" else ""
        changed[edit["path"]] = base + ("\n" if base else "") + edit["text"]
    return changed


def test_it_proposes_guidance_that_the_skill_model_then_rewards() -> None:
    files = demo_harness_files()
    for _ in range(5):
        failures = failures_of(files)
        proposal = json.loads(reply(proposer_prompt(files, failures), None, Sampling(), 1).content)
        if not proposal["edits"]:
            break
        assert proposal["hypothesis"] and len(proposal["target_tags"]) == 1
        topic = proposal["target_tags"][0]
        assert topic not in detect_insights(render_system(files))
        files = apply(files, proposal["edits"])
        assert topic in detect_insights(render_system(files))
    assert detect_insights(render_system(files)) == set(INSIGHTS)


def test_it_proposes_nothing_when_the_harness_already_has_everything() -> None:
    files = with_guidance(demo_harness_files())
    failures = [(row, "wrong") for row in demo_suite_rows()[:5]]
    proposal = json.loads(reply(proposer_prompt(files, failures), None, Sampling(), 1).content)
    assert proposal["edits"] == []


def test_edits_append_to_listed_files_and_create_new_ones() -> None:
    files = demo_harness_files()
    refunds = [(row, "ELIGIBLE") for row in demo_suite_rows() if row["tags"][0] == "refunds"]
    proposal = json.loads(reply(proposer_prompt(files, refunds), None, Sampling(), 1).content)
    assert proposal["edits"][0]["op"] == "append" and proposal["edits"][0]["path"] == "skills/refunds.md"
    units = [(row, "1") for row in demo_suite_rows() if row["tags"][0] == "units"]
    proposal = json.loads(reply(proposer_prompt(files, units), None, Sampling(), 1).content)
    assert proposal["edits"][0] == {
        "op": "create",
        "path": "skills/units.md",
        "text": INSIGHTS["units"].guidance + "\n",
    }


@pytest.mark.asyncio
async def test_it_answers_proposer_prompts_over_http(sim: RunningSimulator) -> None:
    files = demo_harness_files()
    messages = proposer_prompt(files, failures_of(files))
    async with BackendClient(sim.backend_config()) as client:
        result = await client.chat(ChatRequest(messages=messages, params={"seed": 2}))
    proposal = json.loads(result.content)
    assert result.reasoning and "failure trajectories" in result.reasoning
    assert proposal["edits"] and proposal["edits"][0]["path"].endswith(".md")
