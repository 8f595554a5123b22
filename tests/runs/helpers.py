"""Helpers for the runs tests: start a run on the `lab` fixture and execute it in-process."""

from __future__ import annotations

import json
from typing import Any

from evolab.evals.models import EvalCase
from evolab.runs.actions import RunSpec, run_create
from evolab.runs.models import ChunkStatus, Run
from evolab.runs.tasks import run_chunk
from tests.runs.conftest import Lab


def spec(lab: Lab, **changes: Any) -> RunSpec:
    values: dict[str, Any] = {
        "harness_version": lab.harness,
        "suite_version": lab.suite_version,
        "splits": ["dev"],
        "backend": lab.backend,
        "samples": 1,
    }
    values.update(changes)
    return RunSpec(**values)


def start(lab: Lab, **changes: Any) -> Run:
    return run_create(actor=lab.team.owner, project=lab.team.project, spec=spec(lab, **changes))


def drain(run: Run) -> Run:
    """Run every chunk until none is left pending (what workers do); the run, refreshed."""
    for _ in range(20):
        run.refresh_from_db()
        if not run.is_active:
            return run
        chunk_ids = list(run.chunks.filter(status=ChunkStatus.PENDING).values_list("pk", flat=True))
        if not chunk_ids:
            return run
        for chunk_id in chunk_ids:
            run_chunk(chunk_id)
    raise AssertionError("chunks never finished")


def targets(lab: Lab) -> dict[str, str]:
    """Case key → target of the lab's suite version."""
    return dict(EvalCase.objects.filter(version=lab.suite_version).values_list("key", "target"))


SECRET_INPUT = "SECRET-HOLDOUT-INPUT what is the refund window"
SECRET_TARGET = "SECRET-HOLDOUT-TARGET 30 days"
SECRET_OUTPUT = "SECRET-HOLDOUT-OUTPUT thirty days"


def sealed_run(lab: Lab) -> Run:
    """A finished-looking run over a suite with two dev and two holdout cases; every
    result holds its case's text in its output, transcript, grader details and error."""
    from django.utils import timezone

    from evolab.evals.actions import suite_create, suite_version_import
    from evolab.runs.models import CaseResult, ChunkStatus, ResultStatus, RunStatus

    suite = suite_create(
        actor=lab.team.owner, project=lab.team.project, slug="sealed", name="Sealed", default_grader={"type": "exact"}
    )
    rows = [
        {"key": f"open-{i}", "input": f"open question {i}", "target": f"open answer {i}", "split": "dev", "tags": ["t"]}
        for i in (1, 2)
    ] + [
        {"key": f"hold-{i}", "input": f"{SECRET_INPUT} {i}", "target": SECRET_TARGET, "split": "holdout", "tags": ["t"]}
        for i in (1, 2)
    ]
    source = "\n".join(json.dumps(row) for row in rows).encode()
    version = suite_version_import(actor=lab.team.owner, suite=suite, source=source, fmt="jsonl")
    outputs = {(str(row["key"]), 0): "x" for row in rows}
    run = start(lab, suite_version=version, splits=["dev", "holdout"], backend=None, outputs=outputs)
    for result in CaseResult.objects.filter(run=run).select_related("case"):
        secret = result.case.split == "holdout"
        text = SECRET_OUTPUT if secret else "open output"
        CaseResult.objects.filter(pk=result.pk).update(
            status=ResultStatus.DONE,
            score=1.0 if secret else 0.0,
            passed=secret,
            output=text,
            transcript=[{"role": "user", "content": result.case.input}, {"role": "assistant", "content": text}],
            grade_details={"expected": result.case.target},
            error="",
            finished_at=timezone.now(),
        )
    run.chunks.update(status=ChunkStatus.DONE)
    Run.objects.filter(pk=run.pk).update(status=RunStatus.COMPLETED, finished_at=timezone.now())
    run.refresh_from_db()
    return run
