"""Who reviews a proposal, and what waits for whom.

A proposal that ends as "needs review" is assigned one reviewer: the owner of a path it
touches (path owners are glob patterns, matched like protected paths), else the next
reviewer in turn. Turns go round the project's members of at least reviewer role, in
order of user id, starting after the assignee of the project's latest assigned
proposal. The author of a human proposal never reviews it.
"""

from __future__ import annotations

from django.contrib.auth.models import User
from django.core.exceptions import PermissionDenied
from django.db import transaction
from django.db.models import Case, Count, IntegerField, QuerySet, Value, When

from evolab.core.actions import audit_record
from evolab.core.errors import ValidationFailed
from evolab.engine.protected_paths import matching_pattern, validate_patterns
from evolab.evolution.models import Campaign, NotificationKind, Outcome, PathOwner, Proposal
from evolab.evolution.notifications import notify
from evolab.projects.models import Membership, Project, Role


def _reviewers(project_id: int) -> QuerySet[User]:
    return User.objects.filter(memberships__project_id=project_id, memberships__role__gte=Role.REVIEWER).order_by("pk")


def assign_reviewer(proposal: Proposal) -> User | None:
    """Assign the proposal's reviewer and ask them for the review; None when nobody can
    review it. A proposal that has an assignee keeps it (a repeated step changes nothing)."""
    if proposal.assignee_id is not None:
        return proposal.assignee
    candidates = list(_reviewers(proposal.project_id).exclude(pk=proposal.author_id or 0))
    if not candidates:
        return None
    by_id = {user.pk: user for user in candidates}
    owners = sorted(
        {
            owner.user_id
            for owner in PathOwner.objects.filter(project_id=proposal.project_id, user_id__in=by_id)
            if any(matching_pattern(path, [owner.pattern]) for path in proposal.touched_paths)
        }
    )
    turn = [by_id[pk] for pk in owners] or candidates
    last = (
        Proposal.objects.filter(project_id=proposal.project_id, assignee__isnull=False)
        .exclude(pk=proposal.pk)
        .order_by("-number")
        .values_list("assignee_id", flat=True)
        .first()
    )
    chosen = next((user for user in turn if last is not None and user.pk > last), turn[0])
    with transaction.atomic():
        if not Proposal.objects.filter(pk=proposal.pk, assignee__isnull=True).update(assignee=chosen):
            proposal.refresh_from_db(fields=["assignee"])
            return proposal.assignee
        proposal.assignee = chosen
        notify(
            user=chosen,
            project=proposal.project,
            kind=NotificationKind.REVIEW_REQUEST,
            text=f"Review requested: proposal #{proposal.number} in {proposal.project.name}",
            proposal=proposal,
        )
    return chosen


# --- path owners -------------------------------------------------------------------------


def _require_owner(project: Project, actor: User) -> None:
    if not Membership.objects.filter(project=project, user_id=actor.pk, role__gte=Role.OWNER).exists():
        raise PermissionDenied("This needs the owner role.")


def path_owners_of(project: Project) -> QuerySet[PathOwner]:
    return PathOwner.objects.filter(project=project).select_related("user").order_by("pattern", "user__username")


def path_owner_set(*, actor: User, project: Project, pattern: str, user: User) -> PathOwner:
    """Make `user` (a reviewer or above) the owner of paths matching `pattern`."""
    _require_owner(project, actor)
    try:
        patterns = validate_patterns([pattern])
    except ValueError as error:
        raise ValidationFailed(str(error), field="pattern") from None
    if not patterns:
        raise ValidationFailed("Give a path pattern.", field="pattern")
    if not _reviewers(project.pk).filter(pk=user.pk).exists():
        raise ValidationFailed(f"{user.get_username()} is not a reviewer of this project.", field="user")
    with transaction.atomic():
        owner, created = PathOwner.objects.get_or_create(project=project, pattern=patterns[0], user=user)
        if created:
            audit_record(
                actor=actor,
                project_id=project.pk,
                action="path_owner.set",
                object_type="path_owner",
                object_id=owner.pk,
                object_label=f"{owner.pattern} → {user.get_username()}",
            )
    return owner


def path_owner_remove(*, actor: User, owner: PathOwner) -> None:
    _require_owner(owner.project, actor)
    with transaction.atomic():
        audit_record(
            actor=actor,
            project_id=owner.project_id,
            action="path_owner.remove",
            object_type="path_owner",
            object_id=owner.pk,
            object_label=f"{owner.pattern} → {owner.user.get_username()}",
        )
        owner.delete()


# --- what waits ------------------------------------------------------------------------


def _waiting() -> QuerySet[Proposal]:
    return Proposal.objects.filter(outcome=Outcome.NEEDS_REVIEW, merged_at__isnull=True, closed_at__isnull=True)


def review_counts(user: User) -> dict[int, int]:
    """Per project id: the proposals waiting for `user`'s review (one query)."""
    rows = (
        _waiting()
        .filter(assignee=user, project__memberships__user=user)
        .values("project_id")
        .annotate(count=Count("pk"))
        .order_by()
    )
    return {row["project_id"]: row["count"] for row in rows}


def inbox(user: User, project: Project | None = None, campaign: Campaign | None = None) -> QuerySet[Proposal]:
    """Proposals waiting for review in the user's projects (or one project or campaign):
    those assigned to the user first, then newest first; one query, files deferred."""
    waiting = _waiting().filter(project__memberships__user=user)
    if project is not None:
        waiting = waiting.filter(project=project)
    if campaign is not None:
        waiting = waiting.filter(campaign=campaign)
    mine = Case(When(assignee_id=user.pk, then=Value(0)), default=Value(1), output_field=IntegerField())
    return (
        waiting.annotate(not_mine=mine)
        .select_related("project", "campaign", "round", "assignee", "author", "base_version", "candidate_version")
        .defer("base_version__files", "candidate_version__files")
        .order_by("not_mine", "-created_at", "-pk")
    )
