"""Projects, members, backends and the audit log over the REST API."""

from __future__ import annotations

from dataclasses import asdict
from datetime import datetime
from typing import Any

from django.http import Http404
from ninja import Router, Schema, Status
from ninja.pagination import paginate
from pydantic import Field

from evolab.core.http import AuthedRequest
from evolab.core.pagination import LimitOffsetPagination
from evolab.core.selectors import audit_events_for_project
from evolab.projects import actions
from evolab.projects.models import Backend, Membership, Role
from evolab.projects.schemas import BackendIn, BackendOut, MemberIn, MemberOut, MemberRoleIn, ProjectIn, ProjectOut
from evolab.projects.selectors import backends_of, get_backend, get_project_for, members_of, projects_for_user, role_of

router = Router(tags=["projects"])


def _role(label: str) -> Role:
    return Role[label.upper()]


def _project_out(project: Any, role: Role) -> dict[str, Any]:
    return {
        "slug": project.slug,
        "name": project.name,
        "description": project.description,
        "role": role.label,
        "created_at": project.created_at,
    }


def _member_out(membership: Membership) -> dict[str, Any]:
    return {
        "username": membership.user.get_username(),
        "role": Role(membership.role).label,
        "created_at": membership.created_at,
    }


def _backend_out(backend: Backend) -> dict[str, Any]:
    return {"id": backend.pk, "simulated": backend.is_simulated, **asdict(actions.backend_fields_of(backend))}


@router.get("", response=list[ProjectOut])
@paginate(LimitOffsetPagination)
def list_projects(request: AuthedRequest) -> list[dict[str, Any]]:
    return [_project_out(m.project, Role(m.role)) for m in projects_for_user(request.user)]


@router.post("", response={201: ProjectOut})
def create_project(request: AuthedRequest, payload: ProjectIn) -> Status[Any]:
    project = actions.project_create(
        actor=request.user, name=payload.name, slug=payload.slug, description=payload.description
    )
    return Status(201, _project_out(project, Role.OWNER))


@router.get("/{slug}", response=ProjectOut)
def get_project(request: AuthedRequest, slug: str) -> dict[str, Any]:
    project = get_project_for(request.user, slug)
    return _project_out(project, role_of(project))


@router.put("/{slug}", response=ProjectOut)
def update_project(request: AuthedRequest, slug: str, payload: ProjectIn) -> dict[str, Any]:
    project = get_project_for(request.user, slug, Role.OWNER)
    actions.project_update(actor=request.user, project=project, name=payload.name, description=payload.description)
    return _project_out(project, role_of(project))


@router.get("/{slug}/members", response=list[MemberOut])
@paginate(LimitOffsetPagination)
def list_members(request: AuthedRequest, slug: str) -> list[dict[str, Any]]:
    project = get_project_for(request.user, slug)
    return [_member_out(m) for m in members_of(project)]


def _membership(project: Any, username: str) -> Membership:
    membership = members_of(project).filter(user__username=username).first()
    if membership is None:
        raise Http404("No such member")
    return membership


@router.post("/{slug}/members", response={201: MemberOut})
def add_member(request: AuthedRequest, slug: str, payload: MemberIn) -> Status[Any]:
    project = get_project_for(request.user, slug, Role.OWNER)
    membership = actions.membership_add(
        actor=request.user, project=project, username=payload.username, role=_role(payload.role)
    )
    return Status(201, _member_out(membership))


@router.put("/{slug}/members/{username}", response=MemberOut)
def change_member_role(request: AuthedRequest, slug: str, username: str, payload: MemberRoleIn) -> dict[str, Any]:
    project = get_project_for(request.user, slug, Role.OWNER)
    membership = actions.membership_change_role(
        actor=request.user, membership=_membership(project, username), role=_role(payload.role)
    )
    return _member_out(membership)


@router.delete("/{slug}/members/{username}", response={204: None})
def remove_member(request: AuthedRequest, slug: str, username: str) -> Status[Any]:
    project = get_project_for(request.user, slug, Role.OWNER)
    actions.membership_remove(actor=request.user, membership=_membership(project, username))
    return Status(204, None)


def _backend_fields(payload: BackendIn) -> actions.BackendFields:
    return actions.BackendFields(**payload.dict())


@router.get("/{slug}/backends", response=list[BackendOut])
@paginate(LimitOffsetPagination)
def list_backends(request: AuthedRequest, slug: str) -> list[dict[str, Any]]:
    project = get_project_for(request.user, slug)
    return [_backend_out(b) for b in backends_of(project)]


@router.post("/{slug}/backends", response={201: BackendOut})
def create_backend(request: AuthedRequest, slug: str, payload: BackendIn) -> Status[Any]:
    project = get_project_for(request.user, slug, Role.OWNER)
    backend = actions.backend_create(actor=request.user, project=project, fields=_backend_fields(payload))
    return Status(201, _backend_out(backend))


@router.get("/{slug}/backends/{backend_id}", response=BackendOut)
def get_backend_detail(request: AuthedRequest, slug: str, backend_id: int) -> dict[str, Any]:
    project = get_project_for(request.user, slug)
    return _backend_out(get_backend(project, backend_id))


@router.put("/{slug}/backends/{backend_id}", response=BackendOut)
def update_backend(request: AuthedRequest, slug: str, backend_id: int, payload: BackendIn) -> dict[str, Any]:
    project = get_project_for(request.user, slug, Role.OWNER)
    backend = actions.backend_update(
        actor=request.user, backend=get_backend(project, backend_id), fields=_backend_fields(payload)
    )
    return _backend_out(backend)


@router.delete("/{slug}/backends/{backend_id}", response={204: None})
def delete_backend(request: AuthedRequest, slug: str, backend_id: int) -> Status[Any]:
    project = get_project_for(request.user, slug, Role.OWNER)
    actions.backend_delete(actor=request.user, backend=get_backend(project, backend_id))
    return Status(204, None)


class AuditEventOut(Schema):
    id: int
    actor: str = Field(alias="actor_label")
    action: str
    object_type: str
    object_id: str
    object_label: str
    before: Any
    after: Any
    created_at: datetime


@router.get("/{slug}/audit", response=list[AuditEventOut])
@paginate(LimitOffsetPagination)
def list_audit(request: AuthedRequest, slug: str) -> Any:
    project = get_project_for(request.user, slug)
    return audit_events_for_project(project.pk)
