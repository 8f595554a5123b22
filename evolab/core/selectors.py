from __future__ import annotations

from django.db.models import QuerySet

from evolab.core.models import AuditEvent


def audit_events_for_project(project_id: int) -> QuerySet[AuditEvent]:
    """Newest first; the caller has already checked access to the project."""
    return AuditEvent.objects.filter(project_id=project_id).select_related("actor")
