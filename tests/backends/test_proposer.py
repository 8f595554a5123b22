"""Proposer prompts: search/replace proposals of every kind, steered by direction, memory and protection."""

from __future__ import annotations

import json
import random
from collections import Counter
from typing import Any

import pytest

from evolab.backends.client import BackendClient
from evolab.backends.simulator.insights import HARMFUL_INSIGHTS, INSIGHTS, detect_harmful, detect_insights
from evolab.backends.simulator.proposer import propose
from evolab.backends.simulator.skill_model import Sampling, reply
from evolab.backends.simulator.testing import RunningSimulator
from evolab.backends.types import ChatRequest
from evolab.demo import demo_harness_files, demo_suite_rows, with_guidance
from tests.backends.episodes import passes, render_system
from tests.backends.test_skill_model import direct_episode

SEEDS = range(300)


def proposer_prompt(
    files: dict[str, str],
    failures: list[tuple[dict[str, Any], str | None]],
    *,
    direction: str = "",
    memory: tuple[str, ...] = (),
    protected: tuple[str, ...] = (),
) -> list[dict[str, Any]]:
    harness = "\n\n".join(f"### {path}\n{text}" for path, text in sorted(files.items()))
    trajectories = "\n\n".join(
        f"### Case {row['key']}\nInput: {row['input']}\nFinal answer: {answer!r}\nScore: 0" for row, answer in failures
    )
    sections = [
        f"## Research direction\n{direction}" if direction else "",
        "## Campaign memory\n" + "\n".join(memory) if memory else "",
        "## Protected paths\n" + "\n".join(f"- {p}" for p in protected) if protected else "",
        f"## Current harness\n{harness}",
        f"## Failure trajectories\n{trajectories}",
        "## Output format\nReply with one JSON object: hypothesis, target_tags, edits, params.",
    ]
    user = "\n\n".join(section for section in sections if section)
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


def failures_in(*topics: str) -> list[tuple[dict[str, Any], str | None]]:
    """Three failing train cases of each topic."""
    found = []
    for topic in topics:
        rows = [row for row in demo_suite_rows() if row["split"] == "train" and row["tags"][0] == topic]
        found.extend((row, "wrong") for row in rows[:3])
    return found


def apply(files: dict[str, str], edits: list[dict[str, str]]) -> dict[str, str]:
    """The loop's edit semantics: an empty search appends (or creates); else it must occur exactly once."""
    changed = dict(files)
    for edit in edits:
        text = changed.get(edit["path"], "")
        if edit["search"] == "":
            changed[edit["path"]] = text + edit["replace"]
        else:
            if text.count(edit["search"]) != 1:
                raise ValueError(f"search text not found once in {edit['path']}")
            changed[edit["path"]] = text.replace(edit["search"], edit["replace"])
    return changed


def kind_of(files: dict[str, str], content: str) -> str:
    """Classify a reply by what it does to the harness, as a reviewer would."""
    try:
        body = json.loads(content)
    except json.JSONDecodeError:
        return "malformed"
    assert set(body) == {"hypothesis", "target_tags", "edits", "params"}
    assert body["hypothesis"] and any(ch.isdigit() for ch in body["hypothesis"])
    if not body["edits"]:
        return "parameter" if body["params"] else "empty"
    assert body["params"] == {}
    try:
        changed = apply(files, body["edits"])
    except ValueError:
        return "malformed"
    before, after = render_system(files), render_system(changed)
    if {h.name for h in detect_harmful(after)} - {h.name for h in detect_harmful(before)}:
        return "harmful"
    [topic] = body["target_tags"]
    assert topic in detect_insights(after) - detect_insights(before)
    if any(edit["path"] == "system.md" != INSIGHTS[topic].path for edit in body["edits"]):
        return "protected"
    return "helpful"


def proposals(messages: list[dict[str, Any]]) -> list[str]:
    return [propose(messages, random.Random(seed)).content for seed in SEEDS]


def helpful_topics(files: dict[str, str], messages: list[dict[str, Any]]) -> Counter[str]:
    return Counter(
        json.loads(content)["target_tags"][0] for content in proposals(messages) if kind_of(files, content) == "helpful"
    )


def test_it_proposes_guidance_that_the_skill_model_then_rewards() -> None:
    files = demo_harness_files()
    for _ in range(6):
        messages = proposer_prompt(files, failures_of(files))
        contents = [reply(messages, None, Sampling(), seed).content for seed in range(20)]
        helpful = [json.loads(c) for c in contents if kind_of(files, c) == "helpful"]
        if not helpful:
            break
        proposal = helpful[0]
        topic = proposal["target_tags"][0]
        assert topic not in detect_insights(render_system(files))
        files = apply(files, proposal["edits"])
        assert topic in detect_insights(render_system(files))
    assert detect_insights(render_system(files)) == set(INSIGHTS)


def test_every_kind_appears_in_roughly_its_share() -> None:
    files = demo_harness_files()
    # No word-problems failures: its guidance belongs in system.md, which would blur "protected".
    messages = proposer_prompt(files, failures_in("refunds", "units", "arithmetic", "shipping"))
    kinds = Counter(kind_of(files, content) for content in proposals(messages))
    share = {kind: count / len(SEEDS) for kind, count in kinds.items()}
    assert set(share) == {"helpful", "harmful", "protected", "malformed", "parameter"}
    assert 0.45 < share["helpful"] < 0.65
    for kind in ("harmful", "protected", "malformed", "parameter"):
        assert 0.05 < share[kind] < 0.2, (kind, share)


def test_proposals_are_deterministic_per_seed_and_differ_across_seeds() -> None:
    files = demo_harness_files()
    messages = proposer_prompt(files, failures_of(files))
    assert proposals(messages) == proposals(messages)
    assert len(set(proposals(messages)[:10])) > 3


def test_helpful_edits_append_to_listed_files_and_create_new_ones() -> None:
    files = demo_harness_files()
    for content in proposals(proposer_prompt(files, failures_in("refunds"))):
        if kind_of(files, content) == "helpful":
            [edit] = json.loads(content)["edits"]
            assert edit == {"path": "skills/refunds.md", "search": "", "replace": f"\n{INSIGHTS['refunds'].guidance}\n"}
    for content in proposals(proposer_prompt(files, failures_in("units"))):
        if kind_of(files, content) == "helpful":
            [edit] = json.loads(content)["edits"]
            assert edit == {"path": "skills/units.md", "search": "", "replace": f"{INSIGHTS['units'].guidance}\n"}


def test_the_research_direction_is_preferred() -> None:
    files = demo_harness_files()
    failures = failures_in("refunds", "units", "arithmetic", "shipping")
    plain = helpful_topics(files, proposer_prompt(files, failures))
    directed = helpful_topics(files, proposer_prompt(files, failures, direction="Focus on shipping delays."))
    assert plain["shipping"] / plain.total() < 0.35
    assert directed["shipping"] / directed.total() > 0.45
    told_off = helpful_topics(files, proposer_prompt(files, failures, direction="Leave refunds alone."))
    assert told_off["refunds"] == 0 and told_off.total() > 100


def test_do_not_touch_the_system_prompt_moves_helpful_guidance_to_a_skill() -> None:
    files = demo_harness_files()
    failures = failures_in("word-problems")
    guidance = INSIGHTS["word-problems"].guidance
    for direction, protected in (("Do not touch the system prompt.", ()), ("", ("system.md",))):
        messages = proposer_prompt(files, failures, direction=direction, protected=protected)
        paths = Counter(
            edit["path"]
            for content in proposals(messages)
            if kind_of(files, content) == "helpful"
            for edit in json.loads(content)["edits"]
            if guidance in edit["replace"]
        )
        # Mostly a skill file; the guard is still tested now and then with system.md all the same.
        assert set(paths) == {"skills/word-problems.md", "system.md"}
        assert paths["skills/word-problems.md"] > 3 * paths["system.md"]


def test_campaign_memory_rejections_are_not_proposed_again() -> None:
    files = demo_harness_files()
    memory = (
        "- round 2 · refunds · skills/refunds.md · Δ -0.02 [-0.08, +0.04] · auto_reject (interval below zero)",
        "- round 3 · units · skills/units.md · Δ +0.03 [-0.02, +0.09] · refused by a reviewer",
        "- reviewer comment on proposal #7 (rejected): too long",
        "- round 3 · arithmetic · skills/arithmetic.md · Δ +0.20 [+0.12, +0.28] · merged",
    )
    failures = failures_in("refunds", "units", "arithmetic")
    topics = helpful_topics(files, proposer_prompt(files, failures, memory=memory))
    assert set(topics) == {"arithmetic"}
    # Unless nothing else remains.
    only_refunds = helpful_topics(files, proposer_prompt(files, failures_in("refunds"), memory=memory))
    assert set(only_refunds) == {"refunds"}


def test_malformed_replies_are_truncated_json_or_a_search_that_does_not_match() -> None:
    files = demo_harness_files()
    malformed = [
        c for c in proposals(proposer_prompt(files, failures_in("refunds"))) if kind_of(files, c) == "malformed"
    ]
    truncated = [c for c in malformed if not c.rstrip().endswith("}")]
    misquoted = [json.loads(c) for c in malformed if c not in truncated]
    assert truncated and misquoted
    for body in misquoted:
        [edit] = body["edits"]
        assert edit["path"] == "skills/refunds.md" and edit["search"]
        assert edit["search"] not in files["skills/refunds.md"]


def test_parameter_changes_stay_in_the_backend_range_and_some_leave_the_safe_one() -> None:
    files = demo_harness_files()
    bodies = [
        json.loads(c) for c in proposals(proposer_prompt(files, failures_of(files))) if kind_of(files, c) == "parameter"
    ]
    changes = Counter(next(iter(body["params"].items())) for body in bodies)
    assert all(len(body["params"]) == 1 and body["target_tags"] == [] for body in bodies)
    assert {key for key, _ in changes} == {"temperature", "top_p", "agent.max_turns"}
    assert all(0 < value <= 1 for key, value in changes if key == "temperature")
    assert changes[("top_p", 0.4)] + changes[("agent.max_turns", 14)] > 0
    assert any("from 1.0 to" in body["hypothesis"] for body in bodies)


def test_harmful_proposals_add_advice_the_skill_model_punishes() -> None:
    files = demo_harness_files()
    bodies = [
        json.loads(c) for c in proposals(proposer_prompt(files, failures_of(files))) if kind_of(files, c) == "harmful"
    ]
    added = {h.name for body in bodies for h in detect_harmful(render_system(apply(files, body["edits"])))}
    assert len(added) > 2
    for body in bodies:
        assert set(body["target_tags"]) <= set(INSIGHTS)
        assert "should lift" in body["hypothesis"]


def test_it_proposes_nothing_when_the_harness_already_has_everything() -> None:
    files = with_guidance(demo_harness_files())
    failures = [(row, "wrong") for row in demo_suite_rows()[:5]]
    kinds = Counter(kind_of(files, content) for content in proposals(proposer_prompt(files, failures)))
    assert set(kinds) == {"empty", "parameter"}
    assert kinds["empty"] > kinds["parameter"]
    empty = json.loads(propose(proposer_prompt(files, []), random.Random(0)).content)
    assert empty["edits"] == [] and empty["params"] == {} and "no harness change" in empty["hypothesis"]


def test_it_removes_harmful_advice_that_failing_cases_followed() -> None:
    harmful = HARMFUL_INSIGHTS["thirty-day-rule"]
    files = with_guidance(demo_harness_files())
    files[harmful.path] += f"\n{harmful.guidance}\n"
    messages = proposer_prompt(files, failures_in("refunds"))
    body = json.loads(propose(messages, random.Random(0)).content)
    assert body["edits"] == [{"path": harmful.path, "search": harmful.guidance, "replace": ""}]
    assert detect_harmful(render_system(apply(files, body["edits"]))) == []


@pytest.mark.asyncio
async def test_it_answers_proposer_prompts_over_http(sim: RunningSimulator) -> None:
    files = demo_harness_files()
    messages = proposer_prompt(files, failures_of(files))
    async with BackendClient(sim.backend_config()) as client:
        seeded = [(await client.chat(ChatRequest(messages=messages, params={"seed": s}))) for s in range(8)]
        again = await client.chat(ChatRequest(messages=messages, params={"seed": 0}))
        unseeded = [(await client.chat(ChatRequest(messages=messages))).content for _ in range(8)]
    assert seeded[0].reasoning and "failure trajectories" in seeded[0].reasoning
    assert again.content == seeded[0].content
    # Several candidates of one round differ, whether told apart by seed or by sample.
    assert len({result.content for result in seeded}) > 2
    assert len(set(unseeded)) > 2
    assert {kind_of(files, result.content) for result in seeded} & {"helpful", "harmful", "protected"}
