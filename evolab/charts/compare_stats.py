"""The compare view's numbers of each run, and of each run against the baseline.

A completed run never changes (a run that is resumed gets a new finish time), so its
numbers are computed once from its samples and kept in Django's cache under the run's
id and finish time (and whether held-out cases were included): its per-case scores and
means, its score per tag, and the five numbers of its latency and token box plots
(`RunDigest`). The worker computes both digests of a run as soon as it completes
(`store_run_digests`, from the `charts.digest_run` task), so the web process rarely has
to. The paired comparison of a run with a baseline (a bootstrap and a permutation test)
is computed from the two digests' scores and kept the same way under both runs. A view
reads the samples only of the runs it finds no digest for, in one query; a view of
digested runs reads none, even for a pair never compared before.
"""

from __future__ import annotations

import statistics
from array import array
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from itertools import chain
from typing import Protocol

from django.core.cache import cache

from evolab.charts.compare_data import Samples, load_cases, load_samples
from evolab.engine.comparison import PairedComparison, compare_paired
from evolab.engine.statistics import Estimate, score_estimate
from evolab.runs.models import Run, RunStatus

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
    # Every case's scored samples, in `means`' key order, packed: one bytes object each
    # instead of 20,000 floats and lists, which unpickled on every view would wake the
    # garbage collector (a view of 8 digests went from ~90 ms to ~260 ms when it ran).
    sample_counts: bytes  # array("I")
    sample_scores: bytes  # array("d")

    def scores(self) -> dict[str, list[float]]:
        """case key → its scored samples: the paired comparisons' input."""
        counts = array("I", self.sample_counts)
        flat = array("d", self.sample_scores)
        out: dict[str, list[float]] = {}
        start = 0
        for key, count in zip(self.means, counts, strict=True):
            out[key] = flat[start : start + count].tolist()
            start += count
        return out
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
        sample_counts=array("I", map(len, samples.scores.values())).tobytes(),
        sample_scores=array("d", chain.from_iterable(samples.scores.values())).tobytes(),
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
    from the cache, else from one read of the cases and samples of the runs lacking a
    digest, and the digests' scores for the comparisons lacking."""
    baseline, others = runs[0], runs[1:]
    digest_keys = {run.id: _digest_key(run, sees_holdout) for run in runs}
    pair_keys = [_pair_key(baseline, run, sees_holdout) for run in others]
    # A comparison is stored in a 1-tuple, so that "no case in common" (None) is kept too.
    cached = cache.get_many([*digest_keys.values(), *pair_keys])
    fresh: dict[str, object] = {}
    undigested = [run for run in runs if digest_keys[run.id] not in cached]
    if undigested:
        fresh.update(_digests(undigested, sees_holdout=sees_holdout))
        cached.update(fresh)
    digests: dict[int, RunDigest] = {run.id: cached[digest_keys[run.id]] for run in runs}
    missing_pairs = [(run, key) for run, key in zip(others, pair_keys, strict=True) if key not in cached]
    if missing_pairs:
        baseline_scores = digests[baseline.id].scores()
        for run, key in missing_pairs:
            comparison = compare_paired(baseline_scores, digests[run.id].scores(), seed=SEED, resamples=RESAMPLES)
            fresh[key] = (comparison,)
    if fresh:
        cache.set_many(fresh, timeout=None)
        cached.update(fresh)
    return RunStatistics(digests=digests, comparisons=[cached[key][0] for key in pair_keys])


def _digests(runs: Sequence[FinishedRun], *, sees_holdout: bool) -> dict[str, RunDigest]:
    """The digests of `runs` from one read of their cases and one of their samples, by cache key."""
    cases = load_cases({run.suite_version_id for run in runs}, sees_holdout=sees_holdout)
    samples = load_samples([run.id for run in runs], cases)
    return {_digest_key(run, sees_holdout): digest(samples[run.id]) for run in runs}


@dataclass(frozen=True)
class _CompletedRun:
    id: int
    suite_version_id: int
    finished_at: str


def store_run_digests(run_id: int) -> bool:
    """Compute and cache both digests (with and without held-out cases) of a completed
    run, as the compare view would; False if the run is gone or not completed.

    Idempotent: a digest already cached is not computed again. A run resumed since
    completing has a new finish time, so its new digests get new keys."""
    row = (
        Run.objects.filter(pk=run_id, status=RunStatus.COMPLETED, finished_at__isnull=False)
        .values("suite_version_id", "finished_at")
        .first()
    )
    if row is None:
        return False
    assert row["finished_at"] is not None  # filtered above
    # The same key text as the compare view's (`compare._as_compare_run`).
    run = _CompletedRun(run_id, row["suite_version_id"], row["finished_at"].isoformat())
    for sees_holdout in (False, True):
        if cache.get(_digest_key(run, sees_holdout)) is None:
            cache.set_many(_digests([run], sees_holdout=sees_holdout), timeout=None)
    return True
