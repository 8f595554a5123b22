"""Scores with their uncertainty.

A run scores each case k times. Samples of one case are not independent (they share the
case's difficulty), so intervals are computed over per-case means ("cluster by case"):
with n cases the estimate has n - 1 degrees of freedom, whatever k is. With one sample
per case and a pass/fail score, the Wilson interval is used instead, because the normal
approximation collapses to a zero-width interval at 0% and 100%.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from scipy import stats

CONFIDENCE = 0.95


@dataclass(frozen=True)
class Estimate:
    mean: float
    low: float
    high: float
    n: int  # cases
    k: float  # mean samples per case

    @property
    def half_width(self) -> float:
        return (self.high - self.low) / 2


def _wilson(successes: float, n: int, confidence: float) -> tuple[float, float]:
    z = float(stats.norm.ppf(0.5 + confidence / 2))
    p = successes / n
    denominator = 1 + z * z / n
    centre = (p + z * z / (2 * n)) / denominator
    margin = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / denominator
    return max(0.0, centre - margin), min(1.0, centre + margin)


def score_estimate(scores_by_case: Mapping[str, Sequence[float]], confidence: float = CONFIDENCE) -> Estimate | None:
    """Mean score over cases (each case weighted once) with its confidence interval.

    `scores_by_case` maps a case key to the scores (0..1) of its finished samples;
    cases with no finished sample are left out. None when nothing is scored yet.
    """
    per_case = [sum(values) / len(values) for values in scores_by_case.values() if values]
    n = len(per_case)
    if n == 0:
        return None
    samples = sum(len(values) for values in scores_by_case.values() if values)
    mean = sum(per_case) / n
    binary_single = samples == n and all(value in (0.0, 1.0) for value in per_case)
    if binary_single:
        low, high = _wilson(sum(per_case), n, confidence)
    elif n == 1:
        low, high = 0.0, 1.0
    else:
        sd = math.sqrt(sum((value - mean) ** 2 for value in per_case) / (n - 1))
        margin = float(stats.t.ppf(0.5 + confidence / 2, n - 1)) * sd / math.sqrt(n)
        low, high = max(0.0, mean - margin), min(1.0, mean + margin)
    return Estimate(mean=mean, low=low, high=high, n=n, k=samples / n)
