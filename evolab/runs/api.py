"""Runs over the REST API, mounted under /projects."""

from __future__ import annotations

from dataclasses import dataclass

from ninja import File, Form, Router, Status
from ninja.files import UploadedFile
from ninja.pagination import paginate

from evolab.core.errors import ValidationFailed
from evolab.core.http import AuthedRequest
from evolab.core.lazy_rows import LazyRows
from evolab.core.pagination import LimitOffsetPagination
from evolab.core.uploads import check_upload_size
from evolab.evals.holdout_audit import holdout_audited
from evolab.evals.models import Split
from evolab.projects.models import Project, Role
from evolab.projects.selectors import get_project_for, role_of
from evolab.runs import actions
from evolab.runs.actions import RunSpec
from evolab.runs.estimates import CostEstimate
from evolab.runs.models import Run
from evolab.runs.outputs import parse_outputs_jsonl, samples_for
from evolab.runs.schemas import EstimateOut, ResultOut, ResumeIn, RunCreatedOut, RunIn, RunOut
from evolab.runs.selectors import (
    ResultView,
    RunList,
    RunRow,
    RunSummary,
    backend_named,
    get_run,
    harness_for,
    results_of,
    run_list,
    run_summary,
    spec_estimate,
    suite_version_for,
)

router = Router(tags=["runs"])


@dataclass(frozen=True)
class CreatedRun:
    run: Run
    summary: RunSummary
    estimate: CostEstimate


def _spec(project: Project, payload: RunIn) -> RunSpec:
    backend = backend_named(project, payload.backend)
    return RunSpec(
        harness_version=harness_for(project, payload.harness),
        suite_version=suite_version_for(project, payload.suite, payload.suite_version),
        splits=[split for split in Split.values if split in payload.splits],
        backend=backend,
        samples=payload.samples,
        seed=payload.seed,
        max_concurrency=payload.max_concurrency or backend.max_concurrency,
        cost_cap_usd=payload.cost_cap_usd,
        use_cache=payload.use_cache,
    )


def _created(project: Project, run: Run, estimate: CostEstimate) -> Status:
    fresh = get_run(project, run.number)
    return Status(201, CreatedRun(fresh, run_summary(fresh), estimate))


@router.get("/{slug}/runs", response=list[RunOut])
@paginate(LimitOffsetPagination)
def list_runs(request: AuthedRequest, slug: str) -> RunList:
    """Newest first, each with its progress and score (a page costs a fixed number of queries)."""
    return run_list(get_project_for(request.user, slug))


@router.post("/{slug}/runs", response={201: RunCreatedOut})
def create_run(request: AuthedRequest, slug: str, payload: RunIn) -> Status:
    """Start a run; the answer carries the cost estimate it was started with."""
    project = get_project_for(request.user, slug, Role.MAINTAINER)
    spec = _spec(project, payload)
    estimate = spec_estimate(spec)
    run = actions.run_create(actor=request.user, project=project, spec=spec, estimate_usd=estimate.usd)
    return _created(project, run, estimate)


@router.post("/{slug}/runs/estimate", response=EstimateOut)
def estimate_run(request: AuthedRequest, slug: str, payload: RunIn) -> CostEstimate:
    """What `POST /runs` with the same body would cost, without starting anything."""
    project = get_project_for(request.user, slug, Role.MAINTAINER)
    return spec_estimate(_spec(project, payload))


@router.post("/{slug}/runs/outputs", response={201: RunCreatedOut})
def score_outputs(
    request: AuthedRequest,
    slug: str,
    # Optional here so that the role check answers before a missing file does.
    file: File[UploadedFile | None] = None,
    harness: Form[str] = "head",
    suite: Form[str] = "",
    suite_version: Form[int | None] = None,
    splits: Form[str] = "dev",
    samples: Form[int | None] = None,
) -> Status:
    """Score pre-recorded outputs (multipart): `file` is JSONL, one
    `{"key": …, "sample": 0, "output": "…"}` per line; `splits` is comma-separated;
    `samples` defaults to the highest sample index in the file + 1. A bad line answers
    422 naming it; a case of the chosen splits without an output is recorded as errored."""
    project = get_project_for(request.user, slug, Role.MAINTAINER)
    if file is None:
        raise ValidationFailed("Attach the JSONL file of outputs.", field="file")
    check_upload_size(file)
    outputs = parse_outputs_jsonl(file.read())
    chosen = [part.strip() for part in splits.split(",") if part.strip()]
    spec = RunSpec(
        harness_version=harness_for(project, harness),
        suite_version=suite_version_for(project, suite, suite_version),
        splits=chosen,
        backend=None,
        samples=samples_for(outputs, samples),
        outputs=outputs,
    )
    estimate = spec_estimate(spec)
    run = actions.run_create(actor=request.user, project=project, spec=spec, estimate_usd=estimate.usd)
    return _created(project, run, estimate)


@router.get("/{slug}/runs/{number}", response=RunOut)
def get_run_detail(request: AuthedRequest, slug: str, number: int) -> RunRow:
    """Status, progress numbers and the score with its 95% interval."""
    run = get_run(get_project_for(request.user, slug), number)
    return RunRow(run, run_summary(run))


@router.get("/{slug}/runs/{number}/results", response=list[ResultOut])
@paginate(LimitOffsetPagination)
def list_results(
    request: AuthedRequest, slug: str, number: int, status: str = "", split: str = ""
) -> LazyRows[ResultView]:
    """One row per (case, sample), by case key. Holdout results are sealed below maintainer."""
    project = get_project_for(request.user, slug)
    run = get_run(project, number)
    return holdout_audited(
        results_of(run, viewer_role=role_of(project), status=status, split=split),
        actor=request.user,
        suite=run.suite_version.suite,
        where=f"api run {run.number} results",
        key_of=lambda result: result.case_key,
    )


@router.post("/{slug}/runs/{number}/cancel", response=RunOut)
def cancel_run(request: AuthedRequest, slug: str, number: int) -> RunRow:
    """Stop starting new results; 409 unless the run is queued or running."""
    project = get_project_for(request.user, slug, Role.MAINTAINER)
    actions.run_cancel(actor=request.user, run=get_run(project, number))
    run = get_run(project, number)
    return RunRow(run, run_summary(run))


@router.post("/{slug}/runs/{number}/resume", response=RunOut)
def resume_run(request: AuthedRequest, slug: str, number: int, payload: ResumeIn | None = None) -> RunRow:
    """Continue a cancelled or capped run (optionally with a new `cost_cap_usd`): only its
    unfinished results are sent. 409 for a run in any other state, or still at its cap."""
    project = get_project_for(request.user, slug, Role.MAINTAINER)
    cap = payload.cost_cap_usd if payload is not None else None
    actions.run_resume(actor=request.user, run=get_run(project, number), cost_cap_usd=cap)
    run = get_run(project, number)
    return RunRow(run, run_summary(run))
