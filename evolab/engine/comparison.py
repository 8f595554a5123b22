"""Is a candidate harness better than its parent, or is the difference noise?

Both harnesses are scored on the same eval cases, so the comparison is paired: each case
contributes one difference, candidate case mean minus parent case mean. As in
`statistics.py`, samples of a case are averaged first ("cluster by case"), because they
share the case's difficulty and are not independent.

The resampling (bootstrap interval, sampled sign-flip test) uses numpy: in pure Python
it cost about half a second per comparison of 5,500 cases, and the compare view makes
seven of them; drawn as integer index or sign matrices in bounded blocks it costs a few
milliseconds. numpy is a leaf dependency like the standard library (no Django), and each
`seed` still gives the same numbers on every run.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from itertools import chain
from operator import getitem
from statistics import NormalDist
from typing import Any

import numpy as np

CONFIDENCE = 0.95

# Case means are ratios of small sums, so two differences that should be equal can differ
# in the last bits; anything closer than this counts as equal (a tie, or "as extreme").
_TOLERANCE = 1e-9

# Up to 2**16 sign patterns are enumerated exactly; beyond that they are sampled.
_EXACT_PERMUTATION_LIMIT = 16

# Resamples are drawn a block of rows at a time, at most 256 rows and at most this many
# cells (8 bytes each), so memory stays bounded (about 8 MiB) however many cases there are.
_BLOCK_ROWS = 256
_BLOCK_CELLS = 1 << 20

# Resampling draws counts per distinct value instead of per case when there are at least
# this many cases per distinct value (a count draw costs several index draws).
_GROUPED_RATIO = 8


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
    parent_cases = _Cases.of(parent_scores)
    candidate_cases = _Cases.of(candidate_scores)
    differences = candidate_cases.means - parent_cases.means
    delta = float(differences.mean())
    parent_mean = float(parent_cases.means.mean())
    low, high = _bootstrap_interval(differences, seed=seed, resamples=resamples, confidence=confidence)

    single_pass_fail = bool(
        (parent_cases.lengths == 1).all()
        and (candidate_cases.lengths == 1).all()
        and np.isin(parent_cases.flat, (0.0, 1.0)).all()
        and np.isin(candidate_cases.flat, (0.0, 1.0)).all()
    )
    if single_pass_fail:
        test = "mcnemar"
        p_value = _mcnemar_p_value(
            parent_only=int((differences < 0).sum()), candidate_only=int((differences > 0).sum())
        )
    else:
        test = "permutation"
        p_value = _sign_flip_p_value(differences, seed=seed, resamples=resamples)

    sd = float(differences.std(ddof=1)) if n >= 2 else 0.0
    if sd <= _TOLERANCE:
        within = parent_cases.within_case_variance()
        if within is not None and within[0] > 0:
            variance, k = within
            sd = math.sqrt(2 * variance / k)
        else:
            sd = math.sqrt(2 * parent_mean * (1 - parent_mean))

    return PairedComparison(
        n=n,
        k_parent=float(parent_cases.lengths.mean()),
        k_candidate=float(candidate_cases.lengths.mean()),
        parent_mean=parent_mean,
        candidate_mean=float(candidate_cases.means.mean()),
        delta=delta,
        low=low,
        high=high,
        confidence=confidence,
        p_value=p_value,
        test=test,
        wins=int((differences > _TOLERANCE).sum()),
        losses=int((differences < -_TOLERANCE).sum()),
        ties=int((np.abs(differences) <= _TOLERANCE).sum()),
        noise_floor=_noise_floor(parent_cases, confidence),
        mde=minimum_detectable_effect(sd, n),
    )


@dataclass(frozen=True)
class _Cases:
    """Scored cases as arrays: every sample in one flat array, and per case its sample
    count and mean. Built once per side, so that no step loops over samples in Python."""

    lengths: np.ndarray
    flat: np.ndarray
    means: np.ndarray

    @classmethod
    def of(cls, scored: Sequence[Sequence[float]]) -> _Cases:
        """`scored`: one non-empty sequence of scores per case."""
        lengths = np.fromiter(map(len, scored), dtype=np.int64, count=len(scored))
        flat = np.fromiter(chain.from_iterable(scored), dtype=float, count=int(lengths.sum()))
        if not len(lengths):
            return cls(lengths, flat, np.empty(0))
        starts = np.concatenate(([0], np.cumsum(lengths)[:-1]))
        return cls(lengths, flat, np.add.reduceat(flat, starts) / lengths)

    def within_case_variance(self) -> tuple[float, float] | None:
        """Pooled within-case variance and the harmonic mean of samples per case."""
        degrees_of_freedom = int((self.lengths - 1).sum())
        if degrees_of_freedom == 0:
            return None
        # A single sample is its own mean, so it adds nothing to the squares.
        squares = float(((self.flat - np.repeat(self.means, self.lengths)) ** 2).sum())
        harmonic_k = len(self.lengths) / float((1 / self.lengths).sum())
        return squares / degrees_of_freedom, harmonic_k


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
    return _noise_floor(_Cases.of([values for values in scores_by_case.values() if values]), confidence)


def _noise_floor(cases: _Cases, confidence: float) -> float | None:
    within = cases.within_case_variance()
    if within is None:
        return None
    variance, k = within
    z = NormalDist().inv_cdf((1 + confidence) / 2)
    return z * math.sqrt(2 * variance / (k * len(cases.lengths)))


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
    every = np.fromiter(chain.from_iterable(scores_by_case.values()), dtype=float)
    # NaN compares false on both sides, so it fails the check too.
    if ((every >= 0.0) & (every <= 1.0)).all():
        return
    for key, values in scores_by_case.items():  # find the case to name
        for score in values:
            # Written this way round so that NaN, which compares false, is rejected too.
            if not 0.0 <= score <= 1.0:
                raise ValueError(f"{side} score {score!r} for case {key!r} is not within [0, 1]")


def _check_confidence(confidence: float) -> None:
    if not 0.0 < confidence < 1.0:
        raise ValueError("confidence must be between 0 and 1")


def _bootstrap_interval(
    differences: np.ndarray, *, seed: int, resamples: int, confidence: float
) -> tuple[float, float]:
    """Percentile interval of the mean of `differences` resampled with replacement.

    A resample's mean depends only on how often each distinct value is drawn. Scores from
    pass/fail samples leave a handful of distinct differences (7 with three samples per
    case), so those counts are drawn instead, multinomial with the values' frequencies:
    the same bootstrap distribution, one draw per distinct value instead of one per case.
    With many distinct values each resample draws n case indices.
    """
    n = len(differences)
    values, counts = np.unique(differences, return_counts=True)
    rng = np.random.default_rng(seed)
    means = np.empty(resamples)
    if len(values) * _GROUPED_RATIO <= n:
        for start, rows in _blocks(resamples, len(values)):
            means[start : start + rows] = rng.multinomial(n, counts / n, size=rows) @ values / n
    else:
        for start, rows in _blocks(resamples, n):
            means[start : start + rows] = differences[rng.integers(0, n, size=(rows, n), dtype=np.int32)].mean(axis=1)
    means.sort()
    tail = (1 - confidence) / 2
    return _percentile(means, tail), _percentile(means, 1 - tail)


def _blocks(resamples: int, width: int) -> list[tuple[int, int]]:
    """(first resample, rows) of each block of a `resamples` x `width` matrix."""
    rows = max(1, min(_BLOCK_ROWS, _BLOCK_CELLS // max(width, 1)))
    return [(start, min(rows, resamples - start)) for start in range(0, resamples, rows)]


def _percentile(ordered: Sequence[float] | np.ndarray, q: float) -> float:
    """Linear interpolation between order statistics (numpy's default method)."""
    position = q * (len(ordered) - 1)
    below = math.floor(position)
    above = min(below + 1, len(ordered) - 1)
    return float(ordered[below] + (ordered[above] - ordered[below]) * (position - below))


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

    Up to `_EXACT_PERMUTATION_LIMIT` non-zero differences every sign pattern is counted;
    beyond, `resamples` random patterns are, and the p-value is (extreme + 1) /
    (resamples + 1), never zero.
    """
    nonzero = [d for d in differences if abs(d) > _TOLERANCE]
    count = len(nonzero)
    if count == 0:
        return 1.0
    threshold = abs(math.fsum(nonzero)) - _TOLERANCE
    if count <= _EXACT_PERMUTATION_LIMIT:
        return _exact_sign_flip_count(nonzero, threshold) / 2**count
    # As in the bootstrap: with few distinct differences, how many copies of each keep
    # their sign is binomial(copies, 1/2), and the signed sum follows from those counts.
    # Otherwise each row of a block is a random ±1 pattern, its signed sum a
    # matrix-vector product.
    values, copies = np.unique(np.asarray(nonzero), return_counts=True)
    rng = np.random.default_rng(seed)
    extreme = 0
    if len(values) * _GROUPED_RATIO <= count:
        for _, rows in _blocks(resamples, len(values)):
            kept = rng.binomial(copies, 0.5, size=(rows, len(values)))
            extreme += int(np.count_nonzero(np.abs((2 * kept - copies) @ values) >= threshold))
    else:
        signed = np.asarray(nonzero)
        for _, rows in _blocks(resamples, count):
            signs = rng.integers(0, 2, size=(rows, count), dtype=np.int8) * 2 - 1
            extreme += int(np.count_nonzero(np.abs(signs @ signed) >= threshold))
    return (extreme + 1) / (resamples + 1)


def _exact_sign_flip_count(nonzero: Sequence[float], threshold: float) -> int:
    """How many of the 2**len(nonzero) sign patterns have |signed sum| >= threshold.

    A sign pattern is an integer whose bit i is set when difference i keeps its sign. Its
    signed sum is read from one lookup table per byte (the 256 signed sums of 8
    differences), so a pattern costs one addition per 8 differences.
    """
    tables = []
    for start in range(0, len(nonzero), 8):
        table = [0.0]
        for difference in nonzero[start : start + 8]:
            table = [s - difference for s in table] + [s + difference for s in table]
        tables.append(table)
    width = len(tables)
    return sum(
        1
        for pattern in range(2 ** len(nonzero))
        if abs(sum(map(getitem, tables, pattern.to_bytes(width, "little")))) >= threshold
    )
