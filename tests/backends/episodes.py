"""A tiny agent loop and grader for tests of the skill model (the engine has the real ones)."""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from evolab.backends.simulator.solver import evaluate, format_number

TOOLS = [
    {
        "type": "function",
        "function": {
            "name": "calculator",
            "description": "Evaluate an arithmetic expression exactly.",
            "parameters": {
                "type": "object",
                "properties": {"expression": {"type": "string"}},
                "required": ["expression"],
            },
        },
    },
    {
        "type": "function",
        "function": {
            "name": "submit_answer",
            "description": "Submit your final answer. This ends the task.",
            "parameters": {"type": "object", "properties": {"answer": {"type": "string"}}, "required": ["answer"]},
        },
    },
]


def render_system(files: dict[str, str]) -> str:
    """system.md, workflow.md, then skills/*.md — the engine's default order."""
    skills = sorted(path for path in files if path.startswith("skills/"))
    return "\n\n".join(files[path].strip() for path in ["system.md", "workflow.md", *skills] if path in files)


def calculator(expression: str) -> str:
    try:
        return format_number(evaluate(expression))
    except (ValueError, ZeroDivisionError) as exc:
        return f"error: {exc}"


@dataclass
class Episode:
    answer: str | None = None
    messages: list[dict[str, Any]] = field(default_factory=list)
    tool_calls: list[tuple[str, str]] = field(default_factory=list)
    stopped_by_loop_guard: bool = False


def run_episode(
    send: Callable[[list[dict[str, Any]]], tuple[dict[str, Any], str, list[dict[str, Any]]]],
    system: str,
    task: str,
    *,
    max_turns: int = 6,
    loop_threshold: int = 3,
) -> Episode:
    """`send(messages)` returns (assistant message, visible content, parsed tool calls)."""
    episode = Episode(messages=[{"role": "system", "content": system}, {"role": "user", "content": task}])
    for _ in range(max_turns):
        message, content, calls = send(episode.messages)
        episode.messages.append(message)
        if not calls:
            episode.answer = content
            return episode
        for call in calls:
            arguments = call["arguments"]
            signature = (call["name"], json.dumps(arguments, sort_keys=True))
            episode.tool_calls.append(signature)
            if episode.tool_calls.count(signature) >= loop_threshold:
                episode.stopped_by_loop_guard = True
                return episode
            if call["name"] == "submit_answer":
                episode.answer = str(arguments.get("answer", ""))
                return episode
            result = calculator(str(arguments.get("expression", "")))
            episode.messages.append({"role": "tool", "tool_call_id": call["id"], "content": result})
    return episode


def passes(row: dict[str, Any], answer: str | None) -> bool:
    if answer is None:
        return False
    grader = row["grader"]
    kind = grader["type"]
    if kind == "numeric":
        try:
            return abs(float(answer.strip()) - float(row["target"])) <= grader["tolerance"] + 1e-9
        except ValueError:
            return False
    if kind == "exact":
        return answer.strip().lower() == row["target"].strip().lower()
    if kind == "regex":
        return re.search(grader["pattern"], answer) is not None
    if kind == "json":
        try:
            data = json.loads(answer)
        except json.JSONDecodeError:
            return False
        return isinstance(data, dict) and all(data.get(key) == value for key, value in grader["fields"].items())
    raise AssertionError(f"unexpected grader {kind}")
