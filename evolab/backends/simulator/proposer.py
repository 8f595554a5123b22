"""Simulated answers to proposer prompts ("here are failures, propose a harness change").

Contract (what a caller must send for the simulator to answer as a proposer):

* Some message (system or user) contains a line that is exactly `## Failure trajectories`.
  That marker switches the simulator from task-solving to proposing.
* The text (all system and user messages joined) is split at lines that are exactly one
  of the headers below; other `##` headings stay inside their section, so harness files
  may use their own headings. Every section is optional except the marker.
  - `## Research direction`: free text from people. Topics it names are preferred (weight
    times 4); topics named in a sentence that says not to (not, never, avoid, ignore, skip) are
    avoided, and "do not touch the system prompt" keeps helpful edits out of system.md.
  - `## Campaign memory`: one line per earlier attempt or review. A topic whose name
    appears on a line that also says `reject` (rejected, auto_reject) or `refused` is
    not proposed again, unless no other topic remains.
  - `## Protected paths`: one glob per line (`- system.md`). Helpful edits avoid them.
  - `## Current harness`: the harness files, each introduced by a line `### <path>`.
    Guidance already present there is not proposed again.
  - `## Failure trajectories`: one trajectory per `### …` heading (e.g. `### Case
    refund-017`), each quoting the task input somewhere in its text.
  - `## Output format`: instructions; the simulator does not read them.

The reply content (after the `<think>` block in the M2.7 profile) is one JSON object:

    {"hypothesis": str, "target_tags": [topic, …],
     "edits": [{"path": str, "search": str, "replace": str}],
     "params": {name: value}}

An edit with `search == ""` appends `replace` to the file (creating it if absent);
otherwise `search` must occur exactly once in the file. A `params` key is a bare sampling
name (`temperature`, `top_p`) or a dotted one (`agent.max_turns`).

The proposer recognises the task of each trajectory and counts failures per topic whose
insight the harness lacks. It picks one such topic (weight count², times the research
direction's preference) and then, at random, the kind of proposal (`KIND_WEIGHTS`), so
that one round's candidates differ and every stage of an evolution loop is exercised:

* helpful — the topic's guidance appended to its file; or, when the harness carries
  harmful advice (`HARMFUL_INSIGHTS`) that failing cases follow, an edit removing it;
* harmful — plausible advice that the skill model follows to worse answers, preferring
  advice that undoes what the harness already does well;
* protected — the topic's guidance appended to `system.md`, even when it is protected
  (a test of the loop's guard);
* malformed — a truncated JSON object, or an edit whose `search` is not in the file;
* parameter — a `params`-only change, some inside the M2.7 safe ranges, some outside.

With no failing topic lacking guidance (and no harmful advice to remove) the reply has no
edits: usually empty params too, with a hypothesis saying so, sometimes a parameter change.
"""

from __future__ import annotations

import fnmatch
import json
import random
import re
from collections import Counter
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from evolab.backends.simulator.insights import (
    HARMFUL_INSIGHTS,
    INSIGHTS,
    HarmfulInsight,
    detect_harmful,
    detect_insights,
)
from evolab.backends.simulator.solver import find_task

if TYPE_CHECKING:
    from evolab.backends.simulator.skill_model import ModelReply

MARKER = "## Failure trajectories"
DIRECTION_HEADER = "## Research direction"
MEMORY_HEADER = "## Campaign memory"
PROTECTED_HEADER = "## Protected paths"
HARNESS_HEADER = "## Current harness"
OUTPUT_HEADER = "## Output format"
_SECTION_HEADERS = (DIRECTION_HEADER, MEMORY_HEADER, PROTECTED_HEADER, HARNESS_HEADER, MARKER, OUTPUT_HEADER)
SYSTEM_PATH = "system.md"

KIND_WEIGHTS = {"helpful": 55, "harmful": 15, "protected": 10, "malformed": 10, "parameter": 10}
# With nothing to propose, the share of replies that still suggest a parameter change.
IDLE_PARAMETER_SHARE = 0.3

_SYMPTOMS = {
    "tool": "answers computed without the calculator, with one or two wrong digits",
    "skill": "answers that follow a rule of thumb instead of the exact policy or factors",
    "format": "right content in the wrong shape, so the grader cannot read it",
    "workflow": "answers given before the required check was made",
}
# How people name the topics in a research direction.
_TOPIC_WORDS = {
    "arithmetic": r"arithmetic|calculations?|multiplications?",
    "refunds": r"refunds?",
    "units": r"units?|conversions?",
    "word-problems": r"word[- ]problems?",
    "shipping": r"shipping|deliver(?:y|ies)",
    "extraction": r"extract\w*",
}
_NEGATION = re.compile(r"\b(not|never|avoid|ignore|skip|leave)\b|n't\b", re.IGNORECASE)
_REJECTION = re.compile(r"reject|refused", re.IGNORECASE)
_SYSTEM_PROMPT = re.compile(r"\bsystem(\.md| prompt)\b", re.IGNORECASE)


@dataclass(frozen=True)
class ParameterChange:
    key: str  # as in `params`: a sampling name or `agent.<name>`
    value: float | int
    reason: str


# Safe for M2.7: temperature in (0, 1]; the last two are outside the usual safe ranges.
PARAMETER_CHANGES = (
    ParameterChange("temperature", 0.7, "a cooler temperature should make the answers steadier"),
    ParameterChange("temperature", 0.9, "a slightly cooler temperature should cut the careless slips"),
    ParameterChange("top_p", 0.9, "a narrower top_p should drop the unlikely tokens that derail long answers"),
    ParameterChange("agent.max_turns", 8, "more turns leave the agent room to check its work and submit"),
    ParameterChange("top_p", 0.4, "a much narrower top_p should make the answers close to deterministic"),
    ParameterChange("agent.max_turns", 14, "many more turns let the agent retry the calculator until it succeeds"),
)


@dataclass(frozen=True)
class ProposerPrompt:
    """What the simulated proposer reads from a prompt."""

    files: dict[str, str]
    direction: str
    memory: list[str]
    protected: list[str]
    trajectory_count: int
    unrecognised: int
    failing: Counter[str]  # failures per recognised topic
    missing: Counter[str]  # failures per topic whose insight the harness lacks
    guided: set[str]  # topics whose insight the harness has
    harmful: list[HarmfulInsight]  # harmful advice present in the harness

    def is_protected(self, path: str) -> bool:
        if path == SYSTEM_PATH and any(_NEGATION.search(s) and _SYSTEM_PROMPT.search(s) for s in _sentences(self)):
            return True
        return any(fnmatch.fnmatch(path, pattern) for pattern in self.protected)


def is_proposer_prompt(messages: list[dict[str, Any]]) -> bool:
    return any(line.strip() == MARKER for line in _prompt_text(messages).splitlines())


def read_prompt(messages: list[dict[str, Any]]) -> ProposerPrompt:
    sections = _sections(_prompt_text(messages))
    harness = sections.get(HARNESS_HEADER, "")
    guided = detect_insights(harness)
    trajectories = _trajectories(sections.get(MARKER, ""))
    failing: Counter[str] = Counter()
    unrecognised = 0
    for trajectory in trajectories:
        task = find_task(trajectory)
        if task is None:
            unrecognised += 1
        else:
            failing[task.topic] += 1
    return ProposerPrompt(
        files=_files(harness),
        direction=sections.get(DIRECTION_HEADER, "").strip(),
        memory=_list_items(sections.get(MEMORY_HEADER, "")),
        protected=[item.strip("`") for item in _list_items(sections.get(PROTECTED_HEADER, ""))],
        trajectory_count=len(trajectories),
        unrecognised=unrecognised,
        failing=failing,
        missing=Counter({topic: count for topic, count in failing.items() if topic not in guided}),
        guided=guided,
        harmful=detect_harmful(harness),
    )


def propose(messages: list[dict[str, Any]], rng: random.Random) -> ModelReply:
    from evolab.backends.simulator.skill_model import ModelReply

    prompt = read_prompt(messages)
    reasoning = (
        f"I have {prompt.trajectory_count} failure trajectories; recognised topics without guidance: "
        f"{dict(prompt.missing) or 'none'}; {prompt.unrecognised} I could not place."
    )
    repair = _repair(prompt)
    if not prompt.missing:
        if repair is not None:
            return ModelReply(reasoning + " Part of the harness works against the model.", _dump(repair))
        return ModelReply(reasoning + " Nothing is missing.", _idle(prompt, rng))
    kind = rng.choices(list(KIND_WEIGHTS), weights=list(KIND_WEIGHTS.values()))[0]
    topic = _choose_topic(prompt, rng)
    if kind == "helpful":
        content = _dump(repair) if repair is not None else _helpful(prompt, topic)
    elif kind == "harmful":
        content = _harmful(prompt, topic, rng)
    elif kind == "protected":
        content = _protected(prompt, topic)
    elif kind == "malformed":
        content = _malformed(prompt, topic, rng)
    else:
        situation = (
            f"The {prompt.trajectory_count} failures spread over {len(prompt.failing)} topics, and several "
            "look like slips rather than missing knowledge"
        )
        content = _dump(_parameter(prompt, rng, situation))
    return ModelReply(reasoning + f" The {topic} failures look like the most promising place to act.", content)


def _choose_topic(prompt: ProposerPrompt, rng: random.Random) -> str:
    preferred, discouraged = _direction_topics(prompt)
    rejected = {
        topic
        for topic in prompt.missing
        for line in prompt.memory
        if _REJECTION.search(line) and _names(line, re.escape(topic))
    }
    candidates = sorted(set(prompt.missing) - rejected - discouraged) or sorted(prompt.missing)
    weights = [prompt.missing[topic] ** 2 * (4 if topic in preferred else 1) for topic in candidates]
    return rng.choices(candidates, weights=weights)[0]


def _direction_topics(prompt: ProposerPrompt) -> tuple[set[str], set[str]]:
    """Topics the research direction asks for, and those it says to leave alone."""
    preferred: set[str] = set()
    discouraged: set[str] = set()
    for sentence in _sentences(prompt):
        named = {topic for topic, words in _TOPIC_WORDS.items() if _names(sentence, words)}
        (discouraged if _NEGATION.search(sentence) else preferred).update(named)
    return preferred - discouraged, discouraged


def _helpful(prompt: ProposerPrompt, topic: str) -> str:
    insight = INSIGHTS[topic]
    path = _placement(prompt, insight.path, topic)
    body = _body(
        f"{_failure_summary(prompt, topic)} showing {_SYMPTOMS[insight.kind]}; the harness has no "
        f"{insight.kind} guidance for them. Adding it to {path} should turn most of these into passes "
        "without affecting other topics.",
        [topic],
        [_append(prompt, path, insight.guidance)],
    )
    return _dump(body)


def _harmful(prompt: ProposerPrompt, topic: str, rng: random.Random) -> str:
    present = {harmful.name for harmful in prompt.harmful}
    options = [harmful for name, harmful in sorted(HARMFUL_INSIGHTS.items()) if name not in present]
    if not options:
        return _helpful(prompt, topic)
    # Plausible (it speaks to the failing topic) and damaging (it undoes what already works).
    weights = [1 + 3 * len(prompt.guided & set(h.harms)) + 2 * (topic in h.harms) for h in options]
    harmful = rng.choices(options, weights=weights)[0]
    topics = sorted(harmful.harms)
    failures = sum(prompt.failing[t] for t in topics)
    path = _placement(prompt, harmful.path, topics[0])
    body = _body(
        f"{failures} of {prompt.trajectory_count} failures are {' and '.join(topics)} cases, and {harmful.pitch}. "
        f"Adding this rule to {path} should lift those topics by roughly {5 + 5 * len(topics)} points.",
        topics,
        [_append(prompt, path, harmful.guidance)],
    )
    return _dump(body)


def _protected(prompt: ProposerPrompt, topic: str) -> str:
    insight = INSIGHTS[topic]
    body = _body(
        f"{_failure_summary(prompt, topic)} showing {_SYMPTOMS[insight.kind]}. Guidance in a separate file is "
        f"easy to overlook; stating it in the system prompt ({SYSTEM_PATH}), which every episode reads first, "
        "should fix most of them.",
        [topic],
        [_append(prompt, SYSTEM_PATH, insight.guidance)],
    )
    return _dump(body)


def _malformed(prompt: ProposerPrompt, topic: str, rng: random.Random) -> str:
    if rng.random() < 0.5:
        complete = _helpful(prompt, topic)
        return complete[: len(complete) * 2 // 3]  # cut off mid-object, as a reply hitting max_tokens is
    insight = INSIGHTS[topic]
    path = _placement(prompt, insight.path, topic)
    search = _misquote(prompt.files.get(path, ""), topic, rng)
    body = _body(
        f"{_failure_summary(prompt, topic)} showing {_SYMPTOMS[insight.kind]}. Extending the existing guidance "
        f"in {path} should turn most of these into passes.",
        [topic],
        [{"path": path, "search": search, "replace": f"{search}\n{insight.guidance}"}],
    )
    return _dump(body)


def _misquote(text: str, topic: str, rng: random.Random) -> str:
    """A line of `text` quoted from faulty memory (one word dropped): a search that does not match."""
    lines = [line.strip() for line in text.splitlines() if len(line.split()) >= 4]
    if lines:
        words = rng.choice(lines).split()
        del words[rng.randrange(1, len(words))]
        quote = " ".join(words)
        if quote not in text:
            return quote
    return f"## {topic.capitalize()} guidance (earlier version)"


def _parameter(prompt: ProposerPrompt, rng: random.Random, situation: str) -> dict[str, Any]:
    current = _current_params(prompt.files.get("harness.yaml", ""))
    options = [change for change in PARAMETER_CHANGES if current.get(change.key) != change.value]
    change = rng.choice(options)
    was = f" from {current[change.key]}" if change.key in current else ""
    return {
        "hypothesis": f"{situation}. Changing {change.key}{was} to {change.value}: {change.reason}.",
        "target_tags": [],
        "edits": [],
        "params": {change.key: change.value},
    }


def _idle(prompt: ProposerPrompt, rng: random.Random) -> str:
    situation = (
        f"The harness already has guidance for every topic among the {prompt.trajectory_count} failures; "
        "what remains looks like sampling noise"
    )
    if prompt.trajectory_count and rng.random() < IDLE_PARAMETER_SHARE:
        return _dump(_parameter(prompt, rng, situation))
    return _dump(
        _body(
            f"{situation}, not missing guidance, so no harness change is proposed."
            if prompt.trajectory_count
            else "There are no failures to learn from; no harness change is proposed.",
            [],
            [],
        )
    )


def _repair(prompt: ProposerPrompt) -> dict[str, Any] | None:
    """Remove harmful advice that failing cases followed, when its text is found verbatim."""
    for harmful in prompt.harmful:
        failures = sum(prompt.failing[topic] for topic in harmful.harms)
        for path, text in sorted(prompt.files.items()):
            if failures and text.count(harmful.guidance) == 1:
                return _body(
                    f"{failures} of {prompt.trajectory_count} failures are {' and '.join(sorted(harmful.harms))} "
                    f'cases whose reasoning cites the rule in {path} ("{harmful.guidance.splitlines()[-1][:60]}…"). '
                    "The rule leads to wrong answers; removing it should recover most of these cases.",
                    sorted(harmful.harms),
                    [{"path": path, "search": harmful.guidance, "replace": ""}],
                )
    return None


def _failure_summary(prompt: ProposerPrompt, topic: str) -> str:
    return f"{prompt.missing[topic]} of {prompt.trajectory_count} failures are {topic} cases"


def _placement(prompt: ProposerPrompt, path: str, topic: str) -> str:
    """Where a careful proposer puts guidance: its usual file, or a skill file when that is protected."""
    return f"skills/{topic}.md" if prompt.is_protected(path) else path


def _append(prompt: ProposerPrompt, path: str, text: str) -> dict[str, str]:
    # A blank line separates the new text from what the file already holds.
    return {"path": path, "search": "", "replace": ("\n" if path in prompt.files else "") + text + "\n"}


def _body(hypothesis: str, target_tags: list[str], edits: list[dict[str, str]]) -> dict[str, Any]:
    return {"hypothesis": hypothesis, "target_tags": target_tags, "edits": edits, "params": {}}


def _dump(body: dict[str, Any]) -> str:
    return json.dumps(body, ensure_ascii=False)


def _current_params(harness_yaml: str) -> dict[str, float | int]:
    """temperature, top_p and agent.max_turns as written in harness.yaml (a regex, not a YAML parser)."""
    found: dict[str, float | int] = {}
    for key, name in (("temperature", "temperature"), ("top_p", "top_p"), ("agent.max_turns", "max_turns")):
        match = re.search(rf"^\s*{name}:\s*([0-9]+(?:\.[0-9]+)?)\s*(?:#.*)?$", harness_yaml, re.MULTILINE)
        if match:
            found[key] = float(match[1]) if "." in match[1] else int(match[1])
    return found


def _names(text: str, words: str) -> bool:
    return re.search(rf"(?<![\w-])(?:{words})(?![\w-])", text, re.IGNORECASE) is not None


def _sentences(prompt: ProposerPrompt) -> list[str]:
    return [s for s in re.split(r"[.;!?\n]+", prompt.direction) if s.strip()]


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


def _files(section: str) -> dict[str, str]:
    """The harness files of the `## Current harness` section, by their `### <path>` lines."""
    # A path has an extension, so a file's own `### Examples` heading stays inside the file.
    parts = re.split(r"^###\s+(\S+\.[A-Za-z0-9]+)\s*$", section, flags=re.MULTILINE)
    return {path: text.strip("\n") + "\n" for path, text in zip(parts[1::2], parts[2::2], strict=True)}


def _list_items(section: str) -> list[str]:
    return [re.sub(r"^[-*]\s+", "", line.strip()) for line in section.splitlines() if line.strip()]


def _trajectories(section: str) -> list[str]:
    chunks = re.split(r"^###\s.*$", section, flags=re.MULTILINE)
    if len(chunks) == 1:  # no headings: treat the whole section as one trajectory
        return [section] if section.strip() else []
    return [chunk for chunk in chunks[1:] if chunk.strip()]
