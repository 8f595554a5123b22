"""Simulated answers to proposer prompts ("here are failures, propose a harness change").

Contract (what a caller must send for the simulator to answer as a proposer):

* Some message (system or user) contains a line that is exactly `## Failure trajectories`.
  That marker switches the simulator from task-solving to proposing.
* The text (all system and user messages joined) is split at lines that are exactly one
  of `## Current harness`, `## Failure trajectories`, `## Output format`; other `##`
  headings stay inside their section, so harness files may use their own headings.
* `## Current harness` (optional) holds the harness files as text, each introduced by a
  line `### <path>`. Guidance already present there is not proposed again, and the edit
  appends to a file listed there rather than creating it.
* `## Failure trajectories` holds one trajectory per `### …` heading (e.g. `### Case
  refund-017`), each quoting the task input somewhere in its text, followed by whatever
  transcript the caller includes.

The reply content (after the `<think>` block in the M2.7 profile) is one JSON object:

    {"hypothesis": str, "target_tags": [topic, …],
     "edits": [{"op": "append" | "create", "path": str, "text": str}]}

The proposer recognises the task of each trajectory, counts failures per topic whose
insight the current harness lacks, and proposes that insight's guidance for one topic,
chosen at random with weight count² (so usually the most frequent; repeated samples can
differ when counts are close). With nothing to propose, `edits` is empty and the
hypothesis says why.
"""

from __future__ import annotations

import json
import random
import re
from collections import Counter
from typing import TYPE_CHECKING, Any

from evolab.backends.simulator.insights import INSIGHTS, detect_insights
from evolab.backends.simulator.solver import find_task

if TYPE_CHECKING:
    from evolab.backends.simulator.skill_model import ModelReply

MARKER = "## Failure trajectories"
HARNESS_HEADER = "## Current harness"
OUTPUT_HEADER = "## Output format"
_SECTION_HEADERS = (HARNESS_HEADER, MARKER, OUTPUT_HEADER)

_SYMPTOMS = {
    "tool": "answers computed without the calculator, with one or two wrong digits",
    "skill": "answers that follow a rule of thumb instead of the exact policy or factors",
    "format": "right content in the wrong shape, so the grader cannot read it",
    "workflow": "answers given before the required check was made",
}


def is_proposer_prompt(messages: list[dict[str, Any]]) -> bool:
    return any(line.strip() == MARKER for line in _prompt_text(messages).splitlines())


def propose(messages: list[dict[str, Any]], rng: random.Random) -> ModelReply:
    from evolab.backends.simulator.skill_model import ModelReply

    sections = _sections(_prompt_text(messages))
    harness = sections.get(HARNESS_HEADER, "")
    present = detect_insights(harness)
    trajectories = _trajectories(sections.get(MARKER, ""))
    topics: Counter[str] = Counter()
    unrecognised = 0
    for trajectory in trajectories:
        task = find_task(trajectory)
        if task is None:
            unrecognised += 1
        elif task.topic not in present:
            topics[task.topic] += 1
    reasoning = (
        f"I have {len(trajectories)} failure trajectories; recognised topics without guidance: "
        f"{dict(topics) or 'none'}; {unrecognised} I could not place."
    )
    if not topics:
        body: dict[str, Any] = {
            "hypothesis": "The failures show no pattern that missing guidance would explain; "
            "no harness change proposed.",
            "target_tags": [],
            "edits": [],
        }
        return ModelReply(reasoning, json.dumps(body, ensure_ascii=False))
    choices = sorted(topics)
    topic = rng.choices(choices, weights=[topics[t] ** 2 for t in choices])[0]
    insight = INSIGHTS[topic]
    listed = re.search(rf"^###\s+{re.escape(insight.path)}\s*$", harness, re.MULTILINE) is not None
    body = {
        "hypothesis": (
            f"{topics[topic]} of {len(trajectories)} failures are {topic} cases showing "
            f"{_SYMPTOMS[insight.kind]}; the harness has no {insight.kind} guidance for them. "
            f"Adding it to {insight.path} should turn most of these into passes without affecting other topics."
        ),
        "target_tags": [topic],
        "edits": [{"op": "append" if listed else "create", "path": insight.path, "text": insight.guidance + "\n"}],
    }
    reasoning += f" Proposing {insight.kind} guidance for {topic}."
    return ModelReply(reasoning, json.dumps(body, ensure_ascii=False))


def _prompt_text(messages: list[dict[str, Any]]) -> str:
    parts = []
    for message in messages:
        if message.get("role") in {"system", "developer", "user"}:
            content = message.get("content")
            if isinstance(content, list):
                content = "".join(str(p.get("text", "")) for p in content if isinstance(p, dict))
            parts.append(str(content or ""))
    return "\n\n".join(parts)


def _sections(text: str) -> dict[str, str]:
    sections: dict[str, list[str]] = {}
    current: list[str] | None = None
    for line in text.splitlines():
        if line.strip() in _SECTION_HEADERS:
            current = sections.setdefault(line.strip(), [])
        elif current is not None:
            current.append(line)
    return {header: "\n".join(lines) for header, lines in sections.items()}


def _trajectories(section: str) -> list[str]:
    chunks = re.split(r"^###\s.*$", section, flags=re.MULTILINE)
    if len(chunks) == 1:  # no headings: treat the whole section as one trajectory
        return [section] if section.strip() else []
    return [chunk for chunk in chunks[1:] if chunk.strip()]
