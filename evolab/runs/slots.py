"""A backend's concurrency limit, shared by every worker process through the database.

Each chunk leases a number of slots before it sends requests and resizes its lease at
every batch write: down as it drains, so the next chunk can start while this one
finishes its last requests, and up when other chunks release theirs. A chunk that finds
no slot free leaves a lease of zero slots while it waits: the holders then come down to
an equal share at their next resize, so chunks in several worker processes send side by
side (each process is one core of CPU for the client) instead of one after the other.
Leases expire: a killed worker's slots return without anyone cleaning up.
"""

from __future__ import annotations

import math
from datetime import timedelta

from django.db import transaction
from django.db.models import QuerySet, Sum
from django.utils import timezone

from evolab.projects.models import Backend
from evolab.runs.models import BackendSlotLease


def slots_free(*, backend_id: int) -> int:
    """How many slots no live lease holds now (one read, no lock: a hint for waiting)."""
    limit = Backend.objects.filter(pk=backend_id).values_list("max_concurrency", flat=True).first()
    if limit is None:
        return 0
    used = _live(backend_id).aggregate(total=Sum("slots"))["total"] or 0
    return limit - used


def slots_acquire(*, backend_id: int, want: int, token: str, ttl: timedelta) -> int:
    """Lease up to `want` slots; returns how many were granted. When none is free the
    chunk's lease is kept at zero slots, which tells the holders that it waits."""
    now = timezone.now()
    with transaction.atomic():
        # Lock the backend row so two workers cannot both count the same free slots
        # (PostgreSQL; SQLite's IMMEDIATE transactions already serialise writers).
        backend = Backend.objects.select_for_update().filter(pk=backend_id).values("max_concurrency").first()
        if backend is None:
            return 0
        BackendSlotLease.objects.filter(backend_id=backend_id, expires_at__lt=now).delete()
        used = _live(backend_id).exclude(token=token).aggregate(total=Sum("slots"))["total"] or 0
        granted = max(0, min(want, backend["max_concurrency"] - used))
        BackendSlotLease.objects.update_or_create(
            token=token, defaults={"backend_id": backend_id, "slots": granted, "expires_at": now + ttl}
        )
    return granted


def slots_resize(*, backend_id: int, token: str, needed: int, ttl: timedelta) -> int:
    """Extend the lease and set it to what the chunk still needs, as far as the other
    holders leave room: it shrinks as the chunk drains (so the next chunk can start),
    comes down to an equal share while another chunk waits with none, and grows when
    others finish (so a chunk that started with few slots is not left crawling).
    Returns the slots now held."""
    now = timezone.now()
    with transaction.atomic():
        backend = Backend.objects.select_for_update().filter(pk=backend_id).values("max_concurrency").first()
        if backend is None:
            return 0
        # A handful of rows: summed here rather than by an aggregate the ORM compiles anew.
        others = list(_live(backend_id).exclude(token=token).values_list("slots", flat=True))
        limit = backend["max_concurrency"]
        held = max(0, min(needed, limit - sum(others)))
        if 0 in others:
            held = min(held, math.ceil(limit / (len(others) + 1)))
        BackendSlotLease.objects.filter(token=token).update(slots=held, expires_at=now + ttl)
    return held


def slots_release(*, token: str) -> None:
    BackendSlotLease.objects.filter(token=token).delete()


def _live(backend_id: int) -> QuerySet[BackendSlotLease]:
    return BackendSlotLease.objects.filter(backend_id=backend_id, expires_at__gte=timezone.now())
