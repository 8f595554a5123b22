from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass
from datetime import datetime

from django.db.models import QuerySet

from evolab.core.models import AuditEvent, OutboxEvent


@dataclass(frozen=True)
class AuditFilter:
    """Which of a project's audit events to show; empty fields do not filter."""

    actor: str = ""  # the actor's label as recorded ("system" for no person)
    # "proposal." (ending in a dot) matches every action it starts; otherwise exact.
    action: str = ""
    since: datetime | None = None  # inclusive
    until: datetime | None = None  # exclusive


def audit_events_for_project(project_id: int, filters: AuditFilter | None = None) -> QuerySet[AuditEvent]:
    """Newest first; the caller has already checked access to the project."""
    events = AuditEvent.objects.filter(project_id=project_id).select_related("actor")
    if filters is None:
        return events
    if filters.actor:
        events = events.filter(actor_label=filters.actor)
    if filters.action.endswith("."):
        events = events.filter(action__startswith=filters.action)
    elif filters.action:
        events = events.filter(action=filters.action)
    if filters.since is not None:
        events = events.filter(created_at__gte=filters.since)
    if filters.until is not None:
        events = events.filter(created_at__lt=filters.until)
    return events


@dataclass(frozen=True)
class AuditFacets:
    actors: list[str]  # every actor label in the project's audit log, sorted
    actions: list[str]  # every action, sorted, then their prefixes ("proposal.")


def audit_facets(project_id: int) -> AuditFacets:
    """What the audit filters can choose from, in one query: people who are no longer
    members still appear, since their actions stay in the log."""
    pairs = AuditEvent.objects.filter(project_id=project_id).values_list("actor_label", "action").distinct()
    actors: set[str] = set()
    actions: set[str] = set()
    for actor, action in pairs.order_by():
        actors.add(actor)
        actions.add(action)
    prefixes = {action.split(".", 1)[0] + "." for action in actions if "." in action}
    return AuditFacets(actors=sorted(actors), actions=sorted(actions) + sorted(prefixes))


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
