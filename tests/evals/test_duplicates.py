"""Exact and near-duplicate detection (pure engine) on known pairs."""

from __future__ import annotations

import pytest

from evolab.engine.duplicates import find_duplicates, jaccard, normalise, shingles

BASE = "How long do I have to return a pair of shoes bought online from your store"


def test_normalise_casefolds_strips_punctuation_and_collapses_space() -> None:
    assert normalise("  Hello,\tWORLD!!  — it's   ME ") == "hello world it s me"
    assert normalise("Straße") == "strasse"


def test_shingles_and_jaccard() -> None:
    assert shingles("a b c d") == {"a b c", "b c d"}
    assert shingles("a b") == {"a b"}
    assert jaccard(frozenset({"x", "y"}), frozenset({"y", "z"})) == pytest.approx(1 / 3)


def test_exact_duplicates_ignore_case_punctuation_and_spacing() -> None:
    found = find_duplicates(
        {"new": "HOW long do I have to return a pair of shoes, bought online from your store?!"}, {"old": BASE}
    )
    assert [(d.new, d.other, d.kind, d.similarity) for d in found] == [("new", "old", "exact", 1.0)]


def test_near_duplicate_above_the_threshold_and_unrelated_text_below() -> None:
    words = BASE.split()
    long_text = " ".join(words * 3)  # 48 words: one changed word at the end keeps most shingles
    near = long_text + " please"
    found = find_duplicates({"near": near, "other": "What is the capital of France"}, {"old": long_text})
    assert [(d.new, d.other, d.kind) for d in found] == [("near", "old", "near")]
    assert 0.9 <= found[0].similarity < 1.0
    # A sentence that shares a few words but not most 3-word shingles is not a duplicate.
    assert find_duplicates({"x": "How long do I have to cancel my gym membership online"}, {"old": BASE}) == []


def test_duplicates_within_the_added_set_and_edits_are_not_self_duplicates() -> None:
    found = find_duplicates({"a": BASE, "b": BASE.upper()}, {"a": BASE})
    assert [(d.new, d.other, d.kind, d.within_new) for d in found] == [("b", "a", "exact", True)]


def test_threshold_is_validated_and_empty_text_ignored() -> None:
    with pytest.raises(ValueError):
        find_duplicates({}, {}, threshold=0)
    assert find_duplicates({"a": "  ?! "}, {"b": "..."}) == []
