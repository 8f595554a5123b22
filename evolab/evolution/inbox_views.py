"""A person's review inbox (across their projects, or one project) and notifications.

The project inbox refreshes when the project's websocket relays `proposal.status`; the
all-projects inbox has no single project socket to listen to, so it polls every 15 s.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from django.contrib.auth.decorators import login_required
from django.core.paginator import Paginator
from django.db.models import BooleanField, ExpressionWrapper, Q
from django.http import Http404, HttpResponse
from django.shortcuts import redirect, render
from django.views.decorators.http import require_GET, require_POST

from evolab.core.http import AuthedRequest
from evolab.evals.selectors import can_see_holdout
from evolab.evolution import assignment, notifications
from evolab.evolution.models import Campaign, Proposal
from evolab.evolution.selectors import campaigns_of, get_campaign, points_text, shown_reasons, tone_of
from evolab.projects.models import Membership, Project
from evolab.projects.selectors import get_project_for, role_of

INBOX_PAGE_SIZE = 50
NOTIFICATIONS_PAGE_SIZE = 30
PROPOSAL_URL = "evolution:proposal"


@dataclass(frozen=True)
class InboxRow:
    proposal: Proposal
    mine: bool  # assigned to the person looking
    reasons: list[dict[str, str]]  # as their role may see them

    @property
    def delta_text(self) -> str:
        return points_text(self.proposal.stats.get("comparison"))

    @property
    def tone(self) -> str:
        return tone_of(self.proposal.stats.get("comparison"))


def _inbox_context(
    request: AuthedRequest, roles: dict[int, int], project: Project | None = None, campaign: Campaign | None = None
) -> dict[str, Any]:
    """A page of waiting proposals, mine first; `roles` (project id → role) decides whose
    holdout reasons keep their numbers."""
    waiting = assignment.inbox(request.user, project=project, campaign=campaign)
    page = Paginator(waiting, INBOX_PAGE_SIZE).get_page(request.GET.get("page"))
    rows = [
        InboxRow(
            proposal=proposal,
            mine=proposal.assignee_id == request.user.pk,
            reasons=shown_reasons(proposal, sees_holdout=can_see_holdout(roles.get(proposal.project_id, 0))),
        )
        for proposal in page
    ]
    return {"page": page, "rows": rows, "project": project, "campaign": campaign}


def _render_inbox(request: AuthedRequest, context: dict[str, Any]) -> HttpResponse:
    template = "evolution/inbox.html#inbox" if request.htmx else "evolution/inbox.html"  # type: ignore[attr-defined]
    return render(request, template, context)


@login_required
@require_GET
def inbox_page(request: AuthedRequest) -> HttpResponse:
    """Waiting proposals in every project I belong to."""
    roles = dict(Membership.objects.filter(user=request.user).values_list("project_id", "role"))
    return _render_inbox(request, _inbox_context(request, roles))


@login_required
@require_GET
def project_inbox(request: AuthedRequest, slug: str) -> HttpResponse:
    """One project's waiting proposals, optionally of one campaign (`?campaign=<number>`).
    Every member may read it; only reviewers and above are ever assigned."""
    project = get_project_for(request.user, slug)
    chosen = request.GET.get("campaign", "")
    if chosen and not chosen.isdigit():
        raise Http404("No such campaign")
    campaign = get_campaign(project, int(chosen)) if chosen else None
    context = _inbox_context(request, {project.pk: role_of(project)}, project=project, campaign=campaign)
    if not request.htmx:  # type: ignore[attr-defined]
        context["campaigns"] = list(campaigns_of(project).values_list("number", "name"))
    return _render_inbox(request, context)


@login_required
@require_GET
def notifications_page(request: AuthedRequest) -> HttpResponse:
    """My notifications, unread first, then newest first."""
    unread_first = ExpressionWrapper(Q(read_at__isnull=True), output_field=BooleanField())
    rows = notifications.notifications_of(request.user).order_by(unread_first.desc(), "-pk")
    page = Paginator(rows, NOTIFICATIONS_PAGE_SIZE).get_page(request.GET.get("page"))
    return render(request, "evolution/notifications.html", {"page": page})


@login_required
@require_POST
def notifications_read(request: AuthedRequest) -> HttpResponse:
    """Mark one notification (`id`) or all of mine (`all`) read; others' ids do nothing.
    With `open`, go on to the proposal the notification is about."""
    if request.POST.get("all"):
        notifications.mark_read(request.user, "all")
        return redirect("evolution:notifications")
    value = request.POST.get("id", "")
    notification_id = int(value) if value.isdigit() else 0
    notifications.mark_read(request.user, [notification_id])
    if request.POST.get("open"):
        target = notifications.notifications_of(request.user).filter(pk=notification_id).first()
        if target is not None and target.proposal is not None:
            return redirect(PROPOSAL_URL, slug=target.project.slug, number=target.proposal.number)
    return redirect("evolution:notifications")
