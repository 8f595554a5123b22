"""The insights the demo tasks need, and how the simulator spots them in a harness.

An insight is *present* when every one of its patterns matches the normalised text of
the system messages (the rendered harness). The patterns are deliberately about meaning-
bearing phrases ("always use the calculator", "opened electronics … 15 days"), not about
a file name, so a harness can phrase and place its guidance freely.

A *harmful insight* is advice that reads as plausible but makes the model fail: "answer
from memory without tools", "apply the 30-day window to every refund". When one is present
the model follows it on the topics it affects with the given probability, whatever other
guidance the harness carries (see `skill_model`), so a proposer that suggests it lowers
the score of the harness it edits.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
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


@dataclass(frozen=True)
class HarmfulInsight:
    name: str
    # Topic -> chance that a model following this advice answers a task of the topic naively.
    harms: Mapping[str, float]
    # All must match the normalised harness text.
    patterns: tuple[str, ...]
    # The simulator proposer's wording of the advice.
    guidance: str
    path: str
    # Why a proposer believes the advice helps (for its hypothesis).
    pitch: str
    # How the model's reasoning cites the advice when it follows it.
    excuse: str
    # False when the advice tells the model to do without the calculator.
    allows_tools: bool = True

    def present_in(self, normalised_harness: str) -> bool:
        return all(re.search(pattern, normalised_harness) for pattern in self.patterns)


HARMFUL_INSIGHTS: dict[str, HarmfulInsight] = {
    harmful.name: harmful
    for harmful in (
        HarmfulInsight(
            "answer-from-memory",
            {"arithmetic": 0.85, "units": 0.6},
            (r"\bfrom memory\b", r"\b(skip|skipping|without)\b[^.]{0,30}\b(calculator|tools?)\b"),
            "## Speed\nAnswer from memory without calling tools when the numbers look simple: skipping the "
            "calculator saves a turn on every task.",
            "workflow.md",
            "many trajectories spend their turns on calculator calls, and some loop on them until the guard "
            "stops them; answering from memory saves a turn per task and removes those loops",
            "The harness says to answer from memory without tools, so I'll skip the calculator.",
            allows_tools=False,
        ),
        HarmfulInsight(
            "thirty-day-rule",
            {"refunds": 0.9},
            (r"\b30[- ]day window to every\b",),
            "## Refunds, simplified\nApply the 30-day window to every refund request, whatever the item: a request "
            "made within 30 days of delivery is ELIGIBLE. One rule for all items keeps answers consistent.",
            "skills/refunds.md",
            "the refund verdicts are inconsistent from one item to the next; a single 30-day rule for every "
            "item makes them consistent",
            "The harness says one 30-day window applies to every item.",
        ),
        HarmfulInsight(
            "round-factors",
            {"units": 0.85},
            (r"\bround conversion factors\b",),
            "## Unit conversions, quick method\nRound conversion factors to one decimal place before multiplying "
            "(a mile is about 1.6 km, a pound about 0.45 kg): the result stays close and the arithmetic simple.",
            "skills/units.md",
            "the conversions go wrong inside long calculator expressions; rounded factors keep the arithmetic "
            "short and the results within rounding of the target",
            "The harness says to round conversion factors first.",
        ),
        HarmfulInsight(
            "reassure-first",
            {"shipping": 0.8},
            (r"\balmost always arrive\b", r"\bon time unless\b"),
            "## Delivery-status tickets\nCustomers asking about an order mostly want reassurance: parcels almost "
            "always arrive in time, so answer ON TIME unless the customer reports a lost parcel.",
            "workflow.md",
            "the delivery tickets are answered after long deliberation; customers mostly want reassurance, "
            "and parcels rarely go missing",
            "The harness says parcels almost always arrive, so ON TIME unless the parcel is lost.",
        ),
        HarmfulInsight(
            "conversational-answers",
            {"word-problems": 0.8},
            (r"\bconversational sentence\b", r"\bavoid\b[^.]{0,30}\bseparate (summary )?lines?\b"),
            "## Tone\nAnswer in one friendly, conversational sentence; avoid labels and separate summary lines, "
            "which read as robotic to customers.",
            "skills/tone.md",
            "the answers read as terse; one conversational sentence that states the quantity reads better "
            "and still carries the number",
            "The harness asks for one conversational sentence without separate lines.",
        ),
        HarmfulInsight(
            "camel-case-keys",
            {"extraction": 0.9},
            (r"\bcamelcase keys\b",),
            "## Extraction keys\nUse camelCase keys (customerName, orderId, productName) in extracted JSON so "
            "that it matches the conventions of our API.",
            "skills/extraction.md",
            "the extracted objects mix key styles; camelCase keys match the API convention",
            "The harness asks for camelCase keys.",
        ),
    )
}


def normalise(text: str) -> str:
    """Lowercase, drop markdown emphasis and code marks, collapse whitespace."""
    return re.sub(r"\s+", " ", re.sub(r"[*_`#>]", " ", text.lower())).strip()


def detect_insights(harness_text: str) -> set[str]:
    normalised = normalise(harness_text)
    return {topic for topic, insight in INSIGHTS.items() if insight.present_in(normalised)}


def detect_harmful(harness_text: str) -> list[HarmfulInsight]:
    """The harmful insights present in a harness, in a stable order."""
    normalised = normalise(harness_text)
    return [harmful for name, harmful in sorted(HARMFUL_INSIGHTS.items()) if harmful.present_in(normalised)]
