"""Pages of suite change requests: the list with its status filter and the suite's
review policy, one request (diff, duplicates, votes, comments, decisions), the owners'
policy form, and the browser import (upload → mapping and preview → change request).

Each POST calls one action and redirects back with the outcome as a message; a refusal
(a DomainError or PermissionDenied from the action) is shown the same way, so nothing
is half-done. Access is checked here with `get_project_for` and again in the action.
"""

from __future__ import annotations

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.core.paginator import Paginator
from django.http import HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from evolab.core.errors import DomainError
from evolab.core.forms import add_domain_error
from evolab.core.http import AuthedRequest
from evolab.evals import change_requests as actions
from evolab.evals.change_operations import redacted_operations
from evolab.evals.change_request_forms import CloseForm, CommentForm, MappingForm, PolicyForm, UploadForm, VoteForm
from evolab.evals.change_request_selectors import (
    STATUS_FILTERS,
    change_request_view,
    change_requests_of,
    get_change_request,
)
from evolab.evals.import_changes import get_upload, import_open_change_request, import_preview, import_upload_store
from evolab.evals.importing import ImportFailed, guess_format, guess_mapping, source_fields
from evolab.evals.models import ChangeRequest, EvalSuite
from evolab.evals.selectors import get_suite, get_suite_version
from evolab.projects.models import Project, Role
from evolab.projects.selectors import get_project_for, role_of

DIFFS_PAGE_SIZE = 50
LIST_PAGE_SIZE = 50


def _cr_url(project: Project, suite: EvalSuite, number: int) -> str:
    return reverse("evals:change_request", kwargs={"slug": project.slug, "suite_slug": suite.slug, "number": number})


@login_required
@require_GET
def change_request_list(request: AuthedRequest, slug: str, suite_slug: str) -> HttpResponse:
    project = get_project_for(request.user, slug)
    suite = get_suite(project, suite_slug)
    status = request.GET.get("status", "open")
    if status not in STATUS_FILTERS:
        status = "open"
    page = Paginator(change_requests_of(suite, status), LIST_PAGE_SIZE).get_page(request.GET.get("page"))
    context = {
        "project": project,
        "suite": suite,
        "page": page,
        "status": status,
        "statuses": STATUS_FILTERS,
        "policy": actions.policy_of(suite),
        "can_open": role_of(project) >= Role.REVIEWER,
        "can_edit_policy": role_of(project) >= Role.OWNER,
    }
    template = "evals/change_requests.html#list" if request.htmx else "evals/change_requests.html"  # type: ignore[attr-defined]
    return render(request, template, context)


@login_required
@require_GET
def change_request_detail(request: AuthedRequest, slug: str, suite_slug: str, number: int) -> HttpResponse:
    """The review page; `?page=` pages through the diff (htmx swaps the #diff panel only).
    A maintainer's view of held-out text is audited once per response."""
    project = get_project_for(request.user, slug)
    suite = get_suite(project, suite_slug)
    role = role_of(project)
    view = change_request_view(get_change_request(suite, number), role)
    page = Paginator(view.diffs, DIFFS_PAGE_SIZE).get_page(request.GET.get("page"))
    actions.holdout_view_record(
        actor=request.user,
        suite=suite,
        keys=view.holdout_keys_shown(list(page.object_list)),
        where=f"change request #{number}",
    )
    context = {
        "project": project,
        "suite": suite,
        "view": view,
        "cr": view.change_request,
        "page": page,
        "can_vote": role >= Role.REVIEWER and view.change_request.status in ("in_review", "approved"),
        "can_comment": role >= Role.REVIEWER,
        "can_apply": role >= Role.MAINTAINER and view.change_request.is_open,
        "can_close": view.change_request.is_open
        and (role >= Role.MAINTAINER or view.change_request.author_id == request.user.pk),
        "can_submit": view.change_request.status == "draft"
        and (role >= Role.MAINTAINER or view.change_request.author_id == request.user.pk),
        "operations": redacted_operations(view.change_request.operations, sees_holdout=view.sees_holdout),
        "vote_form": VoteForm(),
        "comment_form": CommentForm(),
        "close_form": CloseForm(),
    }
    template = "evals/change_request.html#diff" if request.htmx else "evals/change_request.html"  # type: ignore[attr-defined]
    return render(request, template, context)


def _decide(
    request: AuthedRequest, slug: str, suite_slug: str, number: int, min_role: Role
) -> tuple[Project, EvalSuite, ChangeRequest]:
    project = get_project_for(request.user, slug, min_role)
    suite = get_suite(project, suite_slug)
    return project, suite, get_change_request(suite, number)


def _refused(request: AuthedRequest, error: DomainError | PermissionDenied) -> None:
    messages.error(request, error.message if isinstance(error, DomainError) else str(error))


@login_required
@require_POST
def change_request_vote(request: AuthedRequest, slug: str, suite_slug: str, number: int) -> HttpResponse:
    project, suite, change_request = _decide(request, slug, suite_slug, number, Role.REVIEWER)
    form = VoteForm(request.POST)
    if not form.is_valid():
        messages.error(request, "Choose approve, request changes or veto.")
    else:
        try:
            actions.change_request_vote(
                actor=request.user, change_request=change_request, value=form.cleaned_data["value"]
            )
        except DomainError as error:
            _refused(request, error)
        else:
            messages.success(request, f"Vote recorded: {form.cleaned_data['value'].replace('_', ' ')}.")
    return redirect(_cr_url(project, suite, number))


@login_required
@require_POST
def change_request_comment(request: AuthedRequest, slug: str, suite_slug: str, number: int) -> HttpResponse:
    project, suite, change_request = _decide(request, slug, suite_slug, number, Role.REVIEWER)
    form = CommentForm(request.POST)
    if not form.is_valid():
        messages.error(request, "Write a comment (up to 10,000 characters).")
    else:
        try:
            comment = actions.change_request_comment(
                actor=request.user,
                change_request=change_request,
                text=form.cleaned_data["text"],
                case_key=form.cleaned_data["case_key"],
            )
        except DomainError as error:
            _refused(request, error)
        else:
            return redirect(f"{_cr_url(project, suite, number)}#comment-{comment.pk}")
    return redirect(_cr_url(project, suite, number))


@login_required
@require_POST
def change_request_submit(request: AuthedRequest, slug: str, suite_slug: str, number: int) -> HttpResponse:
    project, suite, change_request = _decide(request, slug, suite_slug, number, Role.REVIEWER)
    try:
        actions.change_request_submit(actor=request.user, change_request=change_request)
    except DomainError as error:
        _refused(request, error)
    else:
        messages.success(request, "Submitted for review.")
    return redirect(_cr_url(project, suite, number))


@login_required
@require_POST
def change_request_apply(request: AuthedRequest, slug: str, suite_slug: str, number: int) -> HttpResponse:
    project, suite, change_request = _decide(request, slug, suite_slug, number, Role.MAINTAINER)
    direct = request.POST.get("direct") == "1"
    try:
        version = actions.change_request_apply(actor=request.user, change_request=change_request, direct=direct)
    except DomainError as error:
        _refused(request, error)
    except PermissionDenied as error:
        _refused(request, error)
    else:
        messages.success(request, f"Applied as v{version.number} ({version.case_count} cases).")
    return redirect(_cr_url(project, suite, number))


@login_required
@require_POST
def change_request_close(request: AuthedRequest, slug: str, suite_slug: str, number: int) -> HttpResponse:
    """Its author (a reviewer or up) or a maintainer closes it; others get 403 from the action."""
    project, suite, change_request = _decide(request, slug, suite_slug, number, Role.REVIEWER)
    form = CloseForm(request.POST)
    reason = form.cleaned_data["reason"] if form.is_valid() else ""
    try:
        actions.change_request_close(actor=request.user, change_request=change_request, reason=reason)
    except DomainError as error:
        _refused(request, error)
    else:
        messages.success(request, "Closed without applying.")
    return redirect(_cr_url(project, suite, number))


@login_required
@require_http_methods(["GET", "POST"])
def suite_policy(request: AuthedRequest, slug: str, suite_slug: str) -> HttpResponse:
    """Owners set how the suite's change requests are reviewed."""
    project = get_project_for(request.user, slug, Role.OWNER)
    suite = get_suite(project, suite_slug)
    current = actions.policy_of(suite)
    form = PolicyForm(request.POST) if request.method == "POST" else PolicyForm(initial=current.as_dict())
    status = 200
    if request.method == "POST":
        status = 422
        if form.is_valid():
            try:
                actions.suite_policy_update(actor=request.user, suite=suite, settings=form.cleaned_data)
            except DomainError as error:
                add_domain_error(form, error)
            else:
                messages.success(request, "Review policy saved.")
                return redirect("evals:change_requests", slug=project.slug, suite_slug=suite.slug)
    return render(request, "evals/suite_policy.html", {"project": project, "suite": suite, "form": form}, status=status)


# --- browser import ------------------------------------------------------------------


@login_required
@require_http_methods(["GET", "POST"])
def suite_import(request: AuthedRequest, slug: str, suite_slug: str) -> HttpResponse:
    """Step 1: upload. The file is kept aside (nothing enters the suite) for step 2."""
    project = get_project_for(request.user, slug, Role.REVIEWER)
    suite = get_suite(project, suite_slug)
    form = UploadForm(request.POST, request.FILES) if request.method == "POST" else UploadForm()
    status = 200
    if request.method == "POST":
        status = 422
        if form.is_valid():
            upload = form.cleaned_data["file"]
            try:
                stored = import_upload_store(
                    actor=request.user,
                    suite=suite,
                    filename=upload.name or "",
                    fmt=form.cleaned_data["format"] or guess_format(upload.name or ""),
                    data=upload.read(),
                )
            except DomainError as error:
                add_domain_error(form, error)
            else:
                return redirect("evals:import_preview", slug=project.slug, suite_slug=suite.slug, upload_id=stored.pk)
    context = {"project": project, "suite": suite, "form": form, "policy": actions.policy_of(suite)}
    return render(request, "evals/import.html", context, status=status)


@login_required
@require_http_methods(["GET", "POST"])
def import_preview_page(request: AuthedRequest, slug: str, suite_slug: str, upload_id: int) -> HttpResponse:
    """Step 2: choose the mapping, see the first rows and every error; then open a change
    request (or, where the policy allows, apply it directly). `action=preview` re-renders."""
    project = get_project_for(request.user, slug, Role.REVIEWER)
    role = role_of(project)
    suite = get_suite(project, suite_slug)
    upload = get_upload(suite, request.user, upload_id)
    data = bytes(upload.data)
    fields = source_fields(data, fmt=upload.fmt)
    if request.method == "POST":
        form = MappingForm(request.POST, source_fields=fields)
    else:
        guess = guess_mapping(fields)
        form = MappingForm(
            initial={f"map_{name}": src for name, src in guess.items()} | {"mode": "merge"}, source_fields=fields
        )
    has_version = get_suite_version(suite, None) is not None
    policy = actions.policy_of(suite)
    # Direct application is offered only where the action would allow it.
    may_apply_directly = role >= Role.MAINTAINER and (not has_version or policy.allow_direct_apply)
    preview = None
    status = 200
    if form.is_bound and form.is_valid():
        options = {
            "suite": suite,
            "data": data,
            "fmt": upload.fmt,
            "mapping": form.mapping(),
            "default_grader": form.cleaned_data["default_grader"],
            "mode": form.cleaned_data["mode"],
        }
        action = request.POST.get("action", "preview")
        try:
            if action in ("open", "apply"):
                change_request, version = import_open_change_request(
                    actor=request.user,
                    title=form.cleaned_data["title"],
                    description=form.cleaned_data["description"],
                    filename=upload.filename,
                    direct=action == "apply",
                    **options,
                )
                upload.delete()
                if version is not None:
                    messages.success(request, f"Applied directly as v{version.number} ({version.case_count} cases).")
                else:
                    messages.success(request, f"Opened change request #{change_request.number} for review.")
                return redirect(_cr_url(project, suite, change_request.number))
            preview = import_preview(**options)
        except ImportFailed:
            preview = import_preview(**options)
            status = 422
        except DomainError as error:
            add_domain_error(form, error)
            status = 422
        except PermissionDenied as error:
            messages.error(request, str(error))
            preview = import_preview(**options)
            status = 403
    elif not form.is_bound:
        preview = import_preview(
            suite=suite, data=data, fmt=upload.fmt, mapping=_initial_mapping(form), default_grader=None, mode="merge"
        )
    else:
        status = 422
    context = {
        "project": project,
        "suite": suite,
        "upload": upload,
        "form": form,
        "fields": fields,
        "preview": preview,
        "may_apply_directly": may_apply_directly,
        "policy": policy,
    }
    return render(request, "evals/import_preview.html", context, status=status)


def _initial_mapping(form: MappingForm) -> dict[str, str]:
    return {
        name[len("map_") :]: value
        for name, value in form.initial.items()
        if name.startswith("map_") and value and value != name[len("map_") :]
    }
