"""Pages for eval suites: list and create, a version's cases, one case, import, export."""

from __future__ import annotations

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.core.paginator import Paginator
from django.http import Http404, HttpResponse, StreamingHttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.views.decorators.http import require_GET, require_http_methods

from evolab.core.errors import DomainError
from evolab.core.forms import add_domain_error
from evolab.core.http import AuthedRequest
from evolab.evals import actions
from evolab.evals.exporting import jsonl_download
from evolab.evals.forms import ImportForm, SuiteForm
from evolab.evals.importing import ImportFailed, guess_format
from evolab.evals.models import Split
from evolab.evals.selectors import (
    can_see_holdout,
    cases_of,
    get_case,
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
        "can_import": role >= Role.MAINTAINER,
        "sees_holdout": can_see_holdout(role),
    }
    if version is not None:
        cases = cases_of(version, viewer_role=role, search=filters["q"], tag=filters["tag"], split=filters["split"])
        context["page"] = Paginator(cases, CASES_PAGE_SIZE).get_page(request.GET.get("page"))
        if not request.htmx:  # type: ignore[attr-defined]
            context["versions"] = versions_of(suite)
            context["tags"] = tag_counts(version)
            context["split_counts"] = split_counts(version)
    template = "evals/suite.html#cases" if request.htmx else "evals/suite.html"  # type: ignore[attr-defined]
    return render(request, template, context)


@login_required
@require_GET
def case_detail(request: AuthedRequest, slug: str, suite_slug: str, number: int, key: str) -> HttpResponse:
    project = get_project_for(request.user, slug)
    suite = get_suite(project, suite_slug)
    version = get_suite_version(suite, number)
    case = get_case(version, key, viewer_role=role_of(project))
    grader = None if case.sealed else (case.grader or version.default_grader)
    context = {"project": project, "suite": suite, "version": version, "case": case, "grader": grader}
    return render(request, "evals/case.html", context)


@login_required
@require_http_methods(["GET", "POST"])
def suite_import(request: AuthedRequest, slug: str, suite_slug: str) -> HttpResponse:
    project = get_project_for(request.user, slug, Role.MAINTAINER)
    suite = get_suite(project, suite_slug)
    form = ImportForm(request.POST, request.FILES) if request.method == "POST" else ImportForm()
    import_error: ImportFailed | None = None
    status = 200
    if request.method == "POST":
        status = 422
        if form.is_valid():
            upload = form.cleaned_data["file"]
            try:
                version = actions.suite_version_import(
                    actor=request.user,
                    suite=suite,
                    source=upload.read(),
                    fmt=form.cleaned_data["format"] or guess_format(upload.name),
                    mapping=form.cleaned_data["mapping"],
                    default_grader=form.cleaned_data["default_grader"],
                    message=form.cleaned_data["message"],
                    base=form.cleaned_data["mode"],
                )
            except ImportFailed as error:
                import_error = error
            except DomainError as error:
                add_domain_error(form, error)
            else:
                messages.success(request, f"Imported v{version.number}: {version.case_count} cases.")
                url = reverse("evals:suite", kwargs={"slug": project.slug, "suite_slug": suite.slug})
                return redirect(f"{url}?version={version.number}")
    context = {"project": project, "suite": suite, "form": form, "import_error": import_error}
    return render(request, "evals/import.html", context, status=status)


@login_required
@require_GET
def suite_export(request: AuthedRequest, slug: str, suite_slug: str) -> StreamingHttpResponse:
    """JSONL download; holdout cases are in it for maintainers and owners only."""
    project = get_project_for(request.user, slug)
    version = get_suite_version_or_404(get_suite(project, suite_slug), _version_number(request))
    return jsonl_download(version, include_holdout=can_see_holdout(role_of(project)))
