"""State changes owned by core: the audit trail and the outbox of live events."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from asgiref.sync import async_to_sync
from channels.layers import InMemoryChannelLayer, get_channel_layer
from django.contrib.auth.models import AnonymousUser, User
from django.db import transaction
from django.utils import timezone

from evolab.core.models import AuditEvent, OutboxEvent


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


def event_emit(
    *,
    project_id: int,
    type: str,
    object_type: str,
    object_id: object,
    version: int = 0,
    data: dict[str, Any] | None = None,
) -> OutboxEvent:
    """Append one live event; call it inside the transaction of the change it announces.

    `data` must stay small and safe for every member (viewers included): ids, counts,
    states, never model output or case text. After commit, sockets of the project are
    woken through the channel layer when it crosses processes (Redis); otherwise they
    find the event at their next poll. Safe to call from Celery workers.
    """
    event = OutboxEvent.objects.create(
        project_id=project_id,
        type=type,
        object_type=object_type,
        object_id=str(object_id),
        version=version,
        data=data or {},
    )
    _wake_on_commit(project_id)
    return event


def outbox_prune(older_than: timedelta) -> int:
    """Delete events older than `older_than`; returns how many went.

    A client that was away longer than that reconnects past the gap: it reloads its page
    anyway, since no page stays open for the retention period (days) without a reconnect.
    """
    deleted, _ = OutboxEvent.objects.filter(created_at__lt=timezone.now() - older_than).delete()
    return deleted


@dataclass(frozen=True)
class _ProjectWake:
    """The after-commit wake-up of one project's sockets (a bound method, so Django can log it)."""

    project_id: int

    def send(self) -> None:
        layer = get_channel_layer()
        if layer is not None:
            async_to_sync(layer.group_send)(OutboxEvent.group_name(self.project_id), {"type": "outbox.wake"})


def _wake_on_commit(project_id: int) -> None:
    # An in-memory layer reaches no other process, and consumers poll the outbox anyway:
    # the wake-up only shortens the delay, so it is sent only where it can arrive.
    layer = get_channel_layer()
    if layer is None or isinstance(layer, InMemoryChannelLayer):
        return
    wake = _ProjectWake(project_id)
    # One wake-up per project per commit, however many events the transaction writes.
    # Django drops the callbacks of rolled-back savepoints from this list, so a wake-up
    # found here will run if (and only if) the events beside it are committed.
    pending = transaction.get_connection().run_on_commit
    if any(getattr(func, "__self__", None) == wake for _, func, _ in pending):
        return
    # robust: the data is committed already; a Redis hiccup must not turn that into an error.
    transaction.on_commit(wake.send, robust=True)
