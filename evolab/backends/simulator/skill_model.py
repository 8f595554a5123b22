"""The hidden skill model: how the simulated model behaves, as a pure function.

Every demo task needs one *insight* (a tool to use, a policy to know, a format rule, a
workflow step). The model applies the insight when the harness — the system messages it
receives — carries guidance for it (detected by phrases in `Insight.patterns`); without
it the model only sometimes stumbles on it (`spontaneous_p`) and otherwise answers the
naive way, which leaves a realistic failure: a wrong mental product, the 30-day rule
applied to an opened laptop, a missing `FINAL:` line, a loop of identical calculator
calls, an "ON TIME" without checking dates. Even a well-guided model slips now and then,
more so at temperatures above 1. Harmful advice in the harness (`HARMFUL_INSIGHTS`) is
followed on the topics it affects, with its own probability and whatever other guidance
is present, and yields the naive answer. All randomness comes from `episode_seed`, so an
episode is reproducible and successive turns of one episode follow the same plan; the
harmful-advice draws use their own seeds, so a harness without harmful advice behaves
exactly as if they did not exist.

Answers are computed from the task text (see `solver`); no target is ever read.
"""

from __future__ import annotations

import json
import random
from dataclasses import dataclass, field
from typing import Any

from evolab.backends.simulator import proposer
from evolab.backends.simulator.insights import INSIGHTS, HarmfulInsight, detect_harmful, detect_insights
from evolab.backends.simulator.solver import TIMES, Task, format_number, parse_task


@dataclass(frozen=True)
class Sampling:
    """The sampling parameters the profile honours (None: the profile ignores it)."""

    temperature: float = 1.0
    top_p: float = 1.0
    top_k: int | None = None

    def slip_probability(self) -> float:
        # M2.7 is tuned for temperature 1.0; hotter sampling derails reasoning quickly.
        return min(0.9, 0.07 + 0.6 * max(0.0, self.temperature - 1.0))


@dataclass(frozen=True)
class ToolSpec:
    name: str
    argument: str


@dataclass(frozen=True)
class OfferedTools:
    calculator: ToolSpec | None = None
    submit: ToolSpec | None = None


def find_tools(tools: list[dict[str, Any]] | None) -> OfferedTools:
    """Recognise a calculator and a submit tool among the offered ones, whatever their schema."""
    calculator = submit = None
    for tool in tools or []:
        function = tool.get("function") or {}
        name = str(function.get("name") or "")
        properties = list(((function.get("parameters") or {}).get("properties") or {}).keys())
        if "calc" in name.lower() and calculator is None:
            calculator = ToolSpec(name, properties[0] if properties else "expression")
        elif ("submit" in name.lower() or name.lower() in {"final_answer", "answer"}) and submit is None:
            submit = ToolSpec(name, properties[0] if properties else "answer")
    return OfferedTools(calculator, submit)


@dataclass
class ModelReply:
    reasoning: str
    content: str
    # (tool name, arguments)
    tool_calls: list[tuple[str, dict[str, Any]]] = field(default_factory=list)


@dataclass(frozen=True)
class Plan:
    task: Task
    guided: bool
    mode: str  # correct | slip | naive | loop
    final: str  # the answer text (for calculator plans: used only if the tool fails)
    expression: str | None = None  # calculator input, when the plan uses the calculator
    decimals: int | None = None
    misled_by: HarmfulInsight | None = None


def reply(
    messages: list[dict[str, Any]],
    tools: list[dict[str, Any]] | None,
    sampling: Sampling,
    episode_seed: int,
) -> ModelReply:
    """The next assistant turn for a conversation."""
    if proposer.is_proposer_prompt(messages):
        return proposer.propose(messages, random.Random(episode_seed))
    task = parse_task(last_user_text(messages))
    turn = sum(1 for message in messages if message.get("role") == "assistant")
    turn_rng = random.Random(episode_seed * 7919 + turn)
    if task is None:
        return _chat_reply(messages, turn_rng)
    offered = find_tools(tools)
    system = system_text(messages)
    guided = task.topic in detect_insights(system)
    misled_by = followed_harm(task.topic, system, episode_seed)
    plan = make_plan(task, guided, sampling, offered, random.Random(episode_seed), misled_by)
    return _next_step(plan, messages, offered, turn_rng)


def system_text(messages: list[dict[str, Any]]) -> str:
    return "\n\n".join(text_of(m) for m in messages if m.get("role") in {"system", "developer"})


def last_user_text(messages: list[dict[str, Any]]) -> str:
    for message in reversed(messages):
        if message.get("role") == "user":
            return text_of(message)
    return ""


def text_of(message: dict[str, Any]) -> str:
    content = message.get("content")
    if isinstance(content, list):  # content parts
        return "".join(str(part.get("text", "")) for part in content if isinstance(part, dict))
    return str(content or "")


def followed_harm(topic: str, harness_text: str, episode_seed: int) -> HarmfulInsight | None:
    """The harmful advice in the harness that the model follows on this episode, if any."""
    for harmful in detect_harmful(harness_text):
        chance = harmful.harms.get(topic, 0.0)
        # A seed of its own per advice: the episode's other draws stay as they were.
        if chance and random.Random(f"harm:{harmful.name}:{episode_seed}").random() < chance:
            return harmful
    return None


def make_plan(
    task: Task,
    guided: bool,
    sampling: Sampling,
    offered: OfferedTools,
    rng: random.Random,
    misled_by: HarmfulInsight | None = None,
) -> Plan:
    if misled_by is not None:
        return _misled_plan(task, guided, misled_by, offered, rng)
    insight = INSIGHTS[task.topic]
    applied = guided or rng.random() < insight.spontaneous_p
    slipped = rng.random() < sampling.slip_probability()
    mode = ("slip" if slipped else "correct") if applied else "naive"
    facts = task.facts
    if task.topic == "arithmetic":
        if mode == "naive":
            # Mental multiplication of big numbers: occasionally right, usually one digit off.
            final = task.answer if rng.random() < 0.1 else _one_digit_off(task.answer, rng)
            return Plan(task, guided, mode, final)
        final = _one_digit_off(task.answer, rng) if mode == "slip" else task.answer
        expression = facts["expression"] if offered.calculator and mode == "correct" else None
        return Plan(task, guided, mode, final, expression)
    if task.topic == "units":
        if mode == "naive":
            if offered.calculator and rng.random() < 0.4:
                loop_input = f"convert {facts['value']} {facts['src']} to {facts['dst']}"
                return Plan(task, guided, "loop", task.naive_answer or "", loop_input, 2)
            expression = facts["naive_expression"] if offered.calculator else None
            return Plan(task, guided, mode, task.naive_answer or "", expression, 2)
        if mode == "slip":
            wrong = float(task.answer) * rng.choice([0.99, 1.01, 1.02])
            return Plan(task, guided, mode, format_number(wrong, 2))
        expression = facts["exact_expression"] if offered.calculator else None
        return Plan(task, guided, mode, task.answer, expression, 2)
    if task.topic == "word-problems":
        a, b = facts["a"], facts["b"]
        if mode == "naive":
            return Plan(task, guided, mode, f"{b} {TIMES} {a} = {a * b}, so the answer is {a * b}.")
        value = a * (b - 1) if mode == "slip" else a * b
        return Plan(task, guided, mode, f"{b} {TIMES} {a} = {value}\nFINAL: {value}")
    if task.topic == "extraction":
        fields = json.loads(task.answer)
        if mode == "naive":
            if rng.random() < 0.5:
                prose = f"The customer is {fields['name']}, the order is {fields['order_id']} ({fields['product']})."
                return Plan(task, guided, mode, prose)
            return Plan(task, guided, mode, task.naive_answer or "")
        if mode == "slip":
            fields = {("orderId" if key == "order_id" else key): value for key, value in fields.items()}
        return Plan(task, guided, mode, json.dumps(fields))
    # Verdict topics (refunds, shipping): a slip flips the verdict.
    verdict = task.answer if mode != "naive" else (task.naive_answer or task.answer)
    if mode == "slip":
        verdict = _flip(verdict)
    return Plan(task, guided, mode, verdict)


def _misled_plan(
    task: Task, guided: bool, misled_by: HarmfulInsight, offered: OfferedTools, rng: random.Random
) -> Plan:
    """A model following harmful advice: the naive answer, without the tools the advice forbids."""
    if task.topic == "arithmetic":
        final = task.answer if rng.random() < 0.1 else _one_digit_off(task.answer, rng)
        return Plan(task, guided, "naive", final, misled_by=misled_by)
    if task.topic == "units":
        with_calculator = offered.calculator is not None and misled_by.allows_tools
        expression = task.facts["naive_expression"] if with_calculator else None
        return Plan(task, guided, "naive", task.naive_answer or "", expression, 2, misled_by=misled_by)
    if task.topic == "word-problems":
        a, b = task.facts["a"], task.facts["b"]
        return Plan(task, guided, "naive", f"{b} {TIMES} {a} = {a * b}, so the answer is {a * b}.", misled_by=misled_by)
    # refunds and shipping: the naive verdict; extraction: the camelCase object.
    return Plan(task, guided, "naive", task.naive_answer or task.answer, misled_by=misled_by)


def _next_step(plan: Plan, messages: list[dict[str, Any]], offered: OfferedTools, rng: random.Random) -> ModelReply:
    calculator_results = _tool_results(messages, offered.calculator.name if offered.calculator else None)
    submitted = bool(_tool_results(messages, offered.submit.name if offered.submit else None))
    final = plan.final
    if plan.expression and offered.calculator:
        last = calculator_results[-1] if calculator_results else None
        if last is None or (plan.mode == "loop" and _as_number(last) is None):
            return ModelReply(
                _reasoning(plan, "calculate", rng),
                "",
                [(offered.calculator.name, {offered.calculator.argument: plan.expression})],
            )
        number = _as_number(last)
        if number is not None:
            final = format_number(number, plan.decimals)
    if offered.submit and not submitted:
        call = (offered.submit.name, {offered.submit.argument: final})
        return ModelReply(_reasoning(plan, "submit", rng), "", [call])
    return ModelReply(_reasoning(plan, "answer", rng), final)


def _tool_results(messages: list[dict[str, Any]], tool_name: str | None) -> list[str]:
    """Contents of the tool messages answering calls to `tool_name`, in order."""
    if tool_name is None:
        return []
    call_ids = {
        call.get("id")
        for message in messages
        if message.get("role") == "assistant"
        for call in message.get("tool_calls") or []
        if (call.get("function") or {}).get("name") == tool_name
    }
    return [text_of(m) for m in messages if m.get("role") == "tool" and m.get("tool_call_id") in call_ids]


def _as_number(text: str) -> float | None:
    stripped = text.strip()
    try:
        data = json.loads(stripped)
    except json.JSONDecodeError:
        data = stripped
    if isinstance(data, dict):
        data = data.get("result", data.get("value"))
    if isinstance(data, bool):
        return None
    if isinstance(data, int | float):
        return float(data)
    try:
        return float(str(data).replace(",", ""))
    except ValueError:
        return None


def _one_digit_off(answer: str, rng: random.Random) -> str:
    digits = list(answer)
    position = rng.randrange(1, len(digits)) if len(digits) > 1 else 0
    digits[position] = str((int(digits[position]) + rng.choice([1, 2, 8, 9])) % 10)
    return "".join(digits)


def _flip(verdict: str) -> str:
    return {"ELIGIBLE": "NOT ELIGIBLE", "NOT ELIGIBLE": "ELIGIBLE", "LATE": "ON TIME", "ON TIME": "LATE"}[verdict]


_OPENERS = [
    "Let me read the request carefully.",
    "Okay, the user wants a single answer.",
    "First, what exactly is being asked?",
    "Let me restate the task to myself.",
]
_FILLER = [
    "I should keep the answer short.",
    "Nothing else in the message changes that.",
    "I'll double-check the numbers I copied from the task.",
    "The instructions ask for a precise answer.",
    "There is no need to ask the customer for more details.",
]


def _reasoning(plan: Plan, step: str, rng: random.Random) -> str:
    facts = plan.task.facts
    topic, mode = plan.task.topic, plan.mode
    lines = [rng.choice(_OPENERS)]
    if plan.misled_by is not None:
        lines.append(plan.misled_by.excuse)
    if topic == "arithmetic":
        if plan.expression and step == "calculate":
            lines.append(f"These are large numbers; the guidance says to use the calculator for {plan.expression}.")
        elif mode == "naive":
            lines.append(f"I can work out {facts['expression']} in my head: roughly… it comes to {plan.final}.")
        elif not plan.expression:
            lines.append(f"Working {facts['expression']} out carefully, digit by digit: {plan.final}.")
        else:
            lines.append("The calculator gave the result; I'll pass it on exactly.")
    elif topic == "refunds":
        if mode == "naive":
            lines.append(
                f"The {facts['item']} was delivered {facts['days']} days before the request. "
                f"The refund window is 30 days, so the answer is {plan.final}."
            )
        else:
            lines.append(
                f"{facts['days']} days since delivery; the applicable rule is the {facts['rule']} rule, "
                f"so {plan.final}."
            )
    elif topic == "units":
        if mode == "loop":
            lines.append(
                f"I'm not sure of the factor; let me ask the calculator to convert {facts['value']} "
                f"{facts['src']} directly."
            )
        elif mode == "naive":
            lines.append(
                f"Converting {facts['src']} to {facts['dst']}: the factor is roughly "
                f"{facts['naive_expression'].replace(str(facts['value']), 'x')}."
            )
        else:
            lines.append(f"Exact conversion: {facts['exact_expression']}; round to 2 decimals.")
    elif topic == "word-problems":
        needs_line = " The answer needs a FINAL line." if mode != "naive" else ""
        lines.append(f"{facts['a']} times {facts['b']}.{needs_line}")
    elif topic == "shipping":
        if mode == "naive":
            lines.append("The customer is worried about the parcel; parcels usually arrive, I'll reassure them.")
        else:
            lines.append(
                f"Checking the order date: {facts['days']} days since the order, {facts['method']} "
                f"shipping takes {facts['limit']} days, so {plan.final}."
            )
    elif topic == "extraction":
        lines.append("I need the name, the order id and the product from the message.")
    lines.extend(rng.sample(_FILLER, k=rng.randint(1, 3)))
    return " ".join(lines)


_WORDS = ["simulated", "reply", "from", "the", "evolab", "simulator", "model", "with", "no", "real", "weights"]


def _chat_reply(messages: list[dict[str, Any]], rng: random.Random) -> ModelReply:
    """Any prompt that is not a demo task: a short, clearly simulated, seeded answer."""
    said = last_user_text(messages)[:60]
    words = [rng.choice(_WORDS) for _ in range(rng.randint(6, 24))]
    return ModelReply(
        f"{rng.choice(_OPENERS)} This is not one of the demo tasks; I'll answer briefly.",
        f"[simulated] You said: {said!r}. " + " ".join(words) + ".",
    )
