"""Statistics of one eval case across the runs that scored it, and whether it is flaky.

A case is scored by many runs, each with k samples. Across runs the harness changes, so
differences between runs say little about the case itself; within one run every sample
got the same harness, backend and case, so samples that disagree there mean the case (or
its grader) gives different verdicts to the same system. That is what "flaky" measures:

* a run *disagrees* on the case when it has at least two scored samples and some of
  them pass while others fail;
* the case is **flaky** when, among its runs with k >= 2, the share of disagreeing runs
  reaches `disagree_fraction`, or the mean within-run variance of the sample scores
  reaches `variance` (for graders with partial credit, where nothing is pass/fail).

Runs with a single sample carry no evidence either way and are left out of both tests.
Pure Python, no Django: the case page passes plain numbers in.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

# A sample with no recorded verdict passes when its score reaches this.
PASS_SCORE = 1.0
# z for a 95% Wilson interval on the pass rate.
_Z95 = 1.959963984540054


@dataclass(frozen=True)
class Sample:
    score: float
    passed: bool | None = None

    @property
    def passes(self) -> bool:
        return self.passed if self.passed is not None else self.score >= PASS_SCORE


@dataclass(frozen=True)
class FlakyThresholds:
    disagree_fraction: float = 0.25  # share of multi-sample runs whose samples disagree
    # Mean within-run (population) variance of sample scores. For pass/fail scores a
    # disagreeing run of k=2 has variance 0.25, so 0.1 is only reached once about 40% of
    # runs disagree: the share test above flags those first; this one is for partial credit.
    variance: float = 0.1

    def __post_init__(self) -> None:
        if not 0 < self.disagree_fraction <= 1:
            raise ValueError("disagree_fraction must be in (0, 1]")
        if not 0 < self.variance <= 0.25:
            # Scores are in 0..1, so no variance exceeds 0.25.
            raise ValueError("variance must be in (0, 0.25]")


@dataclass(frozen=True)
class CaseStats:
    runs: int  # runs with at least one scored sample
    samples: int  # scored samples over all runs
    mean_score: float | None
    pass_rate: float | None
    pass_low: float | None  # 95% Wilson interval of the pass rate over samples
    pass_high: float | None
    variance: float | None  # population variance of every sample score
    multi_sample_runs: int  # runs with k >= 2: the only evidence about flakiness
    disagreeing_runs: int  # of those, runs with both a pass and a fail
    within_run_variance: float | None  # mean over multi-sample runs
    flaky: bool
    reasons: tuple[str, ...]  # why it is flagged, in words; empty when it is not

    @property
    def disagree_fraction(self) -> float | None:
        return self.disagreeing_runs / self.multi_sample_runs if self.multi_sample_runs else None


def _variance(values: Sequence[float]) -> float:
    mean = sum(values) / len(values)
    return sum((value - mean) ** 2 for value in values) / len(values)


def wilson_interval(successes: int, n: int) -> tuple[float, float]:
    """95% Wilson score interval of a proportion (stays inside 0..1, non-degenerate at 0 and n)."""
    if n <= 0:
        raise ValueError("n must be positive")
    p = successes / n
    z2 = _Z95 * _Z95
    denominator = 1 + z2 / n
    centre = (p + z2 / (2 * n)) / denominator
    margin = _Z95 * math.sqrt(p * (1 - p) / n + z2 / (4 * n * n)) / denominator
    return max(0.0, centre - margin), min(1.0, centre + margin)


def case_stats(runs: Sequence[Sequence[Sample]], thresholds: FlakyThresholds | None = None) -> CaseStats:
    """Statistics of one case from its scored samples, grouped by run (a run's list may be empty)."""
    thresholds = thresholds or FlakyThresholds()
    scored = [list(samples) for samples in runs if samples]
    every = [sample for samples in scored for sample in samples]
    for sample in every:
        if not 0.0 <= sample.score <= 1.0 or math.isnan(sample.score):
            raise ValueError(f"scores are in 0..1, got {sample.score!r}")
    if not every:
        return CaseStats(0, 0, None, None, None, None, None, 0, 0, None, False, ())
    passes = sum(1 for sample in every if sample.passes)
    low, high = wilson_interval(passes, len(every))
    multi = [samples for samples in scored if len(samples) >= 2]
    disagreeing = sum(1 for samples in multi if len({sample.passes for sample in samples}) == 2)
    within = sum(_variance([s.score for s in samples]) for samples in multi) / len(multi) if multi else None

    reasons: list[str] = []
    if multi and disagreeing / len(multi) >= thresholds.disagree_fraction:
        reasons.append(
            f"samples disagreed (some passed, some failed) in {disagreeing} of {len(multi)} runs with "
            f"two or more samples ({disagreeing / len(multi):.0%} ≥ {thresholds.disagree_fraction:.0%})"
        )
    if within is not None and within >= thresholds.variance:
        reasons.append(
            f"mean within-run variance of sample scores is {within:.3f} (≥ {thresholds.variance:.3f})"
        )
    return CaseStats(
        runs=len(scored),
        samples=len(every),
        mean_score=sum(s.score for s in every) / len(every),
        pass_rate=passes / len(every),
        pass_low=low,
        pass_high=high,
        variance=_variance([s.score for s in every]),
        multi_sample_runs=len(multi),
        disagreeing_runs=disagreeing,
        within_run_variance=within,
        flaky=bool(reasons),
        reasons=tuple(reasons),
    )
