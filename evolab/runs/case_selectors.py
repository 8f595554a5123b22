"""Reads for one eval case across runs: the runs that scored it (by suite version), and
its statistics over every run and sample, with the flaky verdict of engine/case_stats;
and a run's score without some cases (the disputed ones, for `run_eval`'s gate).

The case is named by suite and stable key, so every version that holds it counts.
Three queries whatever the number of runs: the case's rows (one per version), the
results of those rows (a few numbers each, never the transcripts), and one page of runs.
Only numbers leave here, so a holdout case's statistics may be shown to every member;
its texts are never read.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from typing import Any

from django.conf import settings
from django.http import Http404

from evolab.engine.case_stats import CaseStats, FlakyThresholds, Sample, case_stats
from evolab.engine.statistics import Estimate, score_estimate
from evolab.evals.models import EvalCase, EvalSuite
from evolab.runs.models import CaseResult, ResultStatus, Run


def flaky_thresholds() -> FlakyThresholds:
    return FlakyThresholds(
        disagree_fraction=settings.EVOLAB_FLAKY_DISAGREE_FRACTION, variance=settings.EVOLAB_FLAKY_VARIANCE
    )


@dataclass
class CaseRun:
    """One run's results on the case."""

    run_id: int
    version_number: int
    samples: list[Sample] = field(default_factory=list)  # scored ones
    errors: int = 0
    pending: int = 0
    run: Run | None = None  # filled for the runs of the page shown

    @property
    def mean(self) -> float | None:
        return sum(s.score for s in self.samples) / len(self.samples) if self.samples else None

    @property
    def passes(self) -> int:
        return sum(1 for s in self.samples if s.passes)

    @property
    def disagrees(self) -> bool:
        return len(self.samples) >= 2 and len({s.passes for s in self.samples}) == 2


@dataclass(frozen=True)
class CaseRuns:
    stats: CaseStats
    thresholds: FlakyThresholds
    runs: list[CaseRun]  # newest first; filtered by version when asked
    runs_by_version: list[tuple[int, int]]  # (version number, runs), newest version first


def case_runs(suite: EvalSuite, key: str, *, version_number: int | None = None) -> CaseRuns:
    """The case's runs and statistics; 404 when no version of the suite holds `key`.

    Statistics always cover every run of every version (a case that did not change keeps
    its history of verdicts); `version_number` filters the list of runs only.
    """
    versions = dict(EvalCase.objects.filter(version__suite=suite, key=key).values_list("pk", "version__number"))
    if not versions:
        raise Http404("No such case")
    by_run: dict[int, CaseRun] = {}
    rows = CaseResult.objects.filter(case_id__in=list(versions)).values_list(
        "run_id", "case_id", "status", "score", "passed"
    )
    for run_id, case_id, status, score, passed in rows:
        entry = by_run.get(run_id)
        if entry is None:
            entry = by_run[run_id] = CaseRun(run_id=run_id, version_number=versions[case_id])
        if status == ResultStatus.DONE and score is not None:
            entry.samples.append(Sample(float(score), passed))
        elif status == ResultStatus.ERROR:
            entry.errors += 1
        else:
            entry.pending += 1
    thresholds = flaky_thresholds()
    stats = case_stats([entry.samples for entry in by_run.values()], thresholds)
    counts: dict[int, int] = defaultdict(int)
    for entry in by_run.values():
        counts[entry.version_number] += 1
    listed = sorted(by_run.values(), key=lambda e: -e.run_id)
    if version_number is not None:
        listed = [entry for entry in listed if entry.version_number == version_number]
    return CaseRuns(
        stats=stats,
        thresholds=thresholds,
        runs=listed,
        runs_by_version=sorted(counts.items(), reverse=True),
    )


def attach_runs(entries: list[CaseRun]) -> list[CaseRun]:
    """Fill `run` on one page of entries, in one query (no harness file tree is read)."""
    runs: dict[int, Any] = {
        run.pk: run
        for run in Run.objects.filter(pk__in=[e.run_id for e in entries])
        .select_related("harness_version", "suite_version")
        .defer("harness_version__files")
    }
    for entry in entries:
        entry.run = runs.get(entry.run_id)
    return entries


def score_without(run: Run, keys: set[str]) -> tuple[Estimate | None, int]:
    """The run's overall score (cases weighted once, as `score_breakdown`'s overall) with
    the cases named by `keys` left out, and how many scored cases that left out. What
    `run_eval --fail-under` gates on when some cases are disputed."""
    scores: dict[str, list[float]] = defaultdict(list)
    rows = CaseResult.objects.filter(run=run, status=ResultStatus.DONE, score__isnull=False).values_list(
        "case__key", "score"
    )
    for key, score in rows:
        if score is not None:  # filtered in SQL; the check narrows the type
            scores[key].append(float(score))
    excluded = sum(1 for key in scores if key in keys)
    return score_estimate({key: values for key, values in scores.items() if key not in keys}), excluded
