"""The project's merged changes, newest first: who merged each (a person, or the policy,
with the reasons it gave), the versions it moved head between, and its measured gain.
A merged change is reverted from its proposal page."""

from __future__ import annotations

from django.contrib.auth.decorators import login_required
from django.core.paginator import Paginator
from django.http import HttpResponse
from django.shortcuts import render
from django.views.decorators.http import require_GET

from evolab.core.http import AuthedRequest
from evolab.evals.selectors import can_see_holdout
from evolab.evolution.models import Proposal
from evolab.evolution.selectors import ProposalView
from evolab.projects.selectors import get_project_for, role_of

HISTORY_PAGE_SIZE = 50


@login_required
@require_GET
def merged_history(request: AuthedRequest, slug: str) -> HttpResponse:
    project = get_project_for(request.user, slug)
    sees_holdout = can_see_holdout(role_of(project))
    merged = (
        Proposal.objects.filter(project=project, merged_at__isnull=False)
        .select_related("campaign", "round", "merged_by", "base_version", "candidate_version")
        .defer("base_version__files", "candidate_version__files", "model_text", "edits")
        .order_by("-merged_at", "-number")
    )
    page = Paginator(merged, HISTORY_PAGE_SIZE).get_page(request.GET.get("page"))
    rows = [ProposalView(proposal, 0.0, sees_holdout) for proposal in page.object_list]
    context = {"project": project, "page": page, "rows": rows}
    return render(request, "evolution/history.html", context)
