"""The insights the demo tasks need, and how the simulator spots them in a harness.

An insight is *present* when every one of its patterns matches the normalised text of
the system messages (the rendered harness). The patterns are deliberately about meaning-
bearing phrases ("always use the calculator", "opened electronics … 15 days"), not about
a file name, so a harness can phrase and place its guidance freely.
"""

from __future__ import annotations

import re
from dataclasses import dataclass


@dataclass(frozen=True)
class Insight:
    topic: str
    kind: str  # tool | skill | format | workflow
    # All must match the normalised harness text (lowercase, markdown marks removed).
    patterns: tuple[str, ...]
    # The simulator's own wording of the guidance, used by its proposer.
    guidance: str
    # Where the proposer puts that guidance in a harness.
    path: str
    # Chance that a model applies the insight although the harness does not mention it.
    spontaneous_p: float

    def present_in(self, normalised_harness: str) -> bool:
        return all(re.search(pattern, normalised_harness) for pattern in self.patterns)


INSIGHTS: dict[str, Insight] = {
    insight.topic: insight
    for insight in (
        Insight(
            "arithmetic",
            "tool",
            (r"\b(always|must)\b[^.]{0,40}\bcalculator\b", r"\b(large|big|multi-digit|long)\b[^.]{0,20}\bnumbers?\b"),
            "## Arithmetic\nAlways use the calculator tool for arithmetic on large numbers: never multiply or "
            "add multi-digit numbers in your head. Submit the calculator's result exactly.",
            "skills/arithmetic.md",
            0.2,
        ),
        Insight(
            "refunds",
            "skill",
            (r"opened electronics[^.]{0,80}\b15 days\b", r"final[- ]sale[^.]{0,80}\b(never|not)\b"),
            "## Refund exceptions\n- Opened electronics are refundable only within 15 days of delivery.\n"
            "- Final-sale items are never refundable, whatever the date.",
            "skills/refunds.md",
            0.0,
        ),
        Insight(
            "units",
            "skill",
            (r"1\.609", r"0\.4535", r"3\.785", r"\b2\.54\b", r"5\s*/\s*9"),
            "## Unit conversions (exact factors)\n- 1 mile = 1.609344 km\n- 1 pound = 0.45359237 kg\n"
            "- 1 US gallon = 3.785411784 litres\n- 1 inch = 2.54 cm\n- Celsius = (Fahrenheit - 32) * 5/9\n"
            "Compute with the calculator using these exact factors, then round as asked.",
            "skills/units.md",
            0.15,
        ),
        Insight(
            "word-problems",
            "format",
            (r"\bfinal:", r"\b(last line|end (your|the|every|each) (answer|reply))\b"),
            "## Answer format for quantities\nWhen the answer is a quantity, end your answer with a last line "
            "of the form `FINAL: <number>` (digits only, no units).",
            "system.md",
            0.1,
        ),
        Insight(
            "shipping",
            "workflow",
            (r"\bcheck the order date\b", r"\bticket date\b"),
            "## Delivery status tickets\n1. Before answering, check the order date: count the days from the "
            "order date to the ticket date.\n2. Compare them with the shipping time of the method used.\n"
            "3. Answer LATE if more days have passed than the shipping time, otherwise ON TIME.",
            "workflow.md",
            0.25,
        ),
        Insight(
            "extraction",
            "format",
            (r"\bonly (a|one) json object\b", r"\bexactly the (requested )?keys\b"),
            "## Extraction\nWhen asked to extract fields, reply with only a JSON object that uses exactly the "
            "requested keys, with no prose around it.",
            "skills/extraction.md",
            0.2,
        ),
    )
}


def normalise(text: str) -> str:
    """Lowercase, drop markdown emphasis and code marks, collapse whitespace."""
    return re.sub(r"\s+", " ", re.sub(r"[*_`#>]", " ", text.lower())).strip()


def detect_insights(harness_text: str) -> set[str]:
    normalised = normalise(harness_text)
    return {topic for topic, insight in INSIGHTS.items() if insight.present_in(normalised)}
