"""The compare view's numbers of each run, and of each run against the baseline.

A completed run never changes (a run that is resumed gets a new finish time), so its
numbers are computed once from its samples and kept in Django's cache under the run's
id and finish time (and whether held-out cases were included): its per-case means, its
score per tag, and the five numbers of its latency and token box plots (`RunDigest`).
The paired comparison of a run with a baseline (a bootstrap and a permutation test,
the slow part) is kept the same way under both runs. A view reads the samples only of
the runs it finds nothing cached for, in one query; a view of cached runs reads none.
"""

from __future__ import annotations

import statistics
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Protocol

from django.core.cache import cache

from evolab.charts.compare_data import Samples, load_cases, load_samples
from evolab.engine.comparison import PairedComparison, compare_paired
from evolab.engine.statistics import Estimate, score_estimate

RESAMPLES = 1000
SEED = 0


class FinishedRun(Protocol):
    @property
    def id(self) -> int: ...

    @property
    def suite_version_id(self) -> int: ...

    @property
    def finished_at(self) -> str: ...


@dataclass(frozen=True)
class BoxNumbers:
    """A box plot from five numbers, not from every sample: 100,000 latencies would make
    a page of megabytes for the same picture. Quartiles are the "inclusive" ones
    (linear between order statistics); a whisker reaches the farthest sample within
    1.5 x IQR of its quartile (Tukey)."""

    q1: float
    median: float
    q3: float
    low: float
    high: float


def box_numbers(values: Sequence[float]) -> BoxNumbers | None:
    if not values:
        return None
    ordered = sorted(values)
    if len(ordered) == 1:
        q1 = median = q3 = ordered[0]
    else:
        q1, median, q3 = statistics.quantiles(ordered, n=4, method="inclusive")
    reach = 1.5 * (q3 - q1)
    low = next(v for v in ordered if v >= q1 - reach)
    high = next(v for v in reversed(ordered) if v <= q3 + reach)
    return BoxNumbers(q1, median, q3, low, high)


@dataclass(frozen=True)
class TagStat:
    cases: int  # scored cases with the tag
    estimate: Estimate  # mean over them, with its interval (`score_estimate`)


@dataclass(frozen=True)
class RunDigest:
    """What the compare view shows of one run, computed from its samples once."""

    means: dict[str, float]  # case key → mean of its scored samples
    tags: dict[str, TagStat]  # tag (of the run's own suite version) → its score
    latency: BoxNumbers | None
    tokens: BoxNumbers | None


def digest(samples: Samples) -> RunDigest:
    by_tag: dict[str, dict[str, list[float]]] = {}
    for key, tags in samples.tags.items():
        for tag in tags:
            by_tag.setdefault(tag, {})[key] = samples.scores[key]
    tag_stats = {
        tag: TagStat(len(by_case), estimate)
        for tag, by_case in by_tag.items()
        if (estimate := score_estimate(by_case)) is not None
    }
    return RunDigest(
        means={key: sum(values) / len(values) for key, values in samples.scores.items()},
        tags=tag_stats,
        latency=box_numbers(samples.latencies),
        tokens=box_numbers(samples.tokens),
    )


def _digest_key(run: FinishedRun, sees_holdout: bool) -> str:
    return f"charts:compare:run:{run.id}:{run.finished_at}:{int(sees_holdout)}"


def _pair_key(baseline: FinishedRun, run: FinishedRun, sees_holdout: bool) -> str:
    parts = (baseline.id, baseline.finished_at, run.id, run.finished_at, int(sees_holdout), RESAMPLES, SEED)
    return "charts:compare:pair:" + ":".join(map(str, parts))


@dataclass(frozen=True)
class RunStatistics:
    digests: Mapping[int, RunDigest]  # run id → its digest
    comparisons: list[PairedComparison | None]  # one per run after the baseline


def run_statistics(runs: Sequence[FinishedRun], *, sees_holdout: bool) -> RunStatistics:
    """Each run's digest and the paired comparison of each of `runs[1:]` with `runs[0]`:
    from the cache, else from one read of the cases and samples of the runs lacking one."""
    baseline, others = runs[0], runs[1:]
    digest_keys = {run.id: _digest_key(run, sees_holdout) for run in runs}
    pair_keys = [_pair_key(baseline, run, sees_holdout) for run in others]
    # A comparison is stored in a 1-tuple, so that "no case in common" (None) is kept too.
    cached = cache.get_many([*digest_keys.values(), *pair_keys])
    missing_pairs = [run for run, key in zip(others, pair_keys, strict=True) if key not in cached]
    wanted = {run.id: run for run in runs if digest_keys[run.id] not in cached}
    if missing_pairs:
        wanted.update({run.id: run for run in (baseline, *missing_pairs)})
    if wanted:
        cases = load_cases({run.suite_version_id for run in wanted.values()}, sees_holdout=sees_holdout)
        samples = load_samples(wanted.keys(), cases)
        fresh: dict[str, object] = {}
        for run in missing_pairs:
            comparison = compare_paired(
                samples[baseline.id].scores, samples[run.id].scores, seed=SEED, resamples=RESAMPLES
            )
            fresh[_pair_key(baseline, run, sees_holdout)] = (comparison,)
        for run_id, side in samples.items():
            fresh[digest_keys[run_id]] = digest(side)
        cache.set_many(fresh, timeout=None)
        cached.update(fresh)
    return RunStatistics(
        digests={run.id: cached[digest_keys[run.id]] for run in runs},
        comparisons=[cached[key][0] for key in pair_keys],
    )
