"""Per-case statistics and flaky detection against values worked out by hand."""

from __future__ import annotations

import pytest

from evolab.engine.case_stats import FlakyThresholds, Sample, case_stats, wilson_interval


def runs_of(*runs: list[float]) -> list[list[Sample]]:
    return [[Sample(score) for score in run] for run in runs]


def test_no_scored_sample_gives_empty_stats() -> None:
    stats = case_stats([[], []])
    assert (stats.runs, stats.samples, stats.pass_rate, stats.flaky) == (0, 0, None, False)


def test_pass_rate_mean_and_variance_over_every_sample() -> None:
    stats = case_stats(runs_of([1, 1, 0], [1, 0, 0], [1]))
    assert stats.runs == 3
    assert stats.samples == 7
    assert stats.pass_rate == pytest.approx(4 / 7)
    assert stats.mean_score == pytest.approx(4 / 7)
    assert stats.variance == pytest.approx((4 / 7) * (3 / 7))  # Bernoulli p(1-p)
    assert stats.pass_low is not None and stats.pass_high is not None
    assert stats.pass_low < 4 / 7 < stats.pass_high


def test_wilson_interval_known_values() -> None:
    low, high = wilson_interval(4, 7)
    assert low == pytest.approx(0.2504, abs=1e-4)
    assert high == pytest.approx(0.8418, abs=1e-4)
    assert wilson_interval(0, 5)[0] == 0.0
    assert wilson_interval(5, 5)[1] == 1.0


def test_disagreeing_runs_make_a_case_flaky_and_say_why() -> None:
    # Two of four multi-sample runs disagree: 50% >= 25%. The single-sample run is ignored.
    stats = case_stats(runs_of([1, 0], [1, 1], [0, 0, 1], [0, 0], [1]))
    assert stats.multi_sample_runs == 4
    assert stats.disagreeing_runs == 2
    assert stats.disagree_fraction == pytest.approx(0.5)
    # Within-run variances 0.25, 0, 2/9, 0 -> mean 0.118...
    assert stats.within_run_variance == pytest.approx((0.25 + 2 / 9) / 4)
    assert stats.flaky
    assert "2 of 4 runs" in stats.reasons[0]


def test_below_both_thresholds_is_not_flaky() -> None:
    # One disagreeing run in five: 20% < 25%; within-run variance 0.25 / 5 = 0.05 < 0.1.
    stats = case_stats(runs_of([1, 0], [1, 1], [1, 1], [0, 0], [1, 1]))
    assert stats.disagreeing_runs == 1
    assert not stats.flaky
    assert stats.reasons == ()


def test_single_sample_runs_never_make_a_case_flaky() -> None:
    stats = case_stats(runs_of([1], [0], [1], [0]))
    assert stats.multi_sample_runs == 0
    assert stats.within_run_variance is None
    assert not stats.flaky


def test_partial_credit_is_flagged_by_within_run_variance() -> None:
    # No sample reaches 1.0, so nothing passes and nothing disagrees; the spread is real.
    stats = case_stats(runs_of([0.9, 0.2], [0.8, 0.1]))
    assert stats.disagreeing_runs == 0
    assert stats.within_run_variance == pytest.approx((0.1225 + 0.1225) / 2)
    assert stats.flaky
    assert "variance" in stats.reasons[0]


def test_thresholds_are_configurable() -> None:
    runs = runs_of([1, 0], [1, 1], [1, 1], [0, 0], [1, 1])
    assert case_stats(runs, FlakyThresholds(disagree_fraction=0.2)).flaky
    assert not case_stats(runs, FlakyThresholds(disagree_fraction=0.5)).flaky


def test_recorded_verdict_wins_over_the_score() -> None:
    stats = case_stats([[Sample(0.6, passed=True), Sample(0.6, passed=False)]])
    assert stats.disagreeing_runs == 1
    assert stats.pass_rate == pytest.approx(0.5)


@pytest.mark.parametrize("bad", [-0.1, 1.5, float("nan")])
def test_scores_outside_zero_one_are_refused(bad: float) -> None:
    with pytest.raises(ValueError):
        case_stats([[Sample(bad)]])


def test_thresholds_are_validated() -> None:
    with pytest.raises(ValueError):
        FlakyThresholds(disagree_fraction=0)
    with pytest.raises(ValueError):
        FlakyThresholds(variance=0.3)
