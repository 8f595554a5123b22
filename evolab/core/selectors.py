from __future__ import annotations

from collections.abc import Collection

from django.db.models import QuerySet

from evolab.core.models import AuditEvent, OutboxEvent


def audit_events_for_project(project_id: int) -> QuerySet[AuditEvent]:
    """Newest first; the caller has already checked access to the project."""
    return AuditEvent.objects.filter(project_id=project_id).select_related("actor")


def events_after(
    project_id: int,
    after_id: int,
    limit: int = 500,
    *,
    until_id: int | None = None,
    exclude_ids: Collection[int] = (),
) -> list[OutboxEvent]:
    """The project's outbox events with id > `after_id` (and <= `until_id`), oldest first.

    `exclude_ids` lets a relay look again below its high-water mark for events that were
    committed late, without fetching what it has already sent.
    """
    events = OutboxEvent.objects.filter(project_id=project_id, id__gt=after_id)
    if until_id is not None:
        events = events.filter(id__lte=until_id)
    if exclude_ids:
        events = events.exclude(id__in=list(exclude_ids))
    return list(events.order_by("id")[:limit])


def latest_event_id(project_id: int) -> int:
    """The id of the project's newest outbox event, 0 if none: where a fresh page starts."""
    latest = OutboxEvent.objects.filter(project_id=project_id).order_by("-id").values_list("id", flat=True).first()
    return latest or 0
