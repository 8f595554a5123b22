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
from django.views.decorators.http import require_GET, require_POST

from evolab.core.errors import DomainError
from evolab.core.http import AuthedRequest
from evolab.evals import discussion
from evolab.evals.case_history import case_history
from evolab.evals.change_requests import holdout_view_record
from evolab.evals.models import EvalCase, EvalSuite, Split
from evolab.evals.selectors import get_case, get_suite, get_suite_version
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
