"""The n-gram leakage check: planted overlaps are found at 12 words, not at 11."""

from __future__ import annotations

import random
import time

import pytest

from evolab.engine.leakage import CaseText, NgramIndex, normalised_words

HOLDOUT = (
    "A customer bought the premium blender on March third and it stopped working after two weeks; "
    "they ask whether the extended warranty covers the motor or only the glass jar."
)
DEV = "Explain in one paragraph why the shipping label printer rejects addresses with a trailing apartment number."


def _index(min_words: int = 12) -> NgramIndex:
    return NgramIndex.build(
        [
            CaseText("hold-1", "holdout", HOLDOUT),
            CaseText("hold-1", "holdout", "Yes, the extended warranty covers the motor."),
            CaseText("dev-7", "dev", DEV),
        ],
        min_words,
    )


def _words(text: str, start: int, count: int) -> str:
    return " ".join(text.split()[start : start + count])


def test_a_planted_12_word_overlap_is_found() -> None:
    planted = _words(HOLDOUT, 3, 12)
    text = f"Skill: when unsure, remember that {planted}. Then answer politely."
    [overlap] = _index().scan(text)
    assert (overlap.case_key, overlap.split, overlap.words) == ("hold-1", "holdout", 12)
    assert overlap.excerpt == " ".join(normalised_words(planted))


def test_an_11_word_overlap_is_not_flagged() -> None:
    text = f"Note: {_words(HOLDOUT, 3, 11)} — and nothing else from the case."
    assert _index().scan(text) == []


def test_unrelated_text_is_not_flagged() -> None:
    text = "Always greet the customer, restate the question, and cite the policy section you relied on. " * 5
    assert _index().scan(text) == []


def test_normalisation_sees_through_case_punctuation_and_line_breaks() -> None:
    words = DEV.split()[:14]
    disguised = "\n".join(w.upper() + "," for w in words)
    [overlap] = _index().scan(f"guidance:\n{disguised}")
    assert overlap.case_key == "dev-7" and overlap.words == 14


def test_reports_the_longest_overlap_per_case() -> None:
    text = f"{_words(HOLDOUT, 0, 20)} unrelated filler words here {_words(HOLDOUT, 5, 13)}"
    [overlap] = _index().scan(text)
    assert overlap.words == 20


def test_overlaps_do_not_run_across_passages() -> None:
    # Last 6 words of the input followed by the first 6 of the target: 12 words in a
    # row across the two passages, 6 within each.
    text = f"{_words(HOLDOUT, len(HOLDOUT.split()) - 6, 6)} Yes, the extended warranty covers the"
    assert _index().scan(text) == []


def test_threshold_is_configurable() -> None:
    text = _words(HOLDOUT, 3, 8)
    assert _index(min_words=8).scan(text)[0].words == 8
    with pytest.raises(ValueError):
        NgramIndex.build([], 1)


def test_scan_is_fast_on_a_large_suite() -> None:
    rng = random.Random(7)
    vocabulary = [f"w{i}" for i in range(5000)]
    passages = [
        CaseText(f"case-{i}", "dev", " ".join(rng.choice(vocabulary) for _ in range(150))) for i in range(2000)
    ]
    started = time.perf_counter()
    index = NgramIndex.build(passages)
    built = time.perf_counter() - started
    text = " ".join(rng.choice(vocabulary) for _ in range(20000)) + " " + passages[1234].text
    started = time.perf_counter()
    found = index.scan(text)
    scanned = time.perf_counter() - started
    assert [o.case_key for o in found] == ["case-1234"] and found[0].words == 150
    assert index.ngrams == 2000 * (150 - 11)
    # Generous bounds for a shared 2-core machine; measured ≈ 0.4 s and ≈ 0.05 s.
    assert built < 5 and scanned < 2
