"""Labeling pages: the queues, a new queue, a queue (progress, agreement), and the
labeling page itself, one item at a time. Views parse, call a selector or an action,
and render; access is checked here on every request."""

from __future__ import annotations

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import HttpResponse
from django.shortcuts import redirect, render
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from evolab.core.errors import DomainError
from evolab.core.forms import add_domain_error
from evolab.core.http import AuthedRequest
from evolab.labeling import actions
from evolab.labeling.agreement import queue_agreement
from evolab.labeling.forms import LabelForm, QueueForm
from evolab.labeling.models import Scale
from evolab.labeling.selectors import (
    assignee_progress,
    get_queue,
    item_view,
    my_queue,
    next_position,
    queues_of,
)
from evolab.projects.models import Project, Role
from evolab.projects.selectors import get_project_for, members_of, role_of
from evolab.runs.models import Run, RunStatus

RUN_CHOICES = 50


def _queue_form(project: Project, data: object = None) -> QueueForm:
    runs = [
        (number, f"run {number} · {created:%Y-%m-%d %H:%M}")
        for number, created in Run.objects.filter(project=project, status=RunStatus.COMPLETED)
        .order_by("-number")
        .values_list("number", "created_at")[:RUN_CHOICES]
    ]
    people = [
        (m.user.get_username(), f"{m.user.get_username()} ({m.get_role_display()})")
        for m in members_of(project)
        if m.role >= Role.REVIEWER
    ]
    return QueueForm(data, runs=runs, people=people)  # type: ignore[arg-type]


@login_required
@require_GET
def queue_list(request: AuthedRequest, slug: str) -> HttpResponse:
    project = get_project_for(request.user, slug)
    context = {"project": project, "queues": list(queues_of(project)), "can_manage": role_of(project).may_change}
    return render(request, "labeling/list.html", context)


@login_required
@require_http_methods(["GET", "POST"])
def queue_new(request: AuthedRequest, slug: str) -> HttpResponse:
    project = get_project_for(request.user, slug, Role.MAINTAINER)
    form = _queue_form(project, request.POST if request.method == "POST" else None)
    if request.method == "POST" and form.is_valid():
        try:
            queue = actions.queue_create(actor=request.user, project=project, spec=form.spec())
        except DomainError as error:
            add_domain_error(form, error)
        else:
            messages.success(request, f"Labeling queue {queue.number} created.")
            return redirect("labeling:queue", slug=project.slug, number=queue.number)
    status = 422 if request.method == "POST" else 200
    return render(request, "labeling/new.html", {"project": project, "form": form}, status=status)


@login_required
@require_GET
def queue_detail(request: AuthedRequest, slug: str, number: int) -> HttpResponse:
    """The queue: rubric, per-labeller progress, agreement between people and with judges."""
    project = get_project_for(request.user, slug)
    role = role_of(project)
    queue = get_queue(project, number)
    context = {
        "project": project,
        "queue": queue,
        "can_manage": role.may_change,
        "can_label": role >= Role.REVIEWER,
        "progress": assignee_progress(queue),
        "mine": my_queue(queue, request.user, role),
        "agreement": queue_agreement(queue, role=role),
    }
    template = "labeling/queue.html#panels" if request.htmx else "labeling/queue.html"  # type: ignore[attr-defined]
    response = render(request, template, context)
    response["Vary"] = "HX-Request"
    return response


@login_required
@require_POST
def queue_close(request: AuthedRequest, slug: str, number: int) -> HttpResponse:
    project = get_project_for(request.user, slug, Role.MAINTAINER)
    queue = get_queue(project, number)
    try:
        actions.queue_close(actor=request.user, project=project, queue=queue)
    except DomainError as error:
        messages.error(request, error.message)
    else:
        messages.success(request, f"Labeling queue {queue.number} closed: its labels are final.")
    return redirect("labeling:queue", slug=project.slug, number=queue.number)


@login_required
@require_GET
def queue_next(request: AuthedRequest, slug: str, number: int) -> HttpResponse:
    """To the first item the user has not labelled yet, or back to the queue when done."""
    project = get_project_for(request.user, slug, Role.REVIEWER)
    queue = get_queue(project, number)
    position = next_position(queue, request.user, role_of(project))
    if position is None:
        messages.info(request, "Nothing left for you to label in this queue.")
        return redirect("labeling:queue", slug=project.slug, number=queue.number)
    return redirect("labeling:item", slug=project.slug, number=queue.number, position=position)


@login_required
@require_http_methods(["GET", "POST"])
def item_label(request: AuthedRequest, slug: str, number: int, position: int) -> HttpResponse:
    """The labeling page: one item, blind to what produced it, and the label form."""
    project = get_project_for(request.user, slug, Role.REVIEWER)
    role = role_of(project)
    queue = get_queue(project, number)
    view = item_view(queue, position, request.user, role)
    status = 200
    if request.method == "POST":
        form = LabelForm(request.POST, scale=queue.scale)
        if form.is_valid():
            try:
                actions.label_submit(
                    actor=request.user,
                    project=project,
                    queue=queue,
                    position=position,
                    passed=form.passed(),
                    score=form.cleaned_data.get("score"),
                    rationale=form.cleaned_data["rationale"],
                )
            except DomainError as error:
                add_domain_error(form, error)
            else:
                following = next_position(queue, request.user, role, after=position)
                if following is None:
                    messages.success(request, "Saved. You have labelled every item assigned to you.")
                    return redirect("labeling:queue", slug=project.slug, number=queue.number)
                return redirect("labeling:item", slug=project.slug, number=queue.number, position=following)
        status = 422
    else:
        initial = {"rationale": view.rationale, "score": view.score}
        if view.passed is not None:
            initial["verdict"] = "pass" if view.passed else "fail"
        form = LabelForm(initial=initial, scale=queue.scale)
    context = {"project": project, "queue": queue, "item": view, "form": form, "is_score": queue.scale == Scale.SCORE}
    return render(request, "labeling/item.html", context, status=status)
