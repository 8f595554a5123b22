"""The case page — one case of one version, its history across versions, its discussion
and disputed flag — and the discussion's forms.

The page's "runs and statistics" panel needs run results, which live in a higher app
(`runs`); it is served there (runs:case_runs) and loaded into the page by htmx, so
`evals` imports nothing of `runs`.

Each POST calls one action. To htmx it answers with the discussion panel (forms target
`#discussion`), a refusal shown in the panel with status 200 (htmx swaps only 2xx);
without JS it redirects back to the case page with the outcome as a message.
"""

from __future__ import annotations

from collections.abc import Callable

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.http import Http404, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from evolab.core.errors import DomainError
from evolab.core.forms import add_domain_error
from evolab.core.http import AuthedRequest
from evolab.evals import discussion
from evolab.evals.case_change_forms import CaseChangeForm, case_change_initial, case_change_operations
from evolab.evals.case_history import case_history
from evolab.evals.case_text import allowed_splits
from evolab.evals.change_requests import change_request_open, holdout_view_record
from evolab.evals.models import EvalCase, EvalSuite, Split
from evolab.evals.selectors import can_see_holdout, get_case, get_suite, get_suite_version
from evolab.projects.models import Project, Role
from evolab.projects.selectors import get_project_for, role_of

DISCUSSION_TEMPLATE = "evals/case.html#discussion"


def _discussion_context(project: Project, suite: EvalSuite, key: str, number: int) -> dict[str, object]:
    role = role_of(project)
    sealed = discussion.key_is_sealed_for(suite, key, role)
    thread = discussion.discussion_of(suite, key)
    return {
        "project": project,
        "suite": suite,
        "key": key,
        "number": number,
        # The flag and who raised it are shown to every member; texts only when not sealed.
        "open_dispute": thread.open_dispute,
        "thread": None if sealed else thread,
        "thread_sealed": sealed,
        "can_comment": role >= Role.REVIEWER and not sealed,
        "can_resolve": role >= Role.MAINTAINER and not sealed,
    }


@login_required
@require_GET
def case_detail(request: AuthedRequest, slug: str, suite_slug: str, number: int, key: str) -> HttpResponse:
    project = get_project_for(request.user, slug)
    role = role_of(project)
    suite = get_suite(project, suite_slug)
    version = get_suite_version(suite, number)
    if request.htmx and request.GET.get("panel") == "discussion":  # type: ignore[attr-defined]
        if not EvalCase.objects.filter(version=version, key=key).exists():
            raise Http404("No such case")
        response = render(request, DISCUSSION_TEMPLATE, _discussion_context(project, suite, key, number))
        response["Vary"] = "HX-Request"
        return response
    case = get_case(version, key, viewer_role=role)
    if case.split == Split.HOLDOUT and not case.sealed:
        # Each view of held-out text is audited, once per page view (H6a, issue #9 item 5).
        holdout_view_record(actor=request.user, suite=suite, keys=[key], where=f"case page v{number}")
    context = {
        "project": project,
        "suite": suite,
        "version": version,
        "case": case,
        "grader": None if case.sealed else (case.grader or version.default_grader),
        "history": case_history(suite, key, viewer_role=role),
        # Change requests start from the latest version, so the form is offered there.
        "can_propose": role >= Role.REVIEWER and not case.sealed and version.number == suite.latest_version_number,  # type: ignore[attr-defined]
        **_discussion_context(project, suite, key, number),
    }
    response = render(request, "evals/case.html", context)
    response["Vary"] = "HX-Request"
    return response


def _act(
    request: AuthedRequest,
    slug: str,
    suite_slug: str,
    key: str,
    min_role: Role,
    action: Callable[[EvalSuite], str],
) -> HttpResponse:
    project = get_project_for(request.user, slug, min_role)
    suite = get_suite(project, suite_slug)
    if discussion.key_is_sealed_for(suite, key, role_of(project)):
        raise PermissionDenied("The discussion of a holdout case is for maintainers and owners.")
    raw_number = request.POST.get("version", "")
    version = get_suite_version(suite, int(raw_number) if raw_number.isdigit() else None)
    if version is None or not EvalCase.objects.filter(version=version, key=key).exists():
        raise Http404("No such case")
    error: DomainError | None = None
    notice = ""
    try:
        notice = action(suite)
    except DomainError as exc:
        error = exc
    if not request.htmx:  # type: ignore[attr-defined]
        if error is not None:
            messages.error(request, error.message)
        else:
            messages.success(request, notice)
        url = reverse("evals:case", args=[project.slug, suite.slug, version.number, key])
        return redirect(url + "#discussion")
    context = {
        **_discussion_context(project, suite, key, version.number),
        "notice": notice,
        "error": error,
        "posted": request.POST if error is not None else {},
    }
    response = render(request, DISCUSSION_TEMPLATE, context)
    response["Vary"] = "HX-Request"
    return response


@login_required
@require_POST
def case_comment(request: AuthedRequest, slug: str, suite_slug: str, key: str) -> HttpResponse:
    def act(suite: EvalSuite) -> str:
        discussion.case_comment_add(actor=request.user, suite=suite, key=key, body=request.POST.get("body", ""))
        return "Comment added."

    return _act(request, slug, suite_slug, key, Role.REVIEWER, act)


@login_required
@require_POST
def case_dispute(request: AuthedRequest, slug: str, suite_slug: str, key: str) -> HttpResponse:
    def act(suite: EvalSuite) -> str:
        discussion.case_dispute_open(actor=request.user, suite=suite, key=key, reason=request.POST.get("reason", ""))
        return "The case is marked disputed: proposal comparisons leave it out until it is resolved."

    return _act(request, slug, suite_slug, key, Role.REVIEWER, act)


@login_required
@require_POST
def case_dispute_resolve(request: AuthedRequest, slug: str, suite_slug: str, key: str) -> HttpResponse:
    def act(suite: EvalSuite) -> str:
        discussion.case_dispute_resolve(actor=request.user, suite=suite, key=key, note=request.POST.get("note", ""))
        return "Dispute resolved: the case counts in decisions again."

    return _act(request, slug, suite_slug, key, Role.MAINTAINER, act)


@login_required
@require_http_methods(["GET", "POST"])
def case_propose(request: AuthedRequest, slug: str, suite_slug: str, key: str) -> HttpResponse:
    """ "Propose a change" to one case: a form prefilled from the case in the suite's latest
    version (a change request always starts there) that opens a change request editing or
    deleting it. Reviewers and above; a held-out case only for those who may see it."""
    project = get_project_for(request.user, slug, Role.REVIEWER)
    role = role_of(project)
    suite = get_suite(project, suite_slug)
    version = get_suite_version(suite, None)
    if version is None:
        raise Http404("No such case")
    case = get_case(version, key, viewer_role=role)
    if case.sealed:
        raise PermissionDenied("Held-out cases are changed by maintainers and owners.")
    splits = allowed_splits(can_see_holdout(role))
    if request.method == "POST":
        form = CaseChangeForm(request.POST, splits=splits)
        if form.is_valid():
            try:
                change_request = change_request_open(
                    suite=suite,
                    author=request.user,
                    title=form.cleaned_data["title"],
                    description=form.cleaned_data["reason"],
                    operations=case_change_operations(case, form.cleaned_data),
                    source={"kind": "case", "case": case.key, "suite_version": version.number},
                )
            except DomainError as error:
                add_domain_error(form, error)
            else:
                return redirect(
                    "evals:change_request", slug=project.slug, suite_slug=suite.slug, number=change_request.number
                )
        status = 422
    else:
        form = CaseChangeForm(initial=case_change_initial(case), splits=splits)
        status = 200
    if case.split == Split.HOLDOUT:
        # The form shows the held-out input and target: one audit event per render.
        holdout_view_record(actor=request.user, suite=suite, keys=[key], where=f"propose form v{version.number}")
    context = {"project": project, "suite": suite, "version": version, "case": case, "form": form}
    return render(request, "evals/case_propose.html", context, status=status)
