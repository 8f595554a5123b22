"""Pages for harness versions: history, one version, new version (edit or .zip), diff, revert."""

from __future__ import annotations

from typing import Any, TypeVar, cast

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.paginator import Paginator
from django.http import HttpRequest, HttpResponse, QueryDict
from django.shortcuts import redirect, render
from django.urls import reverse
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from evolab.core.errors import Conflict, DomainError
from evolab.core.forms import add_domain_error
from evolab.harnesses import actions
from evolab.harnesses.forms import BaseFileRowFormSet, CommitForm, DiffForm, FileRowFormSet, RevertForm, UploadForm
from evolab.harnesses.models import HarnessVersion
from evolab.harnesses.selectors import diff_pair, diff_versions, first_parent_of, get_version, head_of, version_history
from evolab.projects.models import Project, Role
from evolab.projects.selectors import get_project_for, role_of

HISTORY_PAGE_SIZE = 50
FormT = TypeVar("FormT", bound=CommitForm)
# What a first commit starts from: the two files every harness has, with the defaults
# spelled out so that people see which knobs exist.
STARTER_FILES = {
    "harness.yaml": (
        "sampling:\n  temperature: 1.0\n  top_p: 0.95\n  max_tokens: 2048\n"
        "agent:\n  max_turns: 10\n  loop_guard:\n    window: 6\n    threshold: 3\n  tools: []\n"
    ),
    "system.md": "You are a careful assistant.\n",
}


def _can_edit(project: Project) -> bool:
    return role_of(project) >= Role.MAINTAINER


def _template(request: HttpRequest, page: str, fragment: str) -> str:
    return f"{page}#{fragment}" if request.htmx else page  # type: ignore[attr-defined]


@login_required
@require_GET
def history(request: HttpRequest, slug: str) -> HttpResponse:
    project = get_project_for(request.user, slug)
    page = Paginator(version_history(project), HISTORY_PAGE_SIZE).get_page(request.GET.get("page"))
    context = {"project": project, "page": page, "head": head_of(project), "can_edit": _can_edit(project)}
    return render(request, _template(request, "harnesses/history.html", "versions"), context)


@login_required
@require_GET
def version_detail(request: HttpRequest, slug: str, number: int) -> HttpResponse:
    project = get_project_for(request.user, slug)
    version = get_version(project, number)
    return _render_version(request, project, version, RevertForm())


def _render_version(
    request: HttpRequest, project: Project, version: HarnessVersion, revert_form: RevertForm, status: int = 200
) -> HttpResponse:
    head = head_of(project)
    context = {
        "project": project,
        "version": version,
        "head": head,
        "is_head": head is not None and head.pk == version.pk,
        "parent": first_parent_of(version),
        "parents": [link.parent for link in version.parent_links.all()],
        "files": [
            {"path": path, "text": text, "lines": len(text.splitlines())}
            for path, text in sorted(version.files.items())
        ],
        "can_edit": _can_edit(project),
        "revert_form": revert_form,
    }
    return render(request, "harnesses/version.html", context, status=status)


def _parents_from_base(project: Project, base: int | None) -> list[HarnessVersion]:
    # The edit started from `base` (or from nothing, for a first commit); committing on
    # top of it makes head move only if nobody else moved it in the meantime.
    return [get_version(project, base)] if base else []


def _after_head_moved(form: FormT, posted: QueryDict, project: Project) -> FormT:
    """The same form, now based on the current head, so that a second submit (after the
    person has looked at what changed) commits on top of it."""
    head = head_of(project)
    data = posted.copy()
    data["base"] = str(head.number) if head is not None else ""
    rebased = type(form)(data, form.files)
    rebased.is_valid()
    for error in form.non_field_errors():
        rebased.add_error(None, error)
    return rebased


def _file_rows(data: QueryDict | None = None, initial: list[dict[str, str]] | None = None) -> BaseFileRowFormSet:
    return cast(BaseFileRowFormSet, FileRowFormSet(data, initial=initial, prefix="f"))


@login_required
@require_http_methods(["GET", "POST"])
def version_new(request: HttpRequest, slug: str) -> HttpResponse:
    project = get_project_for(request.user, slug, Role.MAINTAINER)
    head = head_of(project)
    if request.method == "GET":
        files = head.files if head is not None else STARTER_FILES
        formset = _file_rows(initial=[{"path": p, "text": t} for p, t in sorted(files.items())])
        form = CommitForm(initial={"base": head.number if head is not None else None})
        return _render_new(request, project, head, form, formset)
    formset = _file_rows(request.POST)
    form = CommitForm(request.POST)
    if not (formset.is_valid() and form.is_valid()):
        return _render_new(request, project, head, form, formset, status=422)
    try:
        version = actions.version_create(
            actor=request.user,
            project=project,
            files=formset.tree(),
            message=form.cleaned_data["message"],
            parents=_parents_from_base(project, form.cleaned_data["base"]),
        )
    except DomainError as error:
        if not formset.show_error(error):
            add_domain_error(form, error)
        moved_from = None
        if isinstance(error, Conflict) and error.field == "head":
            moved_from = form.cleaned_data["base"] or 0
            form = _after_head_moved(form, request.POST, project)
        status = 409 if isinstance(error, Conflict) else 422
        return _render_new(request, project, head_of(project), form, formset, status=status, moved_from=moved_from)
    messages.success(request, f"Committed v{version.number}; it is now head.")
    return redirect("harnesses:version", slug=project.slug, number=version.number)


def _render_new(
    request: HttpRequest,
    project: Project,
    head: HarnessVersion | None,
    form: CommitForm,
    formset: BaseFileRowFormSet,
    status: int = 200,
    moved_from: int | None = None,
) -> HttpResponse:
    base = form["base"].value()
    base_number = int(base) if str(base or "").isdigit() else None
    if moved_from is None and head is not None and base_number != head.number:
        moved_from = base_number or 0
    context = {
        "project": project,
        "head": head,
        "form": form,
        "formset": formset,
        "base": base_number,
        # The version the edit started from, when head has moved on since (0: no head then).
        "moved_from": moved_from,
    }
    return render(request, "harnesses/new.html", context, status=status)


@login_required
@require_http_methods(["GET", "POST"])
def version_upload(request: HttpRequest, slug: str) -> HttpResponse:
    project = get_project_for(request.user, slug, Role.MAINTAINER)
    head = head_of(project)
    if request.method == "GET":
        form = UploadForm(initial={"base": head.number if head is not None else None})
        return render(request, "harnesses/upload.html", {"project": project, "head": head, "form": form})
    form = UploadForm(request.POST, request.FILES)
    status = 422
    if form.is_valid():
        try:
            version = actions.version_create_from_zip(
                actor=request.user,
                project=project,
                upload=form.cleaned_data["file"],
                message=form.cleaned_data["message"],
                parents=_parents_from_base(project, form.cleaned_data["base"]),
            )
        except DomainError as error:
            # An error naming a file inside the archive has no field of its own: it is
            # shown above the form.
            add_domain_error(form, error)
            if isinstance(error, Conflict):
                status = 409
                if error.field == "head":
                    form = _after_head_moved(form, request.POST, project)
        else:
            messages.success(
                request, f"Committed v{version.number} from {form.cleaned_data['file'].name}; it is now head."
            )
            return redirect("harnesses:version", slug=project.slug, number=version.number)
    return render(
        request, "harnesses/upload.html", {"project": project, "head": head_of(project), "form": form}, status=status
    )


@login_required
@require_GET
def diff(request: HttpRequest, slug: str) -> HttpResponse:
    project = get_project_for(request.user, slug)
    form = DiffForm(request.GET)
    head = head_of(project)
    context: dict[str, Any] = {"project": project, "form": form, "head": head}
    if not form.is_valid():
        return render(request, "harnesses/diff.html", context, status=400)
    pair = diff_pair(project, form.cleaned_data["from"], form.cleaned_data["to"])
    if pair is None:
        return render(request, "harnesses/diff.html", context)
    old, new = pair
    view = form.cleaned_data["view"] or "unified"
    context.update({"old": old, "new": new, "view": view, "tree_diff": diff_versions(old, new)})
    context["other_view_url"] = _diff_url(project, old, new, "split" if view == "unified" else "unified")
    return render(request, _template(request, "harnesses/diff.html", "diff"), context)


def _diff_url(project: Project, old: HarnessVersion | None, new: HarnessVersion, view: str) -> str:
    start = old.number if old is not None else 0
    return f"{reverse('harnesses:diff', args=[project.slug])}?from={start}&to={new.number}&view={view}"


@login_required
@require_POST
def version_revert(request: HttpRequest, slug: str, number: int) -> HttpResponse:
    project = get_project_for(request.user, slug, Role.MAINTAINER)
    target = get_version(project, number)
    form = RevertForm(request.POST)
    if form.is_valid():
        try:
            version = actions.version_revert(
                actor=request.user, project=project, target=target, reason=form.cleaned_data["reason"]
            )
        except DomainError as error:
            add_domain_error(form, error)
            return _render_version(request, project, target, form, status=409 if isinstance(error, Conflict) else 422)
        messages.success(request, f"Reverted to v{target.number}: committed v{version.number} on top of head.")
        return redirect("harnesses:version", slug=project.slug, number=version.number)
    return _render_version(request, project, target, form, status=422)
