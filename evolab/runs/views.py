"""Pages for runs: list, start (with a live cost estimate), a run with its progress and
results panels, one result's transcript, cancel and resume.

The run page's URL also serves its results panel to htmx (filters, pages, live refresh);
the progress panel has its own URL. Both are refreshed when the project's websocket
relays `run.progress` / `run.status` events (templates/live/socket.html).
"""

from __future__ import annotations

from decimal import Decimal, InvalidOperation

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.paginator import Paginator
from django.http import HttpResponse
from django.shortcuts import redirect, render
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from evolab.core.errors import DomainError
from evolab.core.forms import add_domain_error
from evolab.core.http import AuthedRequest
from evolab.evals.change_requests import holdout_view_record
from evolab.evals.models import Split
from evolab.evals.selectors import can_see_holdout
from evolab.projects.models import Role
from evolab.projects.selectors import get_project_for, role_of
from evolab.runs import actions
from evolab.runs.estimates import CostEstimate
from evolab.runs.forms import RunForm
from evolab.runs.selectors import (
    RESULT_FILTERS,
    RESULT_SORTS,
    case_rows,
    get_result,
    get_run,
    run_list,
    run_summary,
    run_tags,
    spec_estimate,
)
from evolab.runs.transcripts import transcript_entries

RUNS_PAGE_SIZE = 25
RESULTS_PAGE_SIZE = 50


@login_required
@require_GET
def runs_page(request: AuthedRequest, slug: str) -> HttpResponse:
    project = get_project_for(request.user, slug)
    page = Paginator(run_list(project), RUNS_PAGE_SIZE).get_page(request.GET.get("page"))
    context = {"project": project, "page": page, "can_start": role_of(project) >= Role.MAINTAINER}
    return render(request, "runs/list.html", context)


@login_required
@require_http_methods(["GET", "POST"])
def run_new(request: AuthedRequest, slug: str) -> HttpResponse:
    """The form; "Preview" shows the estimate, "Start" creates the run (with the estimate)."""
    project = get_project_for(request.user, slug, Role.MAINTAINER)
    form = RunForm(request.POST if request.method == "POST" else None, project=project)
    estimate: CostEstimate | None = None
    status = 200
    if request.method == "POST":
        status = 422
        if form.is_valid():
            try:
                spec = form.spec()
                estimate = spec_estimate(spec)
                if request.POST.get("action") != "preview":
                    run = actions.run_create(actor=request.user, project=project, spec=spec, estimate_usd=estimate.usd)
                    return redirect("runs:run", slug=project.slug, number=run.number)
                status = 200
            except DomainError as error:
                add_domain_error(form, error)
    return render(request, "runs/new.html", {"project": project, "form": form, "estimate": estimate}, status=status)


@login_required
@require_GET
def run_estimate(request: AuthedRequest, slug: str) -> HttpResponse:
    """The estimate panel of the start form, for the form's current values."""
    project = get_project_for(request.user, slug, Role.MAINTAINER)
    form = RunForm(request.GET, project=project)
    estimate: CostEstimate | None = None
    if form.is_valid():
        try:
            estimate = spec_estimate(form.spec())
        except DomainError as error:
            add_domain_error(form, error)
    return render(request, "runs/new.html#estimate", {"project": project, "form": form, "estimate": estimate})


def _result_filters(request: AuthedRequest) -> dict[str, str]:
    filter_ = request.GET.get("filter", "all")
    sort = request.GET.get("sort", "key")
    return {
        "filter": filter_ if filter_ in RESULT_FILTERS else "all",
        "tag": request.GET.get("tag", "").strip(),
        "search": request.GET.get("q", "").strip(),
        "sort": sort if sort in RESULT_SORTS else "key",
    }


@login_required
@require_GET
def run_detail(request: AuthedRequest, slug: str, number: int) -> HttpResponse:
    """The run page; to htmx, its results panel alone (the filters are in the query)."""
    project = get_project_for(request.user, slug)
    run = get_run(project, number)
    filters = _result_filters(request)
    rows = case_rows(run, **filters)
    context: dict[str, object] = {
        "project": project,
        "run": run,
        "filters": filters,
        "page": Paginator(rows, RESULTS_PAGE_SIZE).get_page(request.GET.get("page")),
    }
    if request.htmx:  # type: ignore[attr-defined]
        return render(request, "runs/run.html#results", context)
    context.update(
        summary=run_summary(run),
        tags=run_tags(run),
        can_manage=role_of(project) >= Role.MAINTAINER,
        sorts=RESULT_SORTS,
        filter_names=RESULT_FILTERS,
    )
    return render(request, "runs/run.html", context)


@login_required
@require_GET
def run_progress(request: AuthedRequest, slug: str, number: int) -> HttpResponse:
    project = get_project_for(request.user, slug)
    run = get_run(project, number)
    context = {
        "project": project,
        "run": run,
        "summary": run_summary(run),
        "can_manage": role_of(project) >= Role.MAINTAINER,
    }
    return render(request, "runs/run.html#progress", context)


@login_required
@require_GET
def result_detail(request: AuthedRequest, slug: str, number: int, result_id: int) -> HttpResponse:
    """One result. A holdout result below maintainer shows its key, split and numbers,
    with its input, output, transcript and grader details withheld (never loaded)."""
    project = get_project_for(request.user, slug)
    run = get_run(project, number)
    result = get_result(run, result_id, viewer_role=role_of(project))
    entries = transcript_entries(result.transcript or [], result.tool_calls or []) if not result.sealed else []
    if result.split == Split.HOLDOUT and not result.sealed:
        # The transcript carries the held-out input, the grader details its target.
        holdout_view_record(
            actor=request.user,
            suite=run.suite_version.suite,
            keys=[result.case_key],
            where=f"result page run {run.number}",
        )
    context = {
        "project": project,
        "run": run,
        "result": result,
        "entries": entries,
        "sees_holdout": can_see_holdout(role_of(project)),
        # Curation forms show the case's input and the output, so not for a sealed result.
        "can_curate": role_of(project) >= Role.REVIEWER and not result.sealed,
    }
    return render(request, "runs/result.html", context)


@login_required
@require_POST
def run_cancel(request: AuthedRequest, slug: str, number: int) -> HttpResponse:
    project = get_project_for(request.user, slug, Role.MAINTAINER)
    run = get_run(project, number)
    try:
        actions.run_cancel(actor=request.user, run=run)
    except DomainError as error:
        messages.error(request, error.message)
    else:
        messages.success(request, f"Run {run.number} cancelled: finished results are kept.")
    return redirect("runs:run", slug=project.slug, number=run.number)


@login_required
@require_POST
def run_resume(request: AuthedRequest, slug: str, number: int) -> HttpResponse:
    """Resume a cancelled or capped run, optionally with a new cost cap."""
    project = get_project_for(request.user, slug, Role.MAINTAINER)
    run = get_run(project, number)
    raw_cap = request.POST.get("cost_cap_usd", "").strip()
    try:
        cap = Decimal(raw_cap) if raw_cap else None
        if cap is not None and not (cap.is_finite() and cap > 0):
            raise InvalidOperation
    except InvalidOperation:
        messages.error(request, f"A cost cap is an amount above zero in USD, not {raw_cap!r}.")
        return redirect("runs:run", slug=project.slug, number=run.number)
    try:
        actions.run_resume(actor=request.user, run=run, cost_cap_usd=cap)
    except DomainError as error:
        messages.error(request, error.message)
    else:
        messages.success(request, f"Run {run.number} resumed: only its unfinished results are sent.")
    return redirect("runs:run", slug=project.slug, number=run.number)
