"""Chart pages and run exports. Each page is also its own htmx fragment (`#figures`),
re-fetched when the project's live events say something it shows has changed."""

from __future__ import annotations

import csv
from collections.abc import AsyncIterator

from django.contrib.auth.decorators import login_required
from django.http import HttpResponse, JsonResponse, StreamingHttpResponse
from django.shortcuts import render
from django.views.decorators.http import require_GET

from evolab.charts.cost import AXES, cost_chart
from evolab.charts.exports import EXPORT_FIELDS, export_holdout_record, export_rows
from evolab.charts.figures import pick_suite_version, suite_versions_with_runs, visible_splits
from evolab.charts.overview import score_chart, spend_chart
from evolab.charts.progress import progress_chart
from evolab.core.csv_export import Echo, safe_cell
from evolab.core.http import AuthedRequest
from evolab.evals.selectors import can_see_holdout
from evolab.evolution.selectors import get_campaign
from evolab.projects.models import Project
from evolab.projects.selectors import get_project_for, role_of
from evolab.runs.selectors import get_run


def _template(request: AuthedRequest, page: str) -> str:
    return f"{page}#figures" if request.htmx else page  # type: ignore[attr-defined]


@login_required
@require_GET
def project_overview(request: AuthedRequest, slug: str) -> HttpResponse:
    project = get_project_for(request.user, slug)
    role = role_of(project)
    choices = suite_versions_with_runs(project)
    suite_version = pick_suite_version(choices, request.GET.get("suite"), project)
    context = {
        "project": project,
        "choices": choices,
        "suite_version": suite_version,
        "sees_holdout": can_see_holdout(role),
        "score": score_chart(project, suite_version, role),
        "spend": spend_chart(project),
    }
    return render(request, _template(request, "charts/overview.html"), context)


@login_required
@require_GET
def cost_against_score(request: AuthedRequest, slug: str) -> HttpResponse:
    """Runs by cost and score; `?suite=<id>&split=dev&x=per_case|total` choose what is shown.
    Holdout is offered to maintainers and owners only."""
    project = get_project_for(request.user, slug)
    role = role_of(project)
    choices = suite_versions_with_runs(project)
    suite_version = pick_suite_version(choices, request.GET.get("suite"), project)
    splits = visible_splits(role)
    split = request.GET.get("split", "")
    split = split if split in splits else "dev"
    axis = request.GET.get("x", "")
    axis = axis if axis in AXES else "per_case"
    context = {
        "project": project,
        "choices": choices,
        "suite_version": suite_version,
        "splits": splits,
        "split": split,
        "axes": AXES.items(),
        "axis": axis,
        "cost": cost_chart(project, suite_version, split, axis),
    }
    return render(request, _template(request, "charts/cost.html"), context)


@login_required
@require_GET
def campaign_progress(request: AuthedRequest, slug: str, number: int) -> HttpResponse:
    """The campaign's progress chart; to htmx (the panel on the campaign page) the figure alone."""
    project = get_project_for(request.user, slug)
    campaign = get_campaign(project, number)
    role = role_of(project)
    context = {
        "project": project,
        "campaign": campaign,
        "sees_holdout": can_see_holdout(role),
        "progress": progress_chart(project, campaign, role),
    }
    return render(request, _template(request, "charts/campaign.html"), context)


# --------------------------------------------------------------------------- exports


def _filename(project: Project, number: int, extension: str) -> str:
    return f'attachment; filename="{project.slug}-run-{number}.{extension}"'


@login_required
@require_GET
def run_export_csv(request: AuthedRequest, slug: str, number: int) -> StreamingHttpResponse:
    """Streamed from an async iterator: under ASGI Django reads a synchronous one whole."""
    project = get_project_for(request.user, slug)
    run = get_run(project, number)
    export_holdout_record(actor=request.user, run=run, role=role_of(project), fmt="csv")
    rows = export_rows(run, role_of(project))
    writer = csv.writer(Echo())

    async def lines() -> AsyncIterator[str]:
        yield writer.writerow(EXPORT_FIELDS)
        async for row in rows.aiterator(chunk_size=1000):
            yield writer.writerow([safe_cell(row[name]) for name in EXPORT_FIELDS])

    response = StreamingHttpResponse(lines(), content_type="text/csv; charset=utf-8")
    response["Content-Disposition"] = _filename(project, run.number, "csv")
    return response


@login_required
@require_GET
def run_export_json(request: AuthedRequest, slug: str, number: int) -> JsonResponse:
    project = get_project_for(request.user, slug)
    run = get_run(project, number)
    export_holdout_record(actor=request.user, run=run, role=role_of(project), fmt="json")
    results = [{name: row[name] for name in EXPORT_FIELDS} for row in export_rows(run, role_of(project))]
    response = JsonResponse({"project": project.slug, "run": run.number, "fields": EXPORT_FIELDS, "results": results})
    response["Content-Disposition"] = _filename(project, run.number, "json")
    return response
