from __future__ import annotations

import pytest

from evolab.engine.statistics import score_estimate


def test_nothing_scored_gives_no_estimate() -> None:
    assert score_estimate({}) is None
    assert score_estimate({"a": []}) is None


def test_single_pass_fail_samples_use_wilson_and_never_collapse() -> None:
    estimate = score_estimate({f"c{i}": [1.0] for i in range(20)})
    assert estimate is not None
    assert estimate.mean == 1.0
    assert estimate.high == 1.0
    assert estimate.low == pytest.approx(0.8389, abs=1e-3)  # Wilson 95% for 20/20


def test_samples_are_clustered_by_case() -> None:
    # Ten cases, three samples each: the interval has n = 10 cases, not 30 samples.
    scores = {f"c{i}": [1.0, 1.0, 0.0] if i % 2 else [0.0, 0.0, 1.0] for i in range(10)}
    estimate = score_estimate(scores)
    assert estimate is not None
    assert estimate.n == 10 and estimate.k == 3
    assert estimate.mean == pytest.approx(0.5)
    # per-case means alternate 1/3 and 2/3: sd = 0.1757, t(9) = 2.262 → ±0.1257
    assert estimate.half_width == pytest.approx(0.1257, abs=1e-3)


def test_a_single_case_has_an_uninformative_interval() -> None:
    estimate = score_estimate({"only": [1.0, 0.0]})
    assert estimate is not None
    assert (estimate.low, estimate.high) == (0.0, 1.0)
