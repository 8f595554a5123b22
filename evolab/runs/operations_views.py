"""The operations page (staff only): workers, queue, chunks in flight, stuck or failed,
and the retry action. Instance-wide, so it is not behind a project role: anonymous
visitors are sent to log in, signed-in people who are not staff get 403."""

from __future__ import annotations

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.http import HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.views.decorators.http import require_GET, require_POST

from evolab.core.errors import DomainError
from evolab.core.http import AuthedRequest
from evolab.runs import actions
from evolab.runs.models import RunChunk
from evolab.runs.operations import operations_overview


def _require_staff(request: AuthedRequest) -> None:
    if not request.user.is_staff:
        raise PermissionDenied("The operations page is for staff.")


@login_required
@require_GET
def operations_page(request: AuthedRequest) -> HttpResponse:
    _require_staff(request)
    template = "runs/operations.html#panels" if request.htmx else "runs/operations.html"  # type: ignore[attr-defined]
    return render(request, template, {"ops": operations_overview()})


@login_required
@require_POST
def chunk_retry(request: AuthedRequest, chunk_id: int) -> HttpResponse:
    _require_staff(request)
    chunk = get_object_or_404(RunChunk.objects.select_related("run", "run__project"), pk=chunk_id)
    try:
        actions.chunk_retry(actor=request.user, chunk=chunk)
    except DomainError as error:
        messages.error(request, str(error))
    else:
        run = chunk.run
        messages.success(request, f"Chunk {chunk.index} of run {run.number} ({run.project.name}) sent again.")
    return redirect("runs:operations")
