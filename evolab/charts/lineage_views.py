"""The lineage page: the graph of a project's harness versions (see `charts.lineage`)."""

from __future__ import annotations

from django.contrib.auth.decorators import login_required
from django.http import HttpResponse
from django.shortcuts import render
from django.views.decorators.http import require_GET

from evolab.charts.lineage import project_lineage
from evolab.core.http import AuthedRequest
from evolab.projects.selectors import get_project_for


@login_required
@require_GET
def lineage_page(request: AuthedRequest, slug: str) -> HttpResponse:
    project = get_project_for(request.user, slug)
    lineage = project_lineage(project)
    context = {"project": project, "lineage": lineage, "chart": lineage.chart()}
    return render(request, "charts/lineage.html", context)
