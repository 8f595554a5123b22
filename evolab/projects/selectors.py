"""Reads for projects; every entry point reaches a project through `get_project_for`."""

from __future__ import annotations

from django.contrib.auth.models import AnonymousUser, User
from django.core.exceptions import PermissionDenied
from django.db.models import QuerySet
from django.http import Http404

from evolab.projects.models import ApiToken, Backend, Membership, Project, Role

AnyUser = User | AnonymousUser


def get_project_for(user: AnyUser, slug: str, min_role: Role = Role.VIEWER) -> Project:
    """The project `slug` as seen by `user`, with `project.role` set to their role.

    Unknown projects and projects the user is not a member of answer 404 alike, so
    outsiders cannot learn which projects exist; a member below `min_role` gets 403.
    """
    if not user.is_authenticated:
        raise Http404("No such project")
    membership = Membership.objects.select_related("project").filter(project__slug=slug, user__pk=user.pk or 0).first()
    if membership is None:
        raise Http404("No such project")
    if membership.role < min_role:
        raise PermissionDenied(f"This needs the {Role(min_role).label} role or higher.")
    project = membership.project
    project.role = Role(membership.role)  # type: ignore[attr-defined]
    return project


def role_of(project: Project) -> Role:
    """The role attached by `get_project_for`."""
    return project.role  # type: ignore[attr-defined,no-any-return]


def projects_for_user(user: User) -> QuerySet[Membership]:
    return Membership.objects.filter(user=user).select_related("project").order_by("project__name")


def members_of(project: Project) -> QuerySet[Membership]:
    return project.memberships.select_related("user").order_by("-role", "user__username")


def backends_of(project: Project) -> QuerySet[Backend]:
    return project.backends.order_by("name")


def get_backend(project: Project, backend_id: int) -> Backend:
    try:
        return project.backends.get(pk=backend_id)
    except Backend.DoesNotExist:
        raise Http404("No such backend") from None


def tokens_of(user: User) -> QuerySet[ApiToken]:
    return ApiToken.objects.filter(user=user).order_by("-created_at")
