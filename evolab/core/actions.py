"""State changes owned by core: the audit trail."""

from __future__ import annotations

from typing import Any

from django.contrib.auth.models import AnonymousUser, User

from evolab.core.models import AuditEvent


def audit_record(
    *,
    actor: User | AnonymousUser | None,
    project_id: int | None,
    action: str,
    object_type: str,
    object_id: object,
    object_label: str = "",
    before: Any = None,
    after: Any = None,
) -> AuditEvent:
    """Append one audit event; call it inside the transaction of the change it records."""
    person = actor if isinstance(actor, User) else None
    return AuditEvent.objects.create(
        project_id=project_id,
        actor=person,
        actor_label=person.get_username() if person is not None else "system",
        action=action,
        object_type=object_type,
        object_id=str(object_id),
        object_label=object_label[:200],
        before=before,
        after=after,
    )
