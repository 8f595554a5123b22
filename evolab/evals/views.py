"""Pages for eval suites: list and create, a version's cases, export (one case: case_views;
import and change requests: change_request_views)."""

from __future__ import annotations

from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.core.paginator import Paginator
from django.http import Http404, HttpResponse, StreamingHttpResponse
from django.shortcuts import redirect, render
from django.views.decorators.http import require_GET, require_http_methods

from evolab.core.errors import DomainError
from evolab.core.forms import add_domain_error
from evolab.core.http import AuthedRequest
from evolab.evals import actions
from evolab.evals.change_request_selectors import open_change_request_count
from evolab.evals.change_requests import holdout_export_record, holdout_view_record
from evolab.evals.exporting import jsonl_download
from evolab.evals.forms import SuiteForm
from evolab.evals.models import Split
from evolab.evals.selectors import (
    can_see_holdout,
    cases_of,
    get_suite,
    get_suite_version,
    get_suite_version_or_404,
    split_counts,
    suites_of,
    tag_counts,
    versions_of,
)
from evolab.projects.models import Role
from evolab.projects.selectors import get_project_for, role_of

CASES_PAGE_SIZE = 50


def _version_number(request: AuthedRequest) -> int | None:
    raw = request.GET.get("version", "")
    if not raw:
        return None
    if not raw.isdigit():
        raise Http404("No such suite version")
    return int(raw)


@login_required
@require_http_methods(["GET", "POST"])
def suite_list(request: AuthedRequest, slug: str) -> HttpResponse:
    project = get_project_for(request.user, slug)
    can_create = role_of(project) >= Role.MAINTAINER
    form = SuiteForm(request.POST) if request.method == "POST" else SuiteForm()
    status = 200
    if request.method == "POST":
        if not can_create:
            raise PermissionDenied("Creating a suite needs the maintainer role or higher.")
        if form.is_valid():
            try:
                suite = actions.suite_create(actor=request.user, project=project, **form.cleaned_data)
            except DomainError as error:
                add_domain_error(form, error)
            else:
                return redirect("evals:import", slug=project.slug, suite_slug=suite.slug)
        status = 422
    context = {"project": project, "suites": suites_of(project), "form": form, "can_create": can_create}
    return render(request, "evals/suites.html", context, status=status)


@login_required
@require_GET
def suite_detail(request: AuthedRequest, slug: str, suite_slug: str) -> HttpResponse:
    project = get_project_for(request.user, slug)
    role = role_of(project)
    suite = get_suite(project, suite_slug)
    version = get_suite_version(suite, _version_number(request))
    filters = {
        "q": request.GET.get("q", "").strip(),
        "tag": request.GET.get("tag", "").strip(),
        "split": request.GET.get("split", "") if request.GET.get("split") in Split.values else "",
    }
    context: dict[str, object] = {
        "project": project,
        "suite": suite,
        "version": version,
        "filters": filters,
        "splits": Split.values,
        "can_import": role >= Role.REVIEWER,
        "open_change_requests": open_change_request_count(suite),
        "sees_holdout": can_see_holdout(role),
    }
    if version is not None:
        cases = cases_of(version, viewer_role=role, search=filters["q"], tag=filters["tag"], split=filters["split"])
        page = Paginator(cases, CASES_PAGE_SIZE).get_page(request.GET.get("page"))
        context["page"] = page
        # Held-out text shown to a maintainer or owner: one audit event per page view.
        holdout_view_record(
            actor=request.user,
            suite=suite,
            keys=[case.key for case in page.object_list if case.split == Split.HOLDOUT and not case.sealed],
            where=f"suite page v{version.number}",
        )
        if not request.htmx:  # type: ignore[attr-defined]
            context["versions"] = versions_of(suite)
            context["tags"] = tag_counts(version)
            context["split_counts"] = split_counts(version)
    template = "evals/suite.html#cases" if request.htmx else "evals/suite.html"  # type: ignore[attr-defined]
    return render(request, template, context)


@login_required
@require_GET
def suite_export(request: AuthedRequest, slug: str, suite_slug: str) -> StreamingHttpResponse:
    """JSONL download; holdout cases are in it for maintainers and owners only."""
    project = get_project_for(request.user, slug)
    version = get_suite_version_or_404(get_suite(project, suite_slug), _version_number(request))
    include_holdout = can_see_holdout(role_of(project))
    if include_holdout:
        holdout_export_record(actor=request.user, version=version)
    return jsonl_download(version, include_holdout=include_holdout)
