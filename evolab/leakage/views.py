"""The leakage panel of a harness version page, loaded by htmx (and a plain URL too).

The harness app sits below this one, so its page asks for the panel over HTTP instead of
importing it; the first request for a version runs its check, later ones read it.
"""

from __future__ import annotations

from django.contrib.auth.decorators import login_required
from django.http import HttpResponse
from django.shortcuts import render
from django.views.decorators.http import require_GET

from evolab.core.http import AuthedRequest
from evolab.harnesses.selectors import get_version
from evolab.leakage.actions import harness_version_check
from evolab.leakage.selectors import summarise
from evolab.projects.selectors import get_project_for, role_of


@login_required
@require_GET
def harness_version_leakage(request: AuthedRequest, slug: str, number: int) -> HttpResponse:
    project = get_project_for(request.user, slug)
    version = get_version(project, number)
    checks = harness_version_check(version)
    context = {
        "project": project,
        "version": version,
        "leakage": summarise(checks, role=role_of(project)),
        "suites_checked": len(checks),
        "subject_label": "harness version",
    }
    template = "leakage/harness_version.html#panel" if request.htmx else "leakage/harness_version.html"  # type: ignore[attr-defined]
    response = render(request, template, context)
    response["Vary"] = "HX-Request"
    return response
