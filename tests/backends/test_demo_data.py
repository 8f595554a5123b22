"""The demo suite and harness: shape, regeneration, and agreement with the simulator's solver."""

from __future__ import annotations

import json
from collections import Counter

import yaml

from evolab.backends.simulator.solver import parse_task
from evolab.demo import MISSING_GUIDANCE, TOPICS, demo_harness_files, demo_suite_rows
from evolab.demo.generate_suite import SUITE_PATH, build_rows, render

GRADER_KEYS = {
    "exact": {"type", "strip", "case_insensitive"},
    "contains": {"type", "substrings"},
    "regex": {"type", "pattern"},
    "json": {"type", "fields"},
    "numeric": {"type", "tolerance"},
}


def test_the_committed_suite_is_what_the_generator_writes() -> None:
    assert SUITE_PATH.read_text(encoding="utf-8") == render(build_rows())


def test_suite_shape() -> None:
    rows = demo_suite_rows()
    assert len(rows) >= 72
    assert len({row["key"] for row in rows}) == len(rows)
    splits = Counter(row["split"] for row in rows)
    assert splits == {"train": 72, "dev": 72, "holdout": 36}
    assert {row["tags"][0] for row in rows} == set(TOPICS)
    assert any("critical" in row["tags"] for row in rows)
    for row in rows:
        assert set(row) == {"key", "input", "target", "grader", "tags", "split", "metadata"}
        assert set(row["grader"]) <= GRADER_KEYS[row["grader"]["type"]]
        topic_splits = {r["split"] for r in rows if r["tags"][0] == row["tags"][0]}
        assert topic_splits == {"train", "dev", "holdout"}


def test_the_simulator_solves_every_case_from_its_text_alone() -> None:
    for row in demo_suite_rows():
        task = parse_task(row["input"])
        assert task is not None, row["key"]
        assert task.topic == row["metadata"]["topic"]
        grader = row["grader"]
        if grader["type"] == "numeric":
            assert abs(float(task.answer) - float(row["target"])) <= grader["tolerance"] + 1e-9, row["key"]
        elif grader["type"] == "json":
            assert json.loads(task.answer) == grader["fields"]
        elif grader["type"] == "regex":
            assert row["target"] == f"FINAL: {task.answer}"
        else:
            assert task.answer == row["target"], row["key"]


def test_the_demo_harness_is_valid_and_lacks_the_missing_guidance() -> None:
    files = demo_harness_files()
    config = yaml.safe_load(files["harness.yaml"])
    assert config["sampling"] == {"temperature": 1.0, "top_p": 0.95, "top_k": 40, "max_tokens": 1024}
    assert config["agent"] == {
        "max_turns": 6,
        "loop_guard": {"window": 4, "threshold": 3},
        "tools": ["calculator", "submit_answer"],
    }
    assert set(MISSING_GUIDANCE) < set(TOPICS)
    text = "\n".join(files.values())
    for guidance in MISSING_GUIDANCE.values():
        assert guidance.strip() not in text
