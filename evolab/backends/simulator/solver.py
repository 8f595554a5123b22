"""Reading and solving the demo task templates from their text alone.

The simulated model answers correctly only by computing the answer from the task text
it receives; it never sees a target. Each topic has the *correct* solution and the
*naive* one a model produces when its harness lacks the topic's insight, so failures
carry realistic wrong answers.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from datetime import date
from typing import Any

# Exact factors, and the rounded ones a model without the unit table falls back on.
UNIT_CONVERSIONS: dict[tuple[str, str], tuple[str, str]] = {
    # (from, to): (exact expression, naive expression) with {v} for the value
    ("miles", "kilometres"): ("{v} * 1.609344", "{v} * 1.6"),
    ("pounds", "kilograms"): ("{v} * 0.45359237", "{v} * 0.45"),
    ("US gallons", "litres"): ("{v} * 3.785411784", "{v} * 3.8"),
    ("inches", "centimetres"): ("{v} * 2.54", "{v} * 2.5"),
    ("degrees Fahrenheit", "degrees Celsius"): ("({v} - 32) * 5 / 9", "({v} - 30) / 2"),
}
# The multiplication sign (U+00D7) some task texts use: "What is 56012 <TIMES> 5298?".
TIMES = "\u00d7"
SHIPPING_DAYS = {"standard": 10, "express": 3}
REFUND_WINDOW_DAYS = 30
OPENED_ELECTRONICS_WINDOW_DAYS = 15


@dataclass(frozen=True)
class Task:
    topic: str
    answer: str
    # What a model lacking the topic's insight answers (None: it cannot even get there).
    naive_answer: str | None
    facts: dict[str, Any] = field(default_factory=dict)


_ARITH = re.compile(rf"^(?:What is|Compute) (\d+(?: [{TIMES}*+] \d+)+)[?.] Reply with the number only\.")
_REFUND = re.compile(
    r"^Refund request — item: (?P<item>[^;]+); category: (?P<category>[a-z]+); "
    r"package opened: (?P<opened>yes|no); final sale: (?P<final>yes|no)\. "
    r"Delivered (?P<delivered>\d{4}-\d{2}-\d{2}), refund requested (?P<requested>\d{4}-\d{2}-\d{2})\."
)
_UNITS = re.compile(
    r"^Convert (?P<value>-?\d+(?:\.\d+)?) (?P<src>[A-Za-z ]+?) to (?P<dst>[A-Za-z ]+?)\. "
    r"Round to 2 decimal places and reply with the number only\."
)
_WORD_PROBLEMS = [
    re.compile(r"^A warehouse packs (?P<a>\d+) mugs per box\. How many mugs are in (?P<b>\d+) boxes\?"),
    re.compile(r"^A bus has (?P<a>\d+) rows of (?P<b>\d+) seats\. How many seats are there\?"),
    re.compile(r"^Tickets cost (?P<a>\d+) euros each\. How much do (?P<b>\d+) tickets cost in euros\?"),
    re.compile(r"^A printer prints (?P<a>\d+) pages per minute\. How many pages does it print in (?P<b>\d+) minutes\?"),
]
_SHIPPING = re.compile(
    r"^Ticket date: (?P<ticket>\d{4}-\d{2}-\d{2})\. Customer message: \"Where is my order [A-Z]+-\d+\? "
    r"I ordered it on (?P<ordered>\d{4}-\d{2}-\d{2}) with (?P<method>standard|express) shipping\.\""
)
_EXTRACT_HEAD = "Extract the customer's name, the order id and the product from this message as JSON"
_EXTRACT_MESSAGES = [
    re.compile(
        r"Hi, this is (?P<name>[A-Z][a-z]+ [A-Z][a-z]+)\. My order (?P<order_id>ORD-\d{5}) "
        r"\((?P<product>[a-z ]+)\) arrived damaged\."
    ),
    re.compile(
        r"Hello! (?P<name>[A-Z][a-z]+ [A-Z][a-z]+) here — order (?P<order_id>ORD-\d{5}) "
        r"for a (?P<product>[a-z ]+) never showed up\."
    ),
    re.compile(
        r"Dear support, I \((?P<name>[A-Z][a-z]+ [A-Z][a-z]+)\) returned the (?P<product>[a-z ]+) "
        r"from order (?P<order_id>ORD-\d{5}) two weeks ago\."
    ),
]


def parse_task(text: str) -> Task | None:
    """Recognise a demo task and solve it; None for anything else."""
    text = text.strip()
    for parser in (_arithmetic, _refund, _units, _word_problem, _shipping, _extraction):
        task = parser(text)
        if task is not None:
            return task
    return None


_TASK_OPENINGS = (
    "What is ",
    "Compute ",
    "Refund request — ",
    "Convert ",
    "A warehouse packs ",
    "A bus has ",
    "Tickets cost ",
    "A printer prints ",
    "Ticket date: ",
    _EXTRACT_HEAD,
)


def find_task(text: str) -> Task | None:
    """The first demo task quoted anywhere in a longer text (e.g. a failure trajectory)."""
    starts = sorted(match.start() for opening in _TASK_OPENINGS for match in re.finditer(re.escape(opening), text))
    for start in starts:
        task = parse_task(text[start:])
        if task is not None:
            return task
    return None


def evaluate(expression: str) -> float:
    """Evaluate + - * / and parentheses over decimal numbers (what the calculator tool does)."""
    cleaned = re.sub(r"\s+", "", expression.replace(TIMES, "*").replace(",", ""))
    tokens = re.findall(r"\d+(?:\.\d+)?|[-+*/()]", cleaned)
    if "".join(tokens) != cleaned:
        raise ValueError(f"cannot evaluate {expression!r}")
    position = 0

    def expr() -> float:
        nonlocal position
        value = term()
        while position < len(tokens) and tokens[position] in "+-":
            op = tokens[position]
            position += 1
            value = value + term() if op == "+" else value - term()
        return value

    def term() -> float:
        nonlocal position
        value = factor()
        while position < len(tokens) and tokens[position] in "*/":
            op = tokens[position]
            position += 1
            value = value * factor() if op == "*" else value / factor()
        return value

    def factor() -> float:
        nonlocal position
        if position >= len(tokens):
            raise ValueError("unexpected end of expression")
        token = tokens[position]
        position += 1
        if token == "-":
            return -factor()
        if token == "(":
            value = expr()
            if position >= len(tokens) or tokens[position] != ")":
                raise ValueError("missing )")
            position += 1
            return value
        return float(token)

    result = expr()
    if position != len(tokens):
        raise ValueError(f"cannot evaluate {expression!r}")
    return result


def format_number(value: float, decimals: int | None = None) -> str:
    if decimals is not None:
        return f"{value:.{decimals}f}"
    return str(round(value)) if abs(value - round(value)) < 1e-9 else repr(value)


def _arithmetic(text: str) -> Task | None:
    match = _ARITH.match(text)
    if not match:
        return None
    expression = match.group(1).replace(TIMES, "*")
    answer = format_number(evaluate(expression))
    return Task("arithmetic", answer, None, {"expression": expression})


def _refund(text: str) -> Task | None:
    match = _REFUND.match(text)
    if not match:
        return None
    days = (date.fromisoformat(match["requested"]) - date.fromisoformat(match["delivered"])).days
    opened_electronics = match["category"] == "electronics" and match["opened"] == "yes"
    if match["final"] == "yes":
        eligible, rule = False, "final sale"
    elif opened_electronics:
        eligible, rule = days <= OPENED_ELECTRONICS_WINDOW_DAYS, "opened electronics"
    else:
        eligible, rule = days <= REFUND_WINDOW_DAYS, "standard window"
    naive = days <= REFUND_WINDOW_DAYS
    verdict = {True: "ELIGIBLE", False: "NOT ELIGIBLE"}
    return Task("refunds", verdict[eligible], verdict[naive], {"days": days, "rule": rule, "item": match["item"]})


def _units(text: str) -> Task | None:
    match = _UNITS.match(text)
    if not match or (match["src"], match["dst"]) not in UNIT_CONVERSIONS:
        return None
    exact, naive = UNIT_CONVERSIONS[(match["src"], match["dst"])]
    value = match["value"]
    return Task(
        "units",
        format_number(evaluate(exact.format(v=value)), 2),
        format_number(evaluate(naive.format(v=value)), 2),
        {
            "value": value,
            "src": match["src"],
            "dst": match["dst"],
            "exact_expression": exact.format(v=value),
            "naive_expression": naive.format(v=value),
        },
    )


def _word_problem(text: str) -> Task | None:
    for pattern in _WORD_PROBLEMS:
        match = pattern.match(text)
        if match:
            a, b = int(match["a"]), int(match["b"])
            return Task("word-problems", str(a * b), str(a * b), {"a": a, "b": b})
    return None


def _shipping(text: str) -> Task | None:
    match = _SHIPPING.match(text)
    if not match:
        return None
    days = (date.fromisoformat(match["ticket"]) - date.fromisoformat(match["ordered"])).days
    limit = SHIPPING_DAYS[match["method"]]
    answer = "LATE" if days > limit else "ON TIME"
    # Without the workflow step a model reassures the customer without checking dates.
    return Task("shipping", answer, "ON TIME", {"days": days, "limit": limit, "method": match["method"]})


def _extraction(text: str) -> Task | None:
    if not text.startswith(_EXTRACT_HEAD):
        return None
    for pattern in _EXTRACT_MESSAGES:
        match = pattern.search(text)
        if match:
            fields = {"name": match["name"], "order_id": match["order_id"], "product": match["product"]}
            naive = {"customerName": fields["name"], "orderId": fields["order_id"], "productName": fields["product"]}
            return Task("extraction", json.dumps(fields), json.dumps(naive), fields)
    return None
