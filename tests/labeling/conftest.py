"""A project with one finished run whose results are written directly (no model call):
dev and holdout cases, some graded by an llm_judge rubric, on a backend and harness with
names the labeling page must never show."""

from __future__ import annotations

import json
from dataclasses import dataclass

import pytest
from django.utils import timezone

from evolab.evals.actions import suite_create, suite_version_import
from evolab.evals.models import EvalCase, SuiteVersion
from evolab.harnesses.actions import version_create
from evolab.harnesses.models import HarnessVersion
from evolab.labeling.actions import QueueSpec, queue_create
from evolab.labeling.models import LabelingQueue
from evolab.projects.models import Backend
from evolab.runs.models import CaseResult, ChunkStatus, ResultStatus, Run, RunChunk, RunStatus
from tests.conftest import Team
from tests.factories import BackendFactory

BACKEND_NAME = "zebra-backend-7731"
MODEL_NAME = "Quokka-Model-9000"
SYSTEM_PROMPT = "You are the harness system prompt 5521."
JUDGE_RUBRIC = "Pass if the answer names the refund window."
DEV_KEYS = [f"dev-{i}" for i in range(6)]
HOLDOUT_KEYS = ["hold-0", "hold-1"]
HOLDOUT_INPUT = "SEALED holdout question about warranties"
HOLDOUT_TARGET = "SEALED holdout target"


@dataclass
class Bench:
    team: Team
    backend: Backend
    harness: HarnessVersion
    suite_version: SuiteVersion
    run: Run
    results: dict[str, CaseResult]

    def queue(self, **changes: object) -> LabelingQueue:
        values: dict[str, object] = {
            "name": "refunds",
            "run_number": self.run.number,
            "rubric": "Pass if the reply is correct and polite.",
            "assignees": ["owner", "maintainer", "reviewer"],
            "reviewers_per_item": 2,
            "split": "dev",
        }
        values.update(changes)
        return queue_create(actor=self.team.maintainer, project=self.team.project, spec=QueueSpec(**values))  # type: ignore[arg-type]


def _rows() -> list[dict[str, object]]:
    judge = {"type": "llm_judge", "rubric": JUDGE_RUBRIC}
    rows: list[dict[str, object]] = [
        {
            "key": key,
            "input": f"How long is the refund window for order {i}?",
            "target": "30 days",
            "split": "dev",
            "tags": ["refunds" if i < 4 else "shipping"],
            **({"grader": judge} if i < 4 else {}),
        }
        for i, key in enumerate(DEV_KEYS)
    ]
    rows += [
        {"key": key, "input": f"{HOLDOUT_INPUT} {i}", "target": HOLDOUT_TARGET, "split": "holdout", "grader": judge}
        for i, key in enumerate(HOLDOUT_KEYS)
    ]
    return rows


@pytest.fixture
def bench(team: Team) -> Bench:
    backend = BackendFactory(project=team.project, name=BACKEND_NAME, model=MODEL_NAME)
    harness = version_create(
        actor=team.owner, project=team.project, files={"system.md": SYSTEM_PROMPT}, message="labeling bench"
    )
    suite = suite_create(
        actor=team.owner, project=team.project, slug="support", name="Support", default_grader={"type": "contains"}
    )
    source = "\n".join(json.dumps(row) for row in _rows()).encode()
    version = suite_version_import(actor=team.owner, suite=suite, source=source, fmt="jsonl")
    run = Run.objects.create(
        project=team.project,
        number=41,
        harness_version=harness,
        suite_version=version,
        splits=["dev", "holdout"],
        backend=backend,
        backend_label=f"{BACKEND_NAME} · {MODEL_NAME}",
        status=RunStatus.COMPLETED,
        finished_at=timezone.now(),
    )
    chunk = RunChunk.objects.create(run=run, index=0, status=ChunkStatus.DONE)
    results = {}
    for i, case in enumerate(EvalCase.objects.filter(version=version).order_by("key")):
        score = [1.0, 0.0, 1.0, 0.0, 0.6, 0.2, 1.0, 0.0][i]
        results[case.key] = CaseResult.objects.create(
            run=run,
            chunk=chunk,
            case=case,
            sample=0,
            status=ResultStatus.DONE,
            output=f"The refund window is {30 + i} days. (answer {case.key})",
            transcript=[
                {"role": "system", "content": SYSTEM_PROMPT},
                {"role": "user", "content": str(case.input)},
                {"role": "assistant", "content": f"<think>reasoning {case.key}</think>The refund window is {30 + i} days."},
            ],
            score=score,
            passed=score >= 1.0,
            grade_details={"judge_score": score, "rationale": "judge says so"},
        )
    Run.objects.filter(pk=run.pk).update(total_results=len(results))
    return Bench(team, backend, harness, version, run, results)
