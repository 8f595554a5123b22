from __future__ import annotations

from celery import shared_task

from evolab.projects import actions
from evolab.projects.models import Backend


@shared_task(name="projects.backend_probe")
def backend_probe(backend_id: int) -> None:
    """Probe which sampling parameters a backend honours; a deleted backend is skipped."""
    backend = Backend.objects.filter(pk=backend_id).first()
    if backend is None:
        return
    actions.backend_probe_run(backend=backend)
