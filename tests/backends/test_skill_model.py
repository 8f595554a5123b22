"""The hidden skill model, without HTTP: guidance moves pass rates, samples vary, failures look real."""

from __future__ import annotations

import json
from statistics import mean
from typing import Any

import pytest

from evolab.backends.simulator.faults import seeded_rng
from evolab.backends.simulator.insights import HARMFUL_INSIGHTS, INSIGHTS, detect_harmful, detect_insights
from evolab.backends.simulator.skill_model import Sampling, reply
from evolab.demo import MISSING_GUIDANCE, TOPICS, demo_harness_files, demo_suite_rows, with_guidance
from tests.backends.episodes import TOOLS, Episode, passes, render_system, run_episode

INITIAL = render_system(demo_harness_files())
IMPROVED = render_system(with_guidance(demo_harness_files()))


def direct_episode(system: str, row: dict[str, Any], sample: int, sampling: Sampling | None = None) -> Episode:
    episode_seed = seeded_rng("test", row["key"], sample).getrandbits(48)

    def send(messages: list[dict[str, Any]]) -> tuple[dict[str, Any], str, list[dict[str, Any]]]:
        turn = reply(messages, TOOLS, sampling or Sampling(), episode_seed)
        calls = [
            {"id": f"call_{len(messages)}_{i}", "name": name, "arguments": arguments}
            for i, (name, arguments) in enumerate(turn.tool_calls)
        ]
        wire = [
            {
                "id": c["id"],
                "type": "function",
                "function": {"name": c["name"], "arguments": json.dumps(c["arguments"])},
            }
            for c in calls
        ]
        message = {"role": "assistant", "content": turn.content, **({"tool_calls": wire} if wire else {})}
        return message, turn.content, calls

    return run_episode(send, system, row["input"])


def pass_rate(system: str, sample: int, rows: list[dict[str, Any]], sampling: Sampling | None = None) -> float:
    return mean(passes(row, direct_episode(system, row, sample, sampling).answer) for row in rows)


def test_guidance_texts_are_what_the_skill_model_rewards() -> None:
    assert detect_insights(INITIAL) == {"extraction"}
    assert detect_insights(IMPROVED) == set(TOPICS)
    for topic, text in MISSING_GUIDANCE.items():
        assert detect_insights(text) == {topic}
        # The simulator's own proposer wording must be recognised too.
        assert topic in detect_insights(INSIGHTS[topic].guidance)


def test_improved_harness_passes_clearly_more_often() -> None:
    rows = demo_suite_rows()
    initial = [pass_rate(INITIAL, sample, rows) for sample in range(3)]
    improved = [pass_rate(IMPROVED, sample, rows) for sample in range(3)]
    assert max(initial) < 0.55
    assert min(improved) > 0.8
    assert mean(improved) - mean(initial) > 0.35


def test_samples_differ() -> None:
    rows = demo_suite_rows()
    outcomes = {
        sample: [passes(row, direct_episode(IMPROVED, row, sample).answer) for row in rows] for sample in range(4)
    }
    assert len({tuple(values) for values in outcomes.values()}) > 1
    # ...yet one sample is reproducible.
    again = [passes(row, direct_episode(IMPROVED, row, 0).answer) for row in rows]
    assert again == outcomes[0]


def test_too_high_temperature_hurts() -> None:
    rows = demo_suite_rows()
    normal = mean(pass_rate(IMPROVED, sample, rows) for sample in range(2))
    hot = mean(pass_rate(IMPROVED, sample, rows, Sampling(temperature=1.8)) for sample in range(2))
    assert hot < normal - 0.25


def rows_of(topic: str) -> list[dict[str, Any]]:
    return [row for row in demo_suite_rows() if row["metadata"]["topic"] == topic]


def test_guided_arithmetic_calls_the_calculator_then_submits() -> None:
    episodes = [direct_episode(IMPROVED, row, sample) for row in rows_of("arithmetic") for sample in range(2)]
    good = [e for e in episodes if e.tool_calls and e.tool_calls[0][0] == "calculator"]
    assert len(good) > len(episodes) * 0.8
    assert all(e.tool_calls[-1][0] == "submit_answer" for e in good)


def test_unguided_failures_leave_telling_trajectories() -> None:
    arithmetic = [direct_episode(INITIAL, row, 0) for row in rows_of("arithmetic")]
    wrong = [(e, row) for e, row in zip(arithmetic, rows_of("arithmetic"), strict=True) if not passes(row, e.answer)]
    assert wrong, "the initial harness should fail some big multiplications"
    for episode, row in wrong:
        assert ("calculator" not in {name for name, _ in episode.tool_calls}) or episode.answer != row["target"]
        assert episode.answer and episode.answer.isdigit() and len(episode.answer) == len(row["target"])

    units = [direct_episode(INITIAL, row, sample) for row in rows_of("units") for sample in range(3)]
    assert any(e.stopped_by_loop_guard for e in units), "a loop of identical calculator calls is expected"

    words = [direct_episode(INITIAL, row, 0) for row in rows_of("word-problems")]
    assert sum("FINAL:" not in (e.answer or "") for e in words) > len(words) / 2

    refunds = [(direct_episode(INITIAL, row, 0), row) for row in rows_of("refunds")]
    final_sale = [(e, row) for e, row in refunds if row["metadata"]["rule"] == "final_sale"]
    assert any(e.answer == "ELIGIBLE" for e, _ in final_sale), "the 30-day rule alone misjudges final-sale items"


@pytest.mark.parametrize("topic", [t for t in TOPICS if t in MISSING_GUIDANCE])
def test_each_guidance_helps_its_own_topic(topic: str) -> None:
    rows = rows_of(topic)
    partial = render_system(with_guidance(demo_harness_files(), (topic,)))
    before = mean(pass_rate(INITIAL, sample, rows) for sample in range(2))
    after = mean(pass_rate(partial, sample, rows) for sample in range(2))
    assert after > before + 0.3


def test_harmful_advice_is_recognised_only_where_it_is_written() -> None:
    assert detect_harmful(INITIAL) == [] and detect_harmful(IMPROVED) == []
    for harmful in HARMFUL_INSIGHTS.values():
        assert [h.name for h in detect_harmful(harmful.guidance)] == [harmful.name]
        assert detect_insights(harmful.guidance) == set()


@pytest.mark.parametrize("name", sorted(HARMFUL_INSIGHTS))
def test_harmful_advice_lowers_the_topics_it_affects_and_only_those(name: str) -> None:
    harmful = HARMFUL_INSIGHTS[name]
    misled = f"{IMPROVED}\n\n{harmful.guidance}"
    for topic in harmful.harms:
        rows = rows_of(topic)
        before = mean(pass_rate(IMPROVED, sample, rows) for sample in range(2))
        after = mean(pass_rate(misled, sample, rows) for sample in range(2))
        assert after < before - 0.3, (topic, before, after)
    # Its draws have seeds of their own: the other topics play out exactly as before.
    others = [row for row in demo_suite_rows() if row["metadata"]["topic"] not in harmful.harms]
    assert [direct_episode(misled, row, 0).messages[2:] for row in others] == [
        direct_episode(IMPROVED, row, 0).messages[2:] for row in others
    ]


def test_a_misled_model_cites_the_advice_and_skips_the_calculator() -> None:
    harmful = HARMFUL_INSIGHTS["answer-from-memory"]
    misled = f"{IMPROVED}\n\n{harmful.guidance}"
    episodes = [direct_episode(misled, row, 0) for row in rows_of("arithmetic")]
    assert sum("calculator" not in {name for name, _ in e.tool_calls} for e in episodes) > len(episodes) / 2
    first_turns = [
        reply([{"role": "system", "content": misled}, {"role": "user", "content": row["input"]}], TOOLS, Sampling(), 7)
        for row in rows_of("arithmetic")
    ]
    assert any(harmful.excuse in turn.reasoning for turn in first_turns)
