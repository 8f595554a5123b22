"""`{% live_cursor project %}`: the outbox id a freshly rendered page starts after."""

from __future__ import annotations

from django import template

from evolab.core.selectors import latest_event_id
from evolab.projects.models import Project

register = template.Library()


@register.simple_tag
def live_cursor(project: Project) -> int:
    return latest_event_id(project.pk)
