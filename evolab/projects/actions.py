"""Every state change of projects, memberships, backends and API tokens.

Each function performs one change atomically and records it in the audit log. Callers
(views, API operations, commands) have already checked the actor's role.
"""

from __future__ import annotations

import asyncio
import hashlib
import secrets
from dataclasses import asdict, dataclass
from dataclasses import fields as dataclass_fields
from datetime import timedelta
from decimal import Decimal
from typing import Any

from django.contrib.auth import get_user_model
from django.contrib.auth.models import User
from django.db import IntegrityError, transaction
from django.utils import timezone
from django.utils.text import slugify

from evolab.backends.errors import BackendError
from evolab.backends.probe import probe_parameters
from evolab.core.actions import audit_record, event_emit
from evolab.core.errors import Conflict, ValidationFailed
from evolab.projects.backend_configs import allowed_key_variables_text, backend_config, key_variable_allowed
from evolab.projects.models import ApiToken, Backend, BackendFamily, BackendKind, Membership, Project, Role

TOKEN_PREFIX = "evl_"
# Writing last_used_at on every request would turn each read into a write; a minute's
# resolution is enough to tell a live token from a forgotten one.
TOKEN_LAST_USED_RESOLUTION = timedelta(minutes=1)
# The live event written when a membership is removed or its role changes. It names no
# person (every member receives it); each open socket of the project re-checks its own
# user's membership when it sees one, so a removed member's sockets close at once.
MEMBERSHIP_CHANGED_EVENT = "membership.changed"


def project_create(*, actor: User, name: str, slug: str = "", description: str = "") -> Project:
    slug = slugify(slug or name)[:50]
    if not slug:
        raise ValidationFailed("A project needs a name made of letters or digits.", field="name")
    with transaction.atomic():
        if Project.objects.filter(slug=slug).exists():
            raise Conflict(f"The slug '{slug}' is taken.", field="slug")
        project = Project.objects.create(slug=slug, name=name.strip(), description=description)
        Membership.objects.create(project=project, user=actor, role=Role.OWNER)
        audit_record(
            actor=actor,
            project_id=project.pk,
            action="project.create",
            object_type="project",
            object_id=project.pk,
            object_label=project.slug,
            after={"name": project.name},
        )
    return project


def project_update(*, actor: User, project: Project, name: str, description: str) -> Project:
    before = {"name": project.name, "description": project.description}
    with transaction.atomic():
        project.name = name.strip() or project.name
        project.description = description
        project.save(update_fields=["name", "description"])
        audit_record(
            actor=actor,
            project_id=project.pk,
            action="project.update",
            object_type="project",
            object_id=project.pk,
            object_label=project.slug,
            before=before,
            after={"name": project.name, "description": project.description},
        )
    return project


def _membership_label(membership: Membership) -> str:
    return membership.user.get_username()


def membership_add(*, actor: User, project: Project, username: str, role: Role) -> Membership:
    user = get_user_model().objects.filter(username=username.strip()).first()
    if user is None:
        raise ValidationFailed(f"No user is called '{username}'.", field="username")
    try:
        with transaction.atomic():
            membership = Membership.objects.create(project=project, user=user, role=role)
            audit_record(
                actor=actor,
                project_id=project.pk,
                action="membership.add",
                object_type="membership",
                object_id=membership.pk,
                object_label=user.get_username(),
                after={"role": Role(role).label},
            )
    except IntegrityError:
        raise Conflict(f"{user.get_username()} is already a member.", field="username") from None
    return membership


def _owners_left_after(project: Project, membership: Membership) -> int:
    return project.memberships.filter(role=Role.OWNER).exclude(pk=membership.pk).count()


def _membership_changed(membership: Membership) -> None:
    event_emit(
        project_id=membership.project_id,
        type=MEMBERSHIP_CHANGED_EVENT,
        object_type="membership",
        object_id=membership.pk,
    )


def membership_change_role(*, actor: User, membership: Membership, role: Role) -> Membership:
    with transaction.atomic():
        membership = Membership.objects.select_for_update().select_related("user", "project").get(pk=membership.pk)
        before = Role(membership.role).label
        if (
            membership.role == Role.OWNER
            and role != Role.OWNER
            and _owners_left_after(membership.project, membership) == 0
        ):
            raise Conflict("A project keeps at least one owner.", field="role")
        membership.role = role
        membership.save(update_fields=["role"])
        audit_record(
            actor=actor,
            project_id=membership.project_id,
            action="membership.role",
            object_type="membership",
            object_id=membership.pk,
            object_label=_membership_label(membership),
            before={"role": before},
            after={"role": Role(role).label},
        )
        _membership_changed(membership)
    return membership


def membership_remove(*, actor: User, membership: Membership) -> None:
    with transaction.atomic():
        membership = Membership.objects.select_for_update().select_related("user", "project").get(pk=membership.pk)
        if membership.role == Role.OWNER and _owners_left_after(membership.project, membership) == 0:
            raise Conflict("A project keeps at least one owner.", field="role")
        audit_record(
            actor=actor,
            project_id=membership.project_id,
            action="membership.remove",
            object_type="membership",
            object_id=membership.pk,
            object_label=_membership_label(membership),
            before={"role": Role(membership.role).label},
        )
        _membership_changed(membership)
        membership.delete()


@dataclass(frozen=True)
class BackendFields:
    name: str
    kind: str
    family: str
    base_url: str
    model: str
    api_key_env: str = ""
    default_params: dict[str, Any] | None = None
    max_concurrency: int = 8
    timeout_s: float = 120
    stream: bool = False
    reasoning_split: bool = False
    requests_per_minute: int | None = None
    tokens_per_minute: int | None = None
    price_in_per_m: Decimal = Decimal(0)
    price_out_per_m: Decimal = Decimal(0)


def backend_fields_of(backend: Backend) -> BackendFields:
    """The editable configuration of a stored backend."""
    return BackendFields(**{f.name: getattr(backend, f.name) for f in dataclass_fields(BackendFields)})


def _backend_summary(backend: Backend) -> dict[str, Any]:
    """The configuration as JSON for the audit log (prices as exact decimal strings)."""
    values = asdict(backend_fields_of(backend))
    return {key: str(value) if isinstance(value, Decimal) else value for key, value in values.items()}


def _check_backend_fields(fields: BackendFields) -> None:
    if fields.kind not in BackendKind.values:
        raise ValidationFailed(f"Unknown backend kind '{fields.kind}'.", field="kind")
    if fields.family not in BackendFamily.values:
        raise ValidationFailed(f"Unknown backend family '{fields.family}'.", field="family")
    if fields.api_key_env and not fields.api_key_env.replace("_", "").isalnum():
        # A key pasted here by mistake must not be stored: only variable names are allowed.
        raise ValidationFailed(
            "Give the NAME of the environment variable that holds the key (letters, digits, _), never the key.",
            field="api_key_env",
        )
    if fields.api_key_env and not key_variable_allowed(fields.api_key_env):
        raise ValidationFailed(
            f"{fields.api_key_env} is not a variable set aside for model keys; use {allowed_key_variables_text()}"
            " (the operator sets the list with EVOLAB_BACKEND_KEY_VARS and EVOLAB_BACKEND_KEY_PREFIX).",
            field="api_key_env",
        )
    if fields.timeout_s < 1:
        raise ValidationFailed("The timeout must be at least one second.", field="timeout_s")
    if fields.max_concurrency < 1:
        raise ValidationFailed("max_concurrency must be at least 1.", field="max_concurrency")
    if fields.price_in_per_m < 0 or fields.price_out_per_m < 0:
        raise ValidationFailed("Prices cannot be negative.", field="price_in_per_m")
    temperature = (fields.default_params or {}).get("temperature")
    if fields.family == BackendFamily.MINIMAX and temperature is not None and not 0 < float(temperature) <= 1:
        raise ValidationFailed("MiniMax M2 models accept temperature in (0, 1].", field="default_params.temperature")


def _apply_backend_fields(backend: Backend, fields: BackendFields) -> None:
    for field in dataclass_fields(BackendFields):
        setattr(backend, field.name, getattr(fields, field.name))
    backend.name = fields.name.strip()
    backend.default_params = fields.default_params or {}


def _backend_save(*, actor: User, backend: Backend, action: str, before: dict[str, Any] | None) -> Backend:
    try:
        with transaction.atomic():
            backend.save()
            audit_record(
                actor=actor,
                project_id=backend.project_id,
                action=action,
                object_type="backend",
                object_id=backend.pk,
                object_label=backend.name,
                before=before,
                after=_backend_summary(backend),
            )
    except IntegrityError:
        raise Conflict(f"A backend named '{backend.name}' exists.", field="name") from None
    return backend


def backend_create(*, actor: User, project: Project, fields: BackendFields) -> Backend:
    _check_backend_fields(fields)
    backend = Backend(project=project)
    _apply_backend_fields(backend, fields)
    return _backend_save(actor=actor, backend=backend, action="backend.create", before=None)


def backend_update(*, actor: User, backend: Backend, fields: BackendFields) -> Backend:
    _check_backend_fields(fields)
    before = _backend_summary(backend)
    _apply_backend_fields(backend, fields)
    return _backend_save(actor=actor, backend=backend, action="backend.update", before=before)


def backend_delete(*, actor: User, backend: Backend) -> None:
    with transaction.atomic():
        audit_record(
            actor=actor,
            project_id=backend.project_id,
            action="backend.delete",
            object_type="backend",
            object_id=backend.pk,
            object_label=backend.name,
            before=_backend_summary(backend),
        )
        backend.delete()


def _hash_token(raw: str) -> str:
    return hashlib.sha256(raw.encode()).hexdigest()


def token_create(*, user: User, name: str) -> tuple[ApiToken, str]:
    """Create a token; the raw value is returned once and never stored."""
    raw = TOKEN_PREFIX + secrets.token_urlsafe(32)
    with transaction.atomic():
        token = ApiToken.objects.create(
            user=user, name=name.strip() or "token", prefix=raw[: len(TOKEN_PREFIX) + 6], token_hash=_hash_token(raw)
        )
        # A token acts for its user in every project, so the record belongs to no project.
        _token_audit(user, token, "token.create")
    return token, raw


def token_revoke(*, token: ApiToken) -> None:
    with transaction.atomic():
        revoked = ApiToken.objects.filter(pk=token.pk, revoked_at__isnull=True).update(revoked_at=timezone.now())
        if revoked:
            _token_audit(token.user, token, "token.revoke")


def _token_audit(user: User, token: ApiToken, action: str) -> None:
    audit_record(
        actor=user,
        project_id=None,
        action=action,
        object_type="api_token",
        object_id=token.pk,
        object_label=f"{token.name} ({token.prefix}…)",
    )


def token_authenticate(raw: str) -> User | None:
    """The active user behind a bearer token, or None; records when it was last used."""
    token = (
        ApiToken.objects.select_related("user")
        .filter(token_hash=_hash_token(raw), revoked_at__isnull=True, user__is_active=True)
        .first()
    )
    if token is None:
        return None
    now = timezone.now()
    if token.last_used_at is None or now - token.last_used_at > TOKEN_LAST_USED_RESOLUTION:
        ApiToken.objects.filter(pk=token.pk).update(last_used_at=now)
    return token.user


PROBED_PARAMETERS = ("temperature", "top_p", "top_k", "presence_penalty", "frequency_penalty", "seed", "max_tokens")


def backend_probe_request(*, actor: User, backend: Backend) -> None:
    """Ask a worker to probe the backend's parameters, once this transaction commits."""
    from evolab.projects.tasks import backend_probe

    with transaction.atomic():
        Backend.objects.filter(pk=backend.pk).update(probe_requested_at=timezone.now())
        audit_record(
            actor=actor,
            project_id=backend.project_id,
            action="backend.probe",
            object_type="backend",
            object_id=backend.pk,
            object_label=backend.name,
        )
        backend_probe.delay_on_commit(backend.pk)


def backend_probe_run(*, backend: Backend) -> dict[str, Any]:
    """Send the probe's few small requests and store what each parameter did."""
    try:
        results = asyncio.run(probe_parameters(backend_config(backend)))
    except (BackendError, ValidationFailed, OSError) as error:
        Backend.objects.filter(pk=backend.pk).update(probed_at=timezone.now(), probe_error=str(error)[:2000])
        return {}
    stored = {
        param: {"status": result.status, "evidence": result.evidence}
        for param, result in results.items()
        if param in PROBED_PARAMETERS
    }
    Backend.objects.filter(pk=backend.pk).update(probe_results=stored, probed_at=timezone.now(), probe_error="")
    return stored
