"""The project dashboard: the one page that reads across apps, so it lives above them."""

from __future__ import annotations

from django.contrib.auth.decorators import login_required
from django.http import HttpResponse
from django.shortcuts import render

from evolab.core.http import AuthedRequest
from evolab.evals.selectors import suites_of
from evolab.harnesses.selectors import head_of, versions_of
from evolab.projects.selectors import get_project_for, members_of
from evolab.runs.selectors import run_list

RECENT_VERSIONS = 8
RECENT_RUNS = 5


@login_required
def project_dashboard(request: AuthedRequest, slug: str) -> HttpResponse:
    project = get_project_for(request.user, slug)
    context = {
        "project": project,
        "head": head_of(project),
        "recent_versions": versions_of(project)[:RECENT_VERSIONS],
        "suites": suites_of(project),
        "recent_runs": run_list(project)[:RECENT_RUNS],
        "members": members_of(project),
    }
    return render(request, "dashboard.html", context)
