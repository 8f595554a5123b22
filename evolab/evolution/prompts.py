"""The reflect proposer's prompt: harness files, failing trajectories from the feedback
split (trimmed to a token budget), the people's research direction, protected paths and
the campaign memory, then the answer format the loop parses (`engine.edits`).

Plain data in, chat messages out; what may go in (feedback split only, never the
held-out guard) is decided by the caller that gathers the trajectories.
"""

from __future__ import annotations

import json
import random
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

CHARS_PER_TOKEN = 4  # a rough, conservative estimate for English prose and code
TRAJECTORY_TOKEN_BUDGET = 6000
MAX_TRAJECTORY_CHARS = 2400

SYSTEM = (
    "You improve the harness of an LLM agent: its system prompt, skills, workflow rules and "
    "sampling parameters. You read trajectories of tasks the agent failed, find the cause, and "
    "propose one focused change that should turn failures into passes without hurting other tasks. "
    "Never propose a change that was already tried or that people refused (see the campaign memory), "
    "and never touch a protected path."
)

OUTPUT_FORMAT = """Reply with one JSON object and nothing else:
{"hypothesis": "what fails, why, and why this change fixes it",
 "edits": [{"path": "skills/example.md", "search": "exact text that occurs once in the file, or empty to append", "replace": "the new text"}],
 "params": {"temperature": 0.7},
 "target_tags": ["the case tags this should improve"]}
`edits` and `params` may each be empty, not both. Parameter names: temperature, top_p, top_k, max_tokens (sampling) or agent.max_turns."""  # noqa: E501


@dataclass(frozen=True)
class ReviewToAnswer:
    """An earlier proposal that people asked to change, and what they said."""

    number: int
    hypothesis: str
    diff: str
    comments: Sequence[str]


@dataclass(frozen=True)
class Trajectory:
    case_key: str
    input_text: str
    target: str
    output: str
    score: float | None
    grade: str
    transcript: str


def input_text(value: Any) -> str:
    """A case input as text: a string as is, chat messages one per line."""
    if isinstance(value, str):
        return value
    if isinstance(value, list):
        return "\n".join(f"{m.get('role', 'user')}: {m.get('content', '')}" for m in value if isinstance(m, dict))
    return json.dumps(value, ensure_ascii=False)


def transcript_text(transcript: Sequence[Mapping[str, Any]]) -> str:
    """The episode after the harness: what the agent said and which tools it called."""
    lines = []
    for message in transcript:
        role = message.get("role")
        if role == "system":
            continue  # the harness itself is shown once, under "Current harness"
        content = message.get("content") or ""
        if isinstance(content, list):
            content = "".join(str(part.get("text", "")) for part in content if isinstance(part, dict))
        calls = message.get("tool_calls") or []
        called = "; ".join(
            f"{call.get('function', {}).get('name')}({call.get('function', {}).get('arguments', '')})"
            for call in calls
            if isinstance(call, dict)
        )
        lines.append(f"[{role}] {content}" + (f" → calls {called}" if called else ""))
    return "\n".join(lines)


def _trim(text: str, limit: int) -> str:
    if len(text) <= limit:
        return text
    half = (limit - 40) // 2
    return f"{text[:half]}\n… [{len(text) - 2 * half} characters omitted] …\n{text[-half:]}"


def _render(trajectory: Trajectory) -> str:
    body = (
        f"### Case {trajectory.case_key}\n"
        f"Input:\n{trajectory.input_text}\n"
        f"Expected: {trajectory.target}\n"
        f"Agent's answer: {trajectory.output}\n"
        f"Score: {trajectory.score if trajectory.score is not None else 'error'} — {trajectory.grade}\n"
        f"Transcript:\n{trajectory.transcript}"
    )
    return _trim(body, MAX_TRAJECTORY_CHARS)


def select_trajectories(
    trajectories: Sequence[Trajectory], *, seed: int, token_budget: int = TRAJECTORY_TOKEN_BUDGET
) -> tuple[list[str], int]:
    """Rendered trajectories that fit the budget, in a seeded order (so each round sees a
    different but reproducible sample), and how many were left out."""
    order = sorted(trajectories, key=lambda t: t.case_key)
    random.Random(seed).shuffle(order)
    chosen: list[str] = []
    used = 0
    for trajectory in order:
        text = _render(trajectory)
        cost = len(text) // CHARS_PER_TOKEN + 1
        if used + cost > token_budget and chosen:
            continue
        chosen.append(text)
        used += cost
    return chosen, len(order) - len(chosen)


def reflect_messages(
    *,
    files: Mapping[str, str],
    trajectories: Sequence[str],
    omitted: int,
    guidance: str,
    memory: Sequence[str],
    protected: Sequence[str],
    round_number: int,
    review: ReviewToAnswer | None = None,
) -> list[dict[str, str]]:
    harness = "\n\n".join(f"### {path}\n{files[path]}" for path in sorted(files))
    failures = "\n\n".join(trajectories) if trajectories else "(no failure in the feedback split)"
    if omitted:
        failures += f"\n\n({omitted} more failing trajectories were left out to fit the prompt.)"
    sections = [f"Round {round_number} of a harness-evolution campaign."]
    if review is not None:
        # Early in the prompt, before the sections a proposer parses by heading.
        comments = "\n".join(f"- {' '.join(text.split())}" for text in review.comments) or "- (no comment text)"
        sections.append(
            "## Review comments\n"
            f"People reviewed your proposal #{review.number} and asked for changes. Revise it: answer "
            "every comment, keep what they did not object to, and propose the revised change against "
            "the current harness below (not on top of your earlier edit).\n"
            f"Your hypothesis was: {review.hypothesis}\n"
            f"Your change was:\n{_trim(review.diff, MAX_TRAJECTORY_CHARS)}\n"
            f"The comments:\n{comments}"
        )
    sections += [
        "## Research direction\n" + (guidance.strip() or "(none given)"),
        "## Campaign memory\n" + ("\n".join(f"- {line}" for line in memory) or "(nothing tried yet)"),
        "## Protected paths\n" + ("\n".join(f"- {path}" for path in protected) or "(none)"),
        "## Current harness\n" + harness,
        "## Failure trajectories\n" + failures,
        "## Output format\n" + OUTPUT_FORMAT,
    ]
    return [{"role": "system", "content": SYSTEM}, {"role": "user", "content": "\n\n".join(sections)}]
