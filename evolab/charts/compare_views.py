"""The compare page: `/p/<slug>/compare/?baseline=<n>&runs=<n>,<n>&scatter=<n>&differ=1`.

The whole state is in the query, so a comparison is a link one can share. The same URL
gives the table as `&format=csv` or `&format=json`. Viewers and up read; held-out cases
are read only for maintainers and owners (`sees_holdout` reaches every series).
"""

from __future__ import annotations

import csv
import io
import json

from django.contrib.auth.decorators import login_required
from django.http import HttpResponse
from django.shortcuts import render
from django.views.decorators.http import require_GET

from evolab.charts.compare import (
    EXPORT_FIELDS,
    MAX_RUNS,
    CompareError,
    build_comparison,
    comparison_table,
    completed_runs,
    pick_runs,
)
from evolab.core.csv_export import safe_cell
from evolab.core.http import AuthedRequest
from evolab.evals.selectors import can_see_holdout
from evolab.projects.selectors import get_project_for, role_of


def _number(value: str | None) -> int | None:
    return int(value) if value and value.strip().isdigit() else None


def _numbers(value: str) -> list[int]:
    """`runs=3,5,7` (also accepts `runs=3&runs=5`, what the form's checkboxes send)."""
    return [int(part) for part in value.replace(" ", "").split(",") if part.isdigit()]


@login_required
@require_GET
def compare_page(request: AuthedRequest, slug: str) -> HttpResponse:
    project = get_project_for(request.user, slug)
    sees_holdout = can_see_holdout(role_of(project))
    available = completed_runs(project)
    baseline = _number(request.GET.get("baseline"))
    only_differ = request.GET.get("differ") == "1"
    numbers = [n for value in request.GET.getlist("runs") for n in _numbers(value)]
    context = {
        "project": project,
        "available": available,
        "baseline_number": baseline,
        "run_numbers": numbers,
        "max_others": MAX_RUNS - 1,
        "sees_holdout": sees_holdout,
        "only_differ": only_differ,
    }
    if baseline is None:
        return render(request, "charts/compare.html", context)
    try:
        runs = pick_runs(available, baseline, numbers)
    except CompareError as error:
        return render(request, "charts/compare.html", {**context, "error": str(error)}, status=400)

    export = request.GET.get("format")
    if export in ("csv", "json"):
        rows = [row.as_dict() for row in comparison_table(runs, sees_holdout=sees_holdout)]
        stem = f"{project.slug}-compare-run-{baseline}"
        if export == "json":
            body = json.dumps({"baseline": baseline, "holdout_included": sees_holdout, "rows": rows}, indent=2)
            response = HttpResponse(body, content_type="application/json")
        else:
            buffer = io.StringIO()
            writer = csv.DictWriter(buffer, fieldnames=EXPORT_FIELDS)
            writer.writeheader()
            writer.writerows({key: safe_cell(value) for key, value in row.items()} for row in rows)
            response = HttpResponse(buffer.getvalue(), content_type="text/csv; charset=utf-8")
        response["Content-Disposition"] = f'attachment; filename="{stem}.{export}"'
        return response

    comparison = build_comparison(
        runs,
        sees_holdout=sees_holdout,
        scatter=_number(request.GET.get("scatter")),
        only_differ=only_differ,
    )
    links = {
        "csv": _with(request, format="csv"),
        "json": _with(request, format="json"),
        "differ": _with(request, differ=None if only_differ else "1"),
        "scatter": [(run, _with(request, scatter=str(run.number))) for run in runs[1:]],
    }
    return render(request, "charts/compare.html", {**context, "comparison": comparison, "links": links})


def _with(request: AuthedRequest, **changes: str | None) -> str:
    """This page's URL with some parameters set (or dropped, for None)."""
    query = request.GET.copy()
    query.pop("format", None)
    for name, value in changes.items():
        query.pop(name, None)
        if value is not None:
            query[name] = value
    return f"{request.path}?{query.urlencode()}"
