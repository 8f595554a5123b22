"""Generate evolab/demo/suite.jsonl deterministically.

Run `python -m evolab.demo.generate_suite` after changing a template; commit the output.
Targets are computed here, independently of the simulator (which has to work them out
from the task text), so a test can check that both agree.

Six topics, thirty cases each (12 train / 12 dev / 6 holdout; dev is large enough for a
campaign to tell a one-topic gain from noise). Each topic needs one insight
that a harness may or may not carry (see MISSING_GUIDANCE in evolab/demo/__init__.py).
"""

from __future__ import annotations

import json
import random
from collections.abc import Callable
from datetime import date, timedelta
from decimal import ROUND_HALF_EVEN, Decimal
from pathlib import Path
from typing import Any

SUITE_PATH = Path(__file__).with_name("suite.jsonl")
CASES_PER_TOPIC = 30
SPLITS = ["train"] * 12 + ["dev"] * 12 + ["holdout"] * 6
START = date(2024, 1, 8)

NAMES = [
    "Maria Lopez",
    "Jonas Berg",
    "Aiko Tanaka",
    "Samuel Okafor",
    "Lena Fischer",
    "Omar Haddad",
    "Chloe Martin",
    "Ravi Patel",
    "Ingrid Olsen",
    "Tomas Novak",
    "Fatima Zahra",
    "Peter Walsh",
    "Yuki Mori",
    "Elena Rossi",
    "David Cohen",
]
PRODUCTS = [
    "ceramic teapot",
    "desk lamp",
    "wool scarf",
    "phone case",
    "yoga mat",
    "coffee grinder",
    "travel mug",
    "bike light",
    "cutting board",
    "photo frame",
    "water bottle",
    "table runner",
    "shoe rack",
    "plant pot",
    "kitchen scale",
]
REFUND_ITEMS = {
    "electronics": ["wireless earbuds", "smart watch", "bluetooth speaker", "e-reader", "webcam"],
    "clothing": ["rain jacket", "linen shirt", "running shoes"],
    "home": ["duvet cover", "floor lamp", "stand mixer"],
    "books": ["cookbook", "atlas"],
}
UNITS = [
    ("miles", "kilometres", lambda v: v * Decimal("1.609344")),
    ("pounds", "kilograms", lambda v: v * Decimal("0.45359237")),
    ("US gallons", "litres", lambda v: v * Decimal("3.785411784")),
    ("inches", "centimetres", lambda v: v * Decimal("2.54")),
    ("degrees Fahrenheit", "degrees Celsius", lambda v: (v - 32) * 5 / Decimal(9)),
]
WORD_TEMPLATES = [
    "A warehouse packs {a} mugs per box. How many mugs are in {b} boxes?",
    "A bus has {a} rows of {b} seats. How many seats are there?",
    "Tickets cost {a} euros each. How much do {b} tickets cost in euros?",
    "A printer prints {a} pages per minute. How many pages does it print in {b} minutes?",
]
EXTRACT_TEMPLATES = [
    "Hi, this is {name}. My order {order_id} ({product}) arrived damaged.",
    "Hello! {name} here — order {order_id} for a {product} never showed up.",
    "Dear support, I ({name}) returned the {product} from order {order_id} two weeks ago.",
]


def _case(
    topic: str,
    prefix: str,
    index: int,
    input_text: str,
    target: str,
    grader: dict[str, Any],
    metadata: dict[str, Any],
    critical: bool = False,
) -> dict[str, Any]:
    tags = [topic, "critical"] if critical else [topic]
    return {
        "key": f"{prefix}-{index + 1:03d}",
        "input": input_text,
        "target": target,
        "grader": grader,
        "tags": tags,
        "split": SPLITS[index],
        # What kind of insight a case needs is the simulator's secret: it stays out of the
        # data, so it can never reach a proposer prompt or a reviewer as a hint.
        "metadata": {"topic": topic, **{k: v for k, v in metadata.items() if k != "insight"}},
    }


def arithmetic_cases(rng: random.Random) -> list[dict[str, Any]]:
    rows = []
    for i in range(CASES_PER_TOPIC):
        if i % 3 == 2:
            numbers = [rng.randint(100_000, 999_999) for _ in range(3)]
            text = f"What is {numbers[0]} + {numbers[1]} + {numbers[2]}? Reply with the number only."
            target = sum(numbers)
        else:
            a, b = rng.randint(10_000, 99_999), rng.randint(1_000, 9_999)
            verb = "What is {a} \u00d7 {b}?" if i % 2 == 0 else "Compute {a} * {b}."
            text = verb.format(a=a, b=b) + " Reply with the number only."
            target = a * b
        rows.append(
            _case("arithmetic", "arith", i, text, str(target), {"type": "numeric", "tolerance": 0}, {"insight": "tool"})
        )
    return rows


def refund_cases(rng: random.Random) -> list[dict[str, Any]]:
    # Most cases hinge on an exception the initial harness does not know about, so the
    # naive 30-day rule gets them wrong; the rest are decided by the 30-day rule itself.
    kinds = (["opened_electronics"] * 5 + ["final_sale"] * 4 + ["standard"] * 6) * (CASES_PER_TOPIC // 15)
    rng.shuffle(kinds)
    rows = []
    for i, kind in enumerate(kinds):
        delivered = START + timedelta(days=rng.randint(0, 300))
        if kind == "opened_electronics":
            category, opened, final = "electronics", "yes", "no"
            days = rng.randint(16, 30)
        elif kind == "final_sale":
            category = rng.choice(["clothing", "home", "electronics"])
            opened, final = rng.choice(["yes", "no"]), "yes"
            days = rng.randint(1, 30)
        else:
            category = rng.choice(list(REFUND_ITEMS))
            opened, final = rng.choice(["yes", "no"]), "no"
            if category == "electronics":
                opened = "no"
            days = rng.choice([rng.randint(2, 29), rng.randint(31, 60)])
        item = rng.choice(REFUND_ITEMS[category])
        requested = delivered + timedelta(days=days)
        if final == "yes":
            eligible = False
        elif category == "electronics" and opened == "yes":
            eligible = days <= 15
        else:
            eligible = days <= 30
        text = (
            f"Refund request — item: {item}; category: {category}; package opened: {opened}; "
            f"final sale: {final}. Delivered {delivered.isoformat()}, refund requested {requested.isoformat()}. "
            "Is the customer eligible for a refund? Answer ELIGIBLE or NOT ELIGIBLE."
        )
        target = "ELIGIBLE" if eligible else "NOT ELIGIBLE"
        rows.append(
            _case(
                "refunds",
                "refund",
                i,
                text,
                target,
                {"type": "exact", "strip": True, "case_insensitive": True},
                {"insight": "skill", "rule": kind, "days": days},
                critical=kind == "final_sale",
            )
        )
    return rows


def unit_cases(rng: random.Random) -> list[dict[str, Any]]:
    rows = []
    for i in range(CASES_PER_TOPIC):
        src, dst, convert = UNITS[i % len(UNITS)]
        value = Decimal(rng.randint(12, 240)) if src != "degrees Fahrenheit" else Decimal(rng.randint(60, 110))
        if i % 4 == 3:
            value += Decimal(rng.randint(1, 9)) / 10
        result = convert(value).quantize(Decimal("0.01"), rounding=ROUND_HALF_EVEN)
        text = f"Convert {value} {src} to {dst}. Round to 2 decimal places and reply with the number only."
        rows.append(
            _case(
                "units",
                "units",
                i,
                text,
                str(result),
                {"type": "numeric", "tolerance": 0.01},
                {"insight": "skill", "from": src, "to": dst},
            )
        )
    return rows


def word_problem_cases(rng: random.Random) -> list[dict[str, Any]]:
    rows = []
    for i in range(CASES_PER_TOPIC):
        a, b = rng.randint(3, 60), rng.randint(3, 40)
        text = WORD_TEMPLATES[i % len(WORD_TEMPLATES)].format(a=a, b=b)
        answer = a * b
        rows.append(
            _case(
                "word-problems",
                "word",
                i,
                text,
                f"FINAL: {answer}",
                {"type": "regex", "pattern": rf"FINAL:\s*{answer}\s*$"},
                {"insight": "format", "answer": answer},
            )
        )
    return rows


def shipping_cases(rng: random.Random) -> list[dict[str, Any]]:
    lates = ([True] * 10 + [False] * 5) * (CASES_PER_TOPIC // 15)
    rng.shuffle(lates)
    rows = []
    for i, late in enumerate(lates):
        method = rng.choice(["standard", "express"])
        limit = 10 if method == "standard" else 3
        days = rng.randint(limit + 1, limit + 12) if late else rng.randint(1, limit)
        ordered = START + timedelta(days=rng.randint(0, 300))
        ticket = ordered + timedelta(days=days)
        order_id = f"S-{rng.randint(1000, 9999)}"
        text = (
            f'Ticket date: {ticket.isoformat()}. Customer message: "Where is my order {order_id}? '
            f'I ordered it on {ordered.isoformat()} with {method} shipping." Standard shipping takes 10 days '
            "and express shipping takes 3 days from the order date. Answer LATE or ON TIME."
        )
        rows.append(
            _case(
                "shipping",
                "ship",
                i,
                text,
                "LATE" if late else "ON TIME",
                {"type": "exact", "strip": True, "case_insensitive": True},
                {"insight": "workflow", "days": days, "method": method},
                critical=late and i % 3 == 0,
            )
        )
    return rows


def extraction_cases(rng: random.Random) -> list[dict[str, Any]]:
    names, products = NAMES[:], PRODUCTS[:]
    rng.shuffle(names)
    rng.shuffle(products)
    rows = []
    for i in range(CASES_PER_TOPIC):
        # Fewer names and products than cases: pair them differently on each pass.
        name, product = names[i % len(names)], products[(i + i // len(names)) % len(products)]
        fields = {"name": name, "order_id": f"ORD-{rng.randint(10000, 99999)}", "product": product}
        message = EXTRACT_TEMPLATES[i % len(EXTRACT_TEMPLATES)].format(**fields)
        text = (
            "Extract the customer's name, the order id and the product from this message as JSON with the keys "
            f'name, order_id, product.\nMessage: "{message}"'
        )
        rows.append(
            _case(
                "extraction",
                "extract",
                i,
                text,
                json.dumps(fields),
                {"type": "json", "fields": fields},
                {"insight": "format"},
            )
        )
    return rows


GENERATORS: dict[str, Callable[[random.Random], list[dict[str, Any]]]] = {
    "arithmetic": arithmetic_cases,
    "refunds": refund_cases,
    "units": unit_cases,
    "word-problems": word_problem_cases,
    "shipping": shipping_cases,
    "extraction": extraction_cases,
}


def build_rows() -> list[dict[str, Any]]:
    rows: list[dict[str, Any]] = []
    for topic, generate in GENERATORS.items():
        topic_rows = generate(random.Random(f"evolab-demo-{topic}"))
        # Shuffle split labels within the topic so holdout cases are not the last-generated kind.
        splits = [row["split"] for row in topic_rows]
        random.Random(f"evolab-demo-splits-{topic}").shuffle(splits)
        for row, split in zip(topic_rows, splits, strict=True):
            row["split"] = split
        rows.extend(topic_rows)
    return rows


def render(rows: list[dict[str, Any]]) -> str:
    return "".join(json.dumps(row, ensure_ascii=False) + "\n" for row in rows)


def main() -> None:
    SUITE_PATH.write_text(render(build_rows()), encoding="utf-8")
    print(f"wrote {SUITE_PATH}")


if __name__ == "__main__":
    main()
