"""Agreement statistics against published worked examples and hand computations."""

from __future__ import annotations

import pytest

from evolab.engine.agreement import (
    bucket_label,
    bucket_score,
    cohen_kappa,
    consensus,
    fleiss_kappa,
    percent_agreement,
)

# Fleiss (1971) as worked on Wikipedia ("Fleiss' kappa"): 10 subjects, 14 raters each,
# 5 categories; each row counts the raters who chose each category.
FLEISS_TABLE = [
    [0, 0, 0, 0, 14],
    [0, 2, 6, 4, 2],
    [0, 0, 3, 5, 6],
    [0, 3, 9, 2, 0],
    [2, 2, 8, 1, 1],
    [7, 7, 0, 0, 0],
    [3, 2, 6, 3, 0],
    [2, 5, 3, 2, 2],
    [6, 5, 2, 1, 0],
    [0, 2, 2, 3, 7],
]


def _labels(row: list[int]) -> list[int]:
    return [category for category, count in enumerate(row) for _ in range(count)]


# Wikipedia's Cohen's kappa example: 50 proposals, readers A and B; 20 yes/yes, A yes and
# B no 5, A no and B yes 10, 15 no/no. p_o = 0.70, p_e = 0.50, kappa = 0.40.
COHEN_PAIRS = [("yes", "yes")] * 20 + [("yes", "no")] * 5 + [("no", "yes")] * 10 + [("no", "no")] * 15


def test_fleiss_matches_the_published_example() -> None:
    result = fleiss_kappa([_labels(row) for row in FLEISS_TABLE])
    assert result.items == 10
    assert result.percent == pytest.approx(0.378, abs=5e-4)  # P-bar
    assert result.kappa == pytest.approx(0.210, abs=5e-4)
    assert result.warning  # 0.21 < 0.4


def test_cohen_matches_the_published_example() -> None:
    result = cohen_kappa(COHEN_PAIRS)
    assert result.items == 50
    assert result.percent == pytest.approx(0.70)
    assert result.kappa == pytest.approx(0.40)
    assert result.warning is False  # exactly at the threshold is not below it


def test_fleiss_on_two_raters_is_scotts_pi() -> None:
    # Pooled shares: yes (25 + 30) / 100 = 0.55, no 0.45; chance 0.55² + 0.45² = 0.505;
    # pi = (0.70 - 0.505) / (1 - 0.505) = 0.39394 (by hand).
    result = fleiss_kappa([[a, b] for a, b in COHEN_PAIRS])
    assert result.kappa == pytest.approx(0.195 / 0.495)
    assert result.percent == pytest.approx(0.70)


def test_fleiss_with_varying_numbers_of_ratings() -> None:
    # Items: [p, p, p] P=1; [p, f] P=0; [f, f, f, f] P=1; [p] dropped (one rating).
    # P-bar = 2/3. Pooled ratings: p 4, f 5 of 9: chance = (16 + 25) / 81 = 41/81.
    items = [["p", "p", "p"], ["p", "f"], ["f", "f", "f", "f"], ["p"]]
    result = fleiss_kappa(items)
    chance = 41 / 81
    assert result.items == 3
    assert result.percent == pytest.approx(2 / 3)
    assert result.kappa == pytest.approx((2 / 3 - chance) / (1 - chance))


def test_perfect_and_opposite_raters() -> None:
    assert cohen_kappa([(True, True), (False, False)] * 5).kappa == pytest.approx(1.0)
    assert cohen_kappa([(True, False), (False, True)] * 5).kappa == pytest.approx(-1.0)
    assert fleiss_kappa([[1, 1, 1], [0, 0, 0]]).kappa == pytest.approx(1.0)


def test_kappa_is_undefined_when_every_label_is_the_same() -> None:
    assert cohen_kappa([(True, True)] * 4).kappa is None
    same = fleiss_kappa([["p", "p"], ["p", "p", "p"]])
    assert same.kappa is None and same.percent == 1.0 and not same.warning


def test_nothing_to_compare() -> None:
    assert cohen_kappa([]).items == 0 and cohen_kappa([]).kappa is None
    assert fleiss_kappa([["p"], []]).items == 0
    assert percent_agreement([["p"]]) is None


def test_percent_agreement_is_the_mean_share_of_agreeing_pairs() -> None:
    # [a, a, b]: 1 of 3 pairs agree; [a, a]: 1 of 1.
    assert percent_agreement([["a", "a", "b"], ["a", "a"]]) == pytest.approx((1 / 3 + 1) / 2)


def test_consensus_is_the_majority_and_ties_are_unresolved() -> None:
    assert consensus([True, True, False]) is True
    assert consensus([True, False]) is None
    assert consensus([1, 1, 2, 2, 3]) is None
    assert consensus([]) is None
    assert consensus([4]) == 4


def test_score_buckets() -> None:
    assert [bucket_score(s) for s in (0.0, 0.19, 0.2, 0.5, 0.99, 1.0)] == [0, 0, 1, 2, 4, 4]
    assert bucket_score(0.49, buckets=2) == 0 and bucket_score(0.5, buckets=2) == 1
    assert bucket_label(1) == "0.2-0.4"
    with pytest.raises(ValueError):
        bucket_score(1.2)

