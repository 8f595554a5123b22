"""Pages for projects, members, backends, the audit log and personal API tokens."""

from __future__ import annotations

import csv
import json
from collections.abc import AsyncIterator

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.paginator import Paginator
from django.db.models import QuerySet
from django.http import Http404, HttpResponse, StreamingHttpResponse
from django.shortcuts import redirect, render
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from evolab.core.csv_export import Echo, safe_cell
from evolab.core.errors import DomainError
from evolab.core.forms import add_domain_error
from evolab.core.http import AuthedRequest
from evolab.core.models import AuditEvent
from evolab.core.selectors import audit_events_for_project, audit_facets
from evolab.projects import actions
from evolab.projects.forms import (
    AuditFilterForm,
    BackendForm,
    MemberAddForm,
    MemberRoleForm,
    ProjectEditForm,
    ProjectForm,
    TokenForm,
)
from evolab.projects.models import Membership, Project, Role
from evolab.projects.presets import PRESETS
from evolab.projects.selectors import (
    backends_of,
    get_backend,
    get_project_for,
    members_of,
    projects_for_user,
    role_of,
    tokens_of,
)

AUDIT_PAGE_SIZE = 50


@login_required
@require_http_methods(["GET", "POST"])
def project_list(request: AuthedRequest) -> HttpResponse:
    form = ProjectForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        try:
            project = actions.project_create(actor=request.user, **form.cleaned_data)
        except DomainError as error:
            add_domain_error(form, error)
        else:
            return redirect("dashboard", slug=project.slug)
    memberships = projects_for_user(request.user)
    return render(request, "projects/list.html", {"memberships": memberships, "form": form})


def _settings_context(project: Project, **extra: object) -> dict[str, object]:
    return {
        "project": project,
        "members": members_of(project),
        "add_form": MemberAddForm(),
        "edit_form": ProjectEditForm(initial={"name": project.name, "description": project.description}),
        "roles": MemberRoleForm.base_fields["role"].choices,  # type: ignore[attr-defined]
        **extra,
    }


@login_required
@require_http_methods(["GET", "POST"])
def project_settings(request: AuthedRequest, slug: str) -> HttpResponse:
    project = get_project_for(request.user, slug, Role.OWNER)
    if request.method == "POST":
        edit_form = ProjectEditForm(request.POST)
        if edit_form.is_valid():
            actions.project_update(actor=request.user, project=project, **edit_form.cleaned_data)
            messages.success(request, "Project saved.")
            return redirect("projects:settings", slug=project.slug)
        return render(request, "projects/settings.html", _settings_context(project, edit_form=edit_form))
    return render(request, "projects/settings.html", _settings_context(project))


def _render_members(request: AuthedRequest, project: Project, **extra: object) -> HttpResponse:
    status = 422 if extra.get("error") else 200
    template = "projects/settings.html#members" if request.htmx else "projects/settings.html"  # type: ignore[attr-defined]
    return render(request, template, _settings_context(project, **extra), status=status)


def _membership(project: Project, membership_id: int) -> Membership:
    membership = members_of(project).filter(pk=membership_id).first()
    if membership is None:
        raise Http404("No such member")
    return membership


@login_required
@require_POST
def member_add(request: AuthedRequest, slug: str) -> HttpResponse:
    project = get_project_for(request.user, slug, Role.OWNER)
    form = MemberAddForm(request.POST)
    if not form.is_valid():
        return _render_members(request, project, add_form=form, error="Check the form.")
    try:
        actions.membership_add(
            actor=request.user,
            project=project,
            username=form.cleaned_data["username"],
            role=Role[form.cleaned_data["role"].upper()],
        )
    except DomainError as error:
        add_domain_error(form, error)
        return _render_members(request, project, add_form=form, error=error.message)
    return _render_members(request, project)


@login_required
@require_POST
def member_role(request: AuthedRequest, slug: str, membership_id: int) -> HttpResponse:
    project = get_project_for(request.user, slug, Role.OWNER)
    membership = _membership(project, membership_id)
    form = MemberRoleForm(request.POST)
    if not form.is_valid():
        return _render_members(request, project, error="Choose a role.")
    try:
        actions.membership_change_role(
            actor=request.user, membership=membership, role=Role[form.cleaned_data["role"].upper()]
        )
    except DomainError as error:
        return _render_members(request, project, error=error.message)
    return _render_members(request, project)


@login_required
@require_POST
def member_remove(request: AuthedRequest, slug: str, membership_id: int) -> HttpResponse:
    project = get_project_for(request.user, slug, Role.OWNER)
    membership = _membership(project, membership_id)
    try:
        actions.membership_remove(actor=request.user, membership=membership)
    except DomainError as error:
        return _render_members(request, project, error=error.message)
    if membership.user_id == request.user.pk:
        return redirect("projects:list")
    return _render_members(request, project)


@login_required
def backend_list(request: AuthedRequest, slug: str) -> HttpResponse:
    project = get_project_for(request.user, slug)
    return render(
        request,
        "projects/backends.html",
        {
            "project": project,
            "backends": backends_of(project),
            "presets": PRESETS.values(),
            "can_edit": role_of(project) >= Role.OWNER,
        },
    )


def _backend_fields(form: BackendForm) -> actions.BackendFields:
    return actions.BackendFields(**form.cleaned_data)


@login_required
@require_http_methods(["GET", "POST"])
def backend_new(request: AuthedRequest, slug: str) -> HttpResponse:
    project = get_project_for(request.user, slug, Role.OWNER)
    preset = PRESETS.get(request.GET.get("preset", ""))
    initial = {"default_params": "{}", "family": "generic", "kind": "openai_compat"}
    if preset is not None:
        initial = BackendForm.initial_from(preset.fields)
    form = BackendForm(request.POST or None, initial=initial)
    if request.method == "POST" and form.is_valid():
        try:
            actions.backend_create(actor=request.user, project=project, fields=_backend_fields(form))
        except DomainError as error:
            add_domain_error(form, error)
        else:
            return redirect("projects:backends", slug=project.slug)
    return render(request, "projects/backend_form.html", {"project": project, "form": form, "preset": preset})


@login_required
@require_http_methods(["GET", "POST"])
def backend_edit(request: AuthedRequest, slug: str, backend_id: int) -> HttpResponse:
    project = get_project_for(request.user, slug, Role.OWNER)
    backend = get_backend(project, backend_id)
    form = BackendForm(request.POST or None, initial=BackendForm.initial_from(actions.backend_fields_of(backend)))
    if request.method == "POST" and form.is_valid():
        try:
            actions.backend_update(actor=request.user, backend=backend, fields=_backend_fields(form))
        except DomainError as error:
            add_domain_error(form, error)
        else:
            return redirect("projects:backends", slug=project.slug)
    return render(request, "projects/backend_form.html", {"project": project, "form": form, "backend": backend})


PROBE_SYMBOLS = {"accepted": "✓", "rejected": "✗", "ignored": "⚠", "unknown": "?"}


@login_required
def backend_detail(request: AuthedRequest, slug: str, backend_id: int) -> HttpResponse:
    project = get_project_for(request.user, slug)
    backend = get_backend(project, backend_id)
    rows = []
    for param in actions.PROBED_PARAMETERS:
        probe = backend.probe_results.get(param, {})
        status = probe.get("status")
        rows.append(
            {
                "param": param,
                "default": backend.default_params.get(param, "—"),
                "status": status,
                "symbol": PROBE_SYMBOLS.get(status or "", ""),
                "evidence": probe.get("evidence", ""),
            }
        )
    context = {"project": project, "backend": backend, "rows": rows, "can_edit": role_of(project) >= Role.OWNER}
    template = "projects/backend.html#probe" if request.htmx else "projects/backend.html"  # type: ignore[attr-defined]
    return render(request, template, context)


@login_required
@require_POST
def backend_probe(request: AuthedRequest, slug: str, backend_id: int) -> HttpResponse:
    project = get_project_for(request.user, slug, Role.OWNER)
    backend = get_backend(project, backend_id)
    actions.backend_probe_request(actor=request.user, backend=backend)
    messages.success(request, "Probe queued: a worker sends about fifteen small requests.")
    return redirect("projects:backend", slug=project.slug, backend_id=backend.pk)


@login_required
@require_POST
def backend_delete(request: AuthedRequest, slug: str, backend_id: int) -> HttpResponse:
    project = get_project_for(request.user, slug, Role.OWNER)
    actions.backend_delete(actor=request.user, backend=get_backend(project, backend_id))
    return redirect("projects:backends", slug=project.slug)


@login_required
@require_GET
def audit_log(request: AuthedRequest, slug: str) -> HttpResponse | StreamingHttpResponse:
    """Every member reads the log; filters come from the query string, and
    `?format=csv` downloads every event the filters match."""
    project = get_project_for(request.user, slug)
    facets = audit_facets(project.pk)
    form = AuditFilterForm(request.GET, actors=facets.actors)
    if not form.is_valid():
        context = {"project": project, "form": form, "facets": facets, "page": None}
        return render(request, "projects/audit.html", context, status=400)
    events = audit_events_for_project(project.pk, form.filters())
    if request.GET.get("format") == "csv":
        return _audit_csv(project, events)
    page = Paginator(events, AUDIT_PAGE_SIZE).get_page(request.GET.get("page"))
    query = request.GET.copy()
    query.pop("page", None)
    query["format"] = "csv"
    context = {"project": project, "form": form, "facets": facets, "page": page, "csv_query": query.urlencode()}
    return render(request, "projects/audit.html", context)


AUDIT_CSV_HEADER = ["time", "actor", "action", "object_type", "object_id", "label", "before", "after"]


def _json_cell(value: object) -> str:
    return "" if value is None else json.dumps(value, ensure_ascii=False, sort_keys=True)


def _audit_csv(project: Project, events: QuerySet[AuditEvent]) -> StreamingHttpResponse:
    """The events as CSV, streamed in chunks so a long log never sits in memory whole.
    The rows come from an async iterator because the app is served over ASGI, where
    Django would read a synchronous one to the end before sending anything."""
    writer = csv.writer(Echo())
    fields = ("created_at", "actor_label", "action", "object_type", "object_id", "object_label", "before", "after")
    rows = events.select_related(None).only(*fields)

    async def lines() -> AsyncIterator[str]:
        yield writer.writerow(AUDIT_CSV_HEADER)
        async for e in rows.aiterator(chunk_size=500):
            texts = [e.actor_label, e.action, e.object_type, e.object_id, e.object_label]
            cells = [e.created_at.isoformat(), *texts, _json_cell(e.before), _json_cell(e.after)]
            yield writer.writerow([safe_cell(cell) for cell in cells])

    response = StreamingHttpResponse(lines(), content_type="text/csv; charset=utf-8")
    response["Content-Disposition"] = f'attachment; filename="{project.slug}-audit.csv"'
    return response


@login_required
@require_http_methods(["GET", "POST"])
def token_list(request: AuthedRequest) -> HttpResponse:
    form = TokenForm(request.POST or None)
    created = None
    if request.method == "POST" and form.is_valid():
        _, created = actions.token_create(user=request.user, name=form.cleaned_data["name"])
        form = TokenForm()
    return render(
        request, "projects/tokens.html", {"tokens": tokens_of(request.user), "form": form, "created": created}
    )


@login_required
@require_POST
def token_revoke(request: AuthedRequest, token_id: int) -> HttpResponse:
    token = tokens_of(request.user).filter(pk=token_id).first()
    if token is None:
        raise Http404("No such token")
    actions.token_revoke(token=token)
    messages.success(request, f"Token '{token.name}' revoked.")
    return redirect("projects:tokens")
