from __future__ import annotations

from collections import Counter

import pytest

from evolab.evals.splits import assign_split


def test_it_is_deterministic() -> None:
    keys = [f"case-{i}" for i in range(200)]
    assert [assign_split(k) for k in keys] == [assign_split(k) for k in keys]
    # Pinned values: the assignment must never change between releases.
    assert assign_split("refund-017") == "holdout"
    assert assign_split("HumanEval/0") == "train"
    assert {assign_split(k) for k in keys} == {"train", "dev", "holdout"}


def test_it_is_roughly_60_20_20_over_1000_keys() -> None:
    counts = Counter(assign_split(f"key-{i}") for i in range(1000))
    assert 550 <= counts["train"] <= 650
    assert 160 <= counts["dev"] <= 240
    assert 160 <= counts["holdout"] <= 240


def test_it_honours_weights() -> None:
    assert {assign_split(f"k{i}", (100, 0, 0)) for i in range(100)} == {"train"}
    assert {assign_split(f"k{i}", (0, 0, 1)) for i in range(100)} == {"holdout"}
    counts = Counter(assign_split(f"k{i}", (50, 50, 0)) for i in range(1000))
    assert counts["holdout"] == 0 and 430 <= counts["train"] <= 570


def test_it_rejects_bad_weights() -> None:
    with pytest.raises(ValueError):
        assign_split("k", (0, 0, 0))
    with pytest.raises(ValueError):
        assign_split("k", (60, -20, 60))
