"""Curation from runs: "add as case", "the target is wrong" and "this case is ambiguous"
on a result open a change request of the run's suite, through a form prefilled from the
result that the person edits first. Reviewers and above; a holdout result only for those
who may see the holdout (the form would show its input and output)."""

from __future__ import annotations

from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.http import Http404, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.views.decorators.http import require_http_methods

from evolab.core.errors import DomainError
from evolab.core.forms import add_domain_error
from evolab.core.http import AuthedRequest
from evolab.evals.case_text import allowed_splits
from evolab.evals.change_requests import change_request_open, holdout_view_record
from evolab.evals.models import Split
from evolab.evals.selectors import can_see_holdout, get_case
from evolab.projects.models import Role
from evolab.projects.selectors import get_project_for, role_of
from evolab.runs.curation import KINDS, Kind, curation_request, prefill
from evolab.runs.curation_forms import CurationForm
from evolab.runs.selectors import get_result, get_run


@login_required
@require_http_methods(["GET", "POST"])
def result_curate(request: AuthedRequest, slug: str, number: int, result_id: int, kind: str) -> HttpResponse:
    if kind not in KINDS:
        raise Http404("No such curation")
    curation: Kind = kind  # type: ignore[assignment]
    project = get_project_for(request.user, slug, Role.REVIEWER)
    role = role_of(project)
    run = get_run(project, number)
    result = get_result(run, result_id, viewer_role=role)
    if result.sealed:
        raise PermissionDenied("Curating a holdout result needs the maintainer role or higher.")
    case = get_case(run.suite_version, result.case_key, viewer_role=role)
    splits = allowed_splits(can_see_holdout(role))
    start = prefill(curation, run, result, case)
    if request.method == "POST":
        form = CurationForm(request.POST, kind=curation, splits=splits)
        if form.is_valid():
            try:
                draft = curation_request(curation, run, result, case, form.cleaned_data)
                change_request = change_request_open(
                    suite=run.suite_version.suite,
                    author=request.user,
                    title=draft.title,
                    description=draft.description,
                    operations=draft.operations,
                    source=draft.source,
                )
            except DomainError as error:
                add_domain_error(form, error)
            else:
                suite_slug = run.suite_version.suite.slug
                return redirect(reverse("evals:change_request", args=[project.slug, suite_slug, change_request.number]))
        status = 422
    else:
        initial = {
            "title": start.title,
            "key": start.key,
            "input": start.input,
            "chat": start.chat,
            "target": start.target,
            "tags": start.tags,
            "split": start.split if start.split in splits else "train",
        }
        form = CurationForm(initial=initial, kind=curation, splits=splits)
        status = 200
    if result.split == Split.HOLDOUT:  # (a sealed result was refused above)
        # The form shows the held-out case's input and target: one audit event per render.
        holdout_view_record(
            actor=request.user,
            suite=run.suite_version.suite,
            keys=[result.case_key],
            where=f"curation form run {run.number}",
        )
    context = {
        "project": project,
        "run": run,
        "result": result,
        "case": case,
        "kind": curation,
        "kind_label": KINDS[curation],
        "form": form,
    }
    return render(request, "runs/curate.html", context, status=status)
