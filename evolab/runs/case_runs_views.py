"""The "runs and statistics" panel of the case page: every run that scored the case
(by stable key, across suite versions), its pass rate, variance and flaky verdict.

The case page (evals) loads it with htmx; without JavaScript it is a page of its own.
"""

from __future__ import annotations

from django.contrib.auth.decorators import login_required
from django.core.paginator import Paginator
from django.http import Http404, HttpResponse
from django.shortcuts import render
from django.views.decorators.http import require_GET

from evolab.core.http import AuthedRequest
from evolab.evals.selectors import get_suite
from evolab.projects.selectors import get_project_for
from evolab.runs.case_selectors import attach_runs, case_runs

CASE_RUNS_PAGE_SIZE = 20


@login_required
@require_GET
def case_runs_panel(request: AuthedRequest, slug: str, suite_slug: str, key: str) -> HttpResponse:
    project = get_project_for(request.user, slug)
    suite = get_suite(project, suite_slug)
    raw_version = request.GET.get("version", "")
    if raw_version and not raw_version.isdigit():
        raise Http404("No such suite version")
    version_number = int(raw_version) if raw_version else None
    data = case_runs(suite, key, version_number=version_number)
    page = Paginator(data.runs, CASE_RUNS_PAGE_SIZE).get_page(request.GET.get("page"))
    attach_runs(list(page.object_list))
    context = {
        "project": project,
        "suite": suite,
        "key": key,
        "data": data,
        "page": page,
        "version_number": version_number,
    }
    template = "runs/case_runs.html#panel" if request.htmx else "runs/case_runs.html"  # type: ignore[attr-defined]
    response = render(request, template, context)
    response["Vary"] = "HX-Request"
    return response
