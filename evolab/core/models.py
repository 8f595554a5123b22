from __future__ import annotations

from collections.abc import Collection, Iterable
from typing import Any, NoReturn

from django.conf import settings
from django.db import models


class AppendOnlyError(Exception):
    """Raised when code tries to change or remove an audit record."""


class AuditEventQuerySet(models.QuerySet["AuditEvent"]):
    """Every QuerySet path that changes or removes rows is refused. The database refuses
    them too (migration core 0003: triggers), for code that goes around the ORM."""

    def update(self, **kwargs: Any) -> NoReturn:
        raise AppendOnlyError("audit events are append-only")

    def delete(self) -> NoReturn:
        raise AppendOnlyError("audit events are append-only")

    def _raw_delete(self, using: str | None) -> NoReturn:
        raise AppendOnlyError("audit events are append-only")

    def bulk_update(self, *args: Any, **kwargs: Any) -> NoReturn:
        raise AppendOnlyError("audit events are append-only")

    def bulk_create(
        self,
        objs: Iterable[AuditEvent],
        batch_size: int | None = None,
        ignore_conflicts: bool = False,
        update_conflicts: bool = False,
        update_fields: Collection[str] | None = None,
        unique_fields: Collection[str] | None = None,
    ) -> list[AuditEvent]:
        # An upsert would overwrite the events it conflicts with.
        if update_conflicts:
            raise AppendOnlyError("audit events are append-only: no upserts")
        return super().bulk_create(objs, batch_size, ignore_conflicts, False, update_fields, unique_fields)


class AuditEvent(models.Model):
    """One decision or change, written by the actions layer and never altered.

    The project is kept as a plain id (not a foreign key) because `core` sits below
    `projects`, and because the audit trail must outlive what it describes.
    """

    project_id = models.BigIntegerField(null=True, db_index=True)
    actor = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+")
    actor_label = models.CharField(max_length=150)
    action = models.CharField(max_length=64)
    object_type = models.CharField(max_length=64)
    object_id = models.CharField(max_length=64)
    object_label = models.CharField(max_length=200, blank=True)
    before = models.JSONField(null=True, blank=True)
    after = models.JSONField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True, db_index=True)

    objects = AuditEventQuerySet.as_manager()

    class Meta:
        ordering = ["-created_at", "-id"]
        indexes = [models.Index(fields=["project_id", "-created_at"])]

    def __str__(self) -> str:
        return f"{self.actor_label} {self.action} {self.object_type}:{self.object_id}"

    def save(self, *args: Any, **kwargs: Any) -> None:
        if self.pk is not None:
            raise AppendOnlyError("audit events are append-only")
        super().save(*args, **kwargs)

    def delete(self, *args: Any, **kwargs: Any) -> NoReturn:
        raise AppendOnlyError("audit events are append-only")


class OutboxEvent(models.Model):
    """A notice that something in a project changed, for live pages to pick up.

    Written in the transaction of the change it announces (so it exists exactly when the
    change does), read in id order by websocket consumers. Every member of the project
    receives it, so it says *what* changed (type, object, version), never content: no
    model output, no case text, nothing a viewer may not see. Pages re-fetch the fragment
    over authorised HTTP. The project is a plain id, as in `AuditEvent`.
    """

    id = models.BigAutoField(primary_key=True)
    # No single-column index: the (project_id, id) index below serves lookups by project.
    project_id = models.BigIntegerField()
    type = models.CharField(max_length=64)
    object_type = models.CharField(max_length=64)
    object_id = models.CharField(max_length=64)
    version = models.IntegerField(default=0)
    data = models.JSONField(default=dict, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["id"]
        indexes = [models.Index(fields=["project_id", "id"], name="outbox_project_id_id")]

    def __str__(self) -> str:
        return f"#{self.pk} {self.type} {self.object_type}:{self.object_id} v{self.version}"

    @staticmethod
    def group_name(project_id: int) -> str:
        """The channel-layer group whose sockets are woken when the project has new events."""
        return f"project-{project_id}"

    def as_message(self) -> dict[str, Any]:
        """The event as sent over the websocket."""
        return {
            "id": self.pk,
            "type": self.type,
            "object_type": self.object_type,
            "object_id": self.object_id,
            "version": self.version,
            "data": self.data,
        }


class RateCounter(models.Model):
    """Requests counted in one fixed window for one key (see `evolab.core.ratelimit`).

    Used when no shared cache is configured: the counter is bumped by a single
    `INSERT … ON CONFLICT DO UPDATE … RETURNING` statement, atomic across processes on
    SQLite and PostgreSQL alike (DatabaseCache's `incr` is a read then a write)."""

    key = models.CharField(max_length=200, unique=True)
    count = models.PositiveIntegerField(default=0)
    expires_at = models.DateTimeField(db_index=True)

    def __str__(self) -> str:
        return f"{self.key}={self.count}"
