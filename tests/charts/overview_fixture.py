"""A project with known numbers for the overview charts: rows written directly.

Two accepted versions (v1, then v2 became head) and v3 that never did; dev and holdout
cases; completed runs whose per-sample scores, costs and judge costs are given here, so
the tests can compute what each figure must show without asking the database.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any

from django.contrib.auth.models import AbstractBaseUser
from django.utils import timezone

from evolab.evals.actions import suite_create, suite_version_import
from evolab.evals.models import EvalCase, SuiteVersion
from evolab.evolution.models import Campaign
from evolab.harnesses.actions import version_create
from evolab.harnesses.models import HarnessVersion
from evolab.projects.models import Project
from evolab.runs.models import CaseResult, ChunkStatus, ResultStatus, Run, RunChunk, RunStatus
from tests.factories import BackendFactory

Scores = dict[str, list[float]]


@dataclass
class Lab:
    project: Project
    suite_version: SuiteVersion
    versions: list[HarnessVersion]
    cases: dict[str, EvalCase]


def build_lab(project: Project, actor: AbstractBaseUser, *, dev: int = 3, holdout: int = 2) -> Lab:
    suite = suite_create(
        actor=actor, project=project, slug="support", name="Support", default_grader={"type": "contains"}
    )  # type: ignore[arg-type]
    rows = [{"key": f"dev-{i}", "input": "q", "target": "a", "split": "dev"} for i in range(dev)]
    rows += [{"key": f"hold-{i}", "input": "q", "target": "a", "split": "holdout"} for i in range(holdout)]
    source = "\n".join(json.dumps(row) for row in rows).encode()
    suite_version = suite_version_import(actor=actor, suite=suite, source=source, fmt="jsonl")  # type: ignore[arg-type]
    v1 = version_create(actor=actor, project=project, files={"system.md": "one"}, message="base")  # type: ignore[arg-type]
    v2 = version_create(actor=actor, project=project, files={"system.md": "two"}, message="better")  # type: ignore[arg-type]
    v3 = version_create(
        actor=None, project=project, files={"system.md": "three"}, message="candidate", parents=[v2], move_head=False
    )
    cases = {case.key: case for case in EvalCase.objects.filter(version=suite_version)}
    return Lab(project, suite_version, [v1, v2, v3], cases)


def add_run(
    lab: Lab,
    version: HarnessVersion,
    scores: Scores,
    *,
    cost: float = 0.01,
    judge_cost: float | None = None,
    status: str = RunStatus.COMPLETED,
    finished_at: datetime | None = None,
    errors: tuple[str, ...] = (),
) -> Run:
    """A run of `version` on the splits of the cases in `scores`, each sample costing
    `cost` (of which `judge_cost` was the judge's, recorded in grade_details)."""
    number = (Run.objects.filter(project=lab.project).order_by("-number").values_list("number", flat=True).first()) or 0
    splits = sorted({lab.cases[key].split for key in [*scores, *errors]})
    when = finished_at or timezone.now()
    run = Run.objects.create(
        project=lab.project,
        number=number + 1,
        harness_version=version,
        suite_version=lab.suite_version,
        splits=splits,
        status=status,
        started_at=when - timedelta(seconds=5),
        finished_at=when if status == RunStatus.COMPLETED else None,
    )
    chunk = RunChunk.objects.create(run=run, index=0, status=ChunkStatus.DONE)
    details = {} if judge_cost is None else {"judge_cost_usd": judge_cost}
    results = [
        CaseResult(
            run=run,
            chunk=chunk,
            case=lab.cases[key],
            sample=sample,
            status=ResultStatus.DONE,
            score=score,
            passed=score >= 0.5,
            grade_details=details,
            input_tokens=100,
            output_tokens=10,
            cost_usd=cost,
            latency_s=1.5,
        )
        for key, values in scores.items()
        for sample, score in enumerate(values)
    ]
    results += [
        CaseResult(run=run, chunk=chunk, case=lab.cases[key], sample=0, status=ResultStatus.ERROR, error="=boom")
        for key in errors
    ]
    CaseResult.objects.bulk_create(results)
    Run.objects.filter(pk=run.pk).update(total_results=len(results))
    return run


def add_campaign(lab: Lab, **fields: Any) -> Campaign:
    """Campaign 1 of the lab's project, from v1 with v2 as its parent, on the lab's suite."""
    v1, v2, _ = lab.versions
    values: dict[str, Any] = {
        "project": lab.project,
        "number": 1,
        "name": "spring",
        "base_version": v1,
        "parent_version": v2,
        "suite_version": lab.suite_version,
        "runner_backend": BackendFactory(project=lab.project),
        "budget_usd": Decimal(10),
        "budget_tokens": 1000,
        "budget_wall_s": 60,
    }
    return Campaign.objects.create(**{**values, **fields})
