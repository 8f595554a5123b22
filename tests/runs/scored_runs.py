"""Build finished runs with chosen per-case scores, without calling any model: a run of
pre-recorded outputs is created the ordinary way (`run_create`), then its results are
written as a worker would have scored them."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from django.utils import timezone

from evolab.evals.models import SuiteVersion
from evolab.harnesses.models import HarnessVersion
from evolab.projects.models import Project
from evolab.runs.actions import RunSpec, run_create
from evolab.runs.models import CaseResult, ChunkStatus, ResultStatus, Run, RunStatus


def scored_run(
    project: Project,
    harness: HarnessVersion,
    suite_version: SuiteVersion,
    scores: Mapping[str, Sequence[float]],
    *,
    splits: Sequence[str] = ("dev",),
    outputs: Mapping[str, str] | None = None,
) -> Run:
    """A completed run whose case `key` has sample scores `scores[key]` (k is the longest
    list; a shorter list leaves its missing samples errored). A score of 1.0 passes."""
    samples = max(len(values) for values in scores.values())
    keys = list(
        suite_version.cases.filter(split__in=splits, key__in=list(scores)).values_list("key", flat=True)
    )
    recorded = {(key, sample): (outputs or {}).get(key, f"output of {key}") for key in keys for sample in range(samples)}
    spec = RunSpec(
        harness_version=harness, suite_version=suite_version, splits=list(splits), backend=None, samples=samples,
        outputs=recorded,
    )
    run = run_create(actor=None, project=project, spec=spec)
    now = timezone.now()
    for result in CaseResult.objects.filter(run=run).select_related("case"):
        values = scores.get(result.case.key, ())
        if result.sample < len(values):
            score = float(values[result.sample])
            CaseResult.objects.filter(pk=result.pk).update(
                status=ResultStatus.DONE,
                score=score,
                passed=score >= 1.0,
                output=recorded.get((result.case.key, result.sample), ""),
                finished_at=now,
            )
        else:
            CaseResult.objects.filter(pk=result.pk).update(status=ResultStatus.ERROR, error="not scored", finished_at=now)
    run.chunks.update(status=ChunkStatus.DONE)
    Run.objects.filter(pk=run.pk).update(status=RunStatus.COMPLETED, finished_at=now)
    run.refresh_from_db()
    return run
