"""Is a candidate harness better than its parent, or is the difference noise?

Both harnesses are scored on the same eval cases, so the comparison is paired: each case
contributes one difference, candidate case mean minus parent case mean. As in
`statistics.py`, samples of a case are averaged first ("cluster by case"), because they
share the case's difficulty and are not independent.

Standard library only: this runs wherever a proposal is scored, and the resampling below
is written so that 2,000 cases with 2,000 resamples take a fraction of a second.
"""

from __future__ import annotations

import dataclasses
import math
import random
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from operator import getitem
from statistics import NormalDist
from typing import Any

CONFIDENCE = 0.95

# Case means are ratios of small sums, so two differences that should be equal can differ
# in the last bits; anything closer than this counts as equal (a tie, or "as extreme").
_TOLERANCE = 1e-9

# Up to 2**16 sign patterns are enumerated exactly; beyond that they are sampled.
_EXACT_PERMUTATION_LIMIT = 16


@dataclass(frozen=True)
class PairedComparison:
    n: int  # paired cases
    k_parent: float  # mean samples per case
    k_candidate: float
    parent_mean: float
    candidate_mean: float
    delta: float  # mean of per-case differences, candidate - parent
    low: float  # paired bootstrap percentile interval of delta
    high: float
    confidence: float
    p_value: float  # two-sided
    test: str  # "mcnemar" or "permutation"
    wins: int  # cases where the candidate's case mean is higher
    losses: int
    ties: int
    noise_floor: float | None  # |delta| two runs of the parent itself rarely exceed
    mde: float  # minimum detectable effect at alpha 0.05, power 0.8

    def as_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


def compare_paired(
    parent: Mapping[str, Sequence[float]],
    candidate: Mapping[str, Sequence[float]],
    *,
    seed: int = 0,
    resamples: int = 2000,
    confidence: float = CONFIDENCE,
) -> PairedComparison | None:
    """Compare candidate with parent on the cases both have scored; None if there is none.

    Each mapping is `case key -> scores (0..1) of its finished samples`. Cases missing or
    unscored on either side are left out. The interval is a paired bootstrap percentile
    interval, the p-value McNemar's exact test when every paired case has a single
    pass/fail sample on both sides, and a paired sign-flip permutation test otherwise.
    The same seed gives the same interval and p-value.

    The minimum detectable effect uses the sample sd of the per-case differences. When
    that is unavailable or zero (fewer than two cases, or no case differs) it falls back
    to the parent's run-to-run noise, sqrt(2 s² / k) with s² its pooled within-case
    variance, and failing that to two Bernoulli draws at the parent mean,
    sqrt(2 p (1 - p)).
    """
    _check_scores(parent, "parent")
    _check_scores(candidate, "candidate")
    if resamples < 1:
        raise ValueError("resamples must be at least 1")
    _check_confidence(confidence)
    keys = sorted(key for key, values in parent.items() if values and candidate.get(key))
    n = len(keys)
    if n == 0:
        return None
    parent_scores = [parent[key] for key in keys]
    candidate_scores = [candidate[key] for key in keys]
    parent_means = [sum(values) / len(values) for values in parent_scores]
    candidate_means = [sum(values) / len(values) for values in candidate_scores]
    differences = [c - p for p, c in zip(parent_means, candidate_means, strict=True)]
    delta = sum(differences) / n
    parent_mean = sum(parent_means) / n
    low, high = _bootstrap_interval(differences, seed=seed, resamples=resamples, confidence=confidence)

    single_pass_fail = all(
        len(p) == 1 and len(c) == 1 and p[0] in (0.0, 1.0) and c[0] in (0.0, 1.0)
        for p, c in zip(parent_scores, candidate_scores, strict=True)
    )
    if single_pass_fail:
        test = "mcnemar"
        p_value = _mcnemar_p_value(
            parent_only=sum(1 for d in differences if d < 0), candidate_only=sum(1 for d in differences if d > 0)
        )
    else:
        test = "permutation"
        p_value = _sign_flip_p_value(differences, seed=seed, resamples=resamples)

    sd = math.sqrt(sum((d - delta) ** 2 for d in differences) / (n - 1)) if n >= 2 else 0.0
    if sd <= _TOLERANCE:
        within = _within_case_variance(parent_scores)
        if within is not None and within[0] > 0:
            variance, k = within
            sd = math.sqrt(2 * variance / k)
        else:
            sd = math.sqrt(2 * parent_mean * (1 - parent_mean))

    return PairedComparison(
        n=n,
        k_parent=sum(len(values) for values in parent_scores) / n,
        k_candidate=sum(len(values) for values in candidate_scores) / n,
        parent_mean=parent_mean,
        candidate_mean=sum(candidate_means) / n,
        delta=delta,
        low=low,
        high=high,
        confidence=confidence,
        p_value=p_value,
        test=test,
        wins=sum(1 for d in differences if d > _TOLERANCE),
        losses=sum(1 for d in differences if d < -_TOLERANCE),
        ties=sum(1 for d in differences if abs(d) <= _TOLERANCE),
        noise_floor=noise_floor(dict(zip(keys, parent_scores, strict=True)), confidence),
        mde=minimum_detectable_effect(sd, n),
    )


def noise_floor(scores_by_case: Mapping[str, Sequence[float]], confidence: float = CONFIDENCE) -> float | None:
    """The |delta| that two runs of this very harness on the same cases exceed only rarely.

    Two runs share the cases, so only sampling noise separates them. With s² the pooled
    within-case variance (from cases with at least two samples), k samples per case and
    n cases, a run's mean has variance s² / (k n) around the harness's true mean, and the
    difference of two independent runs 2 s² / (k n). The floor is
    z_{(1 + confidence) / 2} · sqrt(2 s² / (k n)): at confidence 0.95, two runs of an
    identical harness differ by more only 5% of the time. With unequal sample counts k is
    their harmonic mean, which keeps the variance exact. None when no case has two samples.
    """
    _check_scores(scores_by_case, "parent")
    _check_confidence(confidence)
    scored = [values for values in scores_by_case.values() if values]
    within = _within_case_variance(scored)
    if within is None:
        return None
    variance, k = within
    z = NormalDist().inv_cdf((1 + confidence) / 2)
    return z * math.sqrt(2 * variance / (k * len(scored)))


def minimum_detectable_effect(sd_of_differences: float, n: int, *, alpha: float = 0.05, power: float = 0.8) -> float:
    """Smallest true delta a two-sided test at `alpha` detects with probability `power`.

    (z_{1 - alpha / 2} + z_{power}) · sd / sqrt(n), for n paired cases whose per-case
    differences have standard deviation `sd_of_differences`.
    """
    if n < 1:
        raise ValueError("n must be at least 1")
    if sd_of_differences < 0:
        raise ValueError("sd_of_differences must not be negative")
    normal = NormalDist()
    return (normal.inv_cdf(1 - alpha / 2) + normal.inv_cdf(power)) * sd_of_differences / math.sqrt(n)


def _check_scores(scores_by_case: Mapping[str, Sequence[float]], side: str) -> None:
    for key, values in scores_by_case.items():
        for score in values:
            # Written this way round so that NaN, which compares false, is rejected too.
            if not 0.0 <= score <= 1.0:
                raise ValueError(f"{side} score {score!r} for case {key!r} is not within [0, 1]")


def _check_confidence(confidence: float) -> None:
    if not 0.0 < confidence < 1.0:
        raise ValueError("confidence must be between 0 and 1")


def _within_case_variance(scored: Sequence[Sequence[float]]) -> tuple[float, float] | None:
    """Pooled within-case variance and the harmonic mean of samples per case."""
    squares = 0.0
    degrees_of_freedom = 0
    for values in scored:
        if len(values) >= 2:
            mean = sum(values) / len(values)
            squares += sum((value - mean) ** 2 for value in values)
            degrees_of_freedom += len(values) - 1
    if degrees_of_freedom == 0:
        return None
    harmonic_k = len(scored) / sum(1 / len(values) for values in scored)
    return squares / degrees_of_freedom, harmonic_k


def _bootstrap_interval(
    differences: Sequence[float], *, seed: int, resamples: int, confidence: float
) -> tuple[float, float]:
    rng = random.Random(seed)
    n = len(differences)
    means = sorted(sum(rng.choices(differences, k=n)) / n for _ in range(resamples))
    tail = (1 - confidence) / 2
    return _percentile(means, tail), _percentile(means, 1 - tail)


def _percentile(ordered: Sequence[float], q: float) -> float:
    """Linear interpolation between order statistics (numpy's default method)."""
    position = q * (len(ordered) - 1)
    below = math.floor(position)
    above = min(below + 1, len(ordered) - 1)
    return ordered[below] + (ordered[above] - ordered[below]) * (position - below)


def _mcnemar_p_value(*, parent_only: int, candidate_only: int) -> float:
    """Exact two-sided McNemar test: a binomial test of the discordant pairs at 1/2."""
    discordant = parent_only + candidate_only
    if discordant == 0:
        return 1.0
    tail = sum(math.comb(discordant, i) for i in range(min(parent_only, candidate_only) + 1))
    # Integer true division is correctly rounded, however large 2 ** discordant is.
    return min(1.0, 2 * tail / 2**discordant)


def _sign_flip_p_value(differences: Sequence[float], *, seed: int, resamples: int) -> float:
    """Two-sided paired permutation test: under no effect, each difference's sign is a coin flip.

    A sign pattern is an integer whose bit i is set when difference i keeps its sign. Its
    signed sum is read from one lookup table per byte (the 256 signed sums of 8
    differences), so a pattern over 2,000 differences costs 250 additions, not 2,000.
    """
    nonzero = [d for d in differences if abs(d) > _TOLERANCE]
    count = len(nonzero)
    if count == 0:
        return 1.0
    tables = []
    for start in range(0, count, 8):
        table = [0.0]
        for difference in nonzero[start : start + 8]:
            table = [s - difference for s in table] + [s + difference for s in table]
        tables.append(table)
    width = len(tables)
    threshold = abs(math.fsum(nonzero)) - _TOLERANCE

    def as_extreme(pattern: int) -> bool:
        return abs(sum(map(getitem, tables, pattern.to_bytes(width, "little")))) >= threshold

    if count <= _EXACT_PERMUTATION_LIMIT:
        return sum(1 for pattern in range(2**count) if as_extreme(pattern)) / 2**count
    rng = random.Random(seed)
    extreme = sum(1 for _ in range(resamples) if as_extreme(rng.getrandbits(count)))
    return (extreme + 1) / (resamples + 1)
