"""A backend's concurrency limit, shared by every worker process through the database.

Each chunk leases a number of slots before it sends requests and resizes its lease at
every batch write: down as it drains, so the next chunk can start while this one
finishes its last requests, and up when other chunks release theirs. Leases expire: a
killed worker's slots return without anyone cleaning up.
"""

from __future__ import annotations

from datetime import timedelta

from django.db import transaction
from django.db.models import Sum
from django.utils import timezone

from evolab.projects.models import Backend
from evolab.runs.models import BackendSlotLease


def slots_acquire(*, backend_id: int, want: int, token: str, ttl: timedelta) -> int:
    """Lease up to `want` slots; returns how many were granted (0 when none is free)."""
    now = timezone.now()
    with transaction.atomic():
        # Lock the backend row so two workers cannot both count the same free slots
        # (PostgreSQL; SQLite's IMMEDIATE transactions already serialise writers).
        backend = Backend.objects.select_for_update().filter(pk=backend_id).values("max_concurrency").first()
        if backend is None:
            return 0
        BackendSlotLease.objects.filter(backend_id=backend_id, expires_at__lt=now).delete()
        used = BackendSlotLease.objects.filter(backend_id=backend_id).aggregate(total=Sum("slots"))["total"] or 0
        granted = min(want, backend["max_concurrency"] - used)
        if granted <= 0:
            return 0
        BackendSlotLease.objects.create(backend_id=backend_id, token=token, slots=granted, expires_at=now + ttl)
    return granted


def slots_resize(*, backend_id: int, token: str, needed: int, ttl: timedelta) -> int:
    """Extend the lease and set it to what the chunk still needs, as far as the other
    holders leave room: it shrinks as the chunk drains (so the next chunk can start) and
    grows when others finish (so a chunk that started with few slots is not left
    crawling). Returns the slots now held."""
    now = timezone.now()
    with transaction.atomic():
        backend = Backend.objects.select_for_update().filter(pk=backend_id).values("max_concurrency").first()
        if backend is None:
            return 0
        others = (
            BackendSlotLease.objects.filter(backend_id=backend_id, expires_at__gte=now)
            .exclude(token=token)
            .aggregate(total=Sum("slots"))["total"]
            or 0
        )
        held = max(0, min(needed, backend["max_concurrency"] - others))
        BackendSlotLease.objects.filter(token=token).update(slots=held, expires_at=now + ttl)
    return held


def slots_release(*, token: str) -> None:
    BackendSlotLease.objects.filter(token=token).delete()
