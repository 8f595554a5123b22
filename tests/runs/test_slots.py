"""A backend's concurrency slots, shared by chunks in several worker processes."""

from __future__ import annotations

from datetime import timedelta

import pytest

from evolab.runs.models import BackendSlotLease
from evolab.runs.slots import slots_acquire, slots_free, slots_release, slots_resize
from tests.conftest import Team
from tests.factories import BackendFactory

pytestmark = pytest.mark.django_db

TTL = timedelta(seconds=30)


def test_a_waiting_chunk_gets_an_equal_share_at_the_holders_next_resize(team: Team) -> None:
    backend = BackendFactory(project=team.project, max_concurrency=50)
    assert slots_acquire(backend_id=backend.pk, want=50, token="a", ttl=TTL) == 50
    # Nothing free: the second chunk waits with a lease of zero slots.
    assert slots_acquire(backend_id=backend.pk, want=50, token="b", ttl=TTL) == 0
    assert slots_free(backend_id=backend.pk) == 0
    assert BackendSlotLease.objects.get(token="b").slots == 0

    assert slots_resize(backend_id=backend.pk, token="a", needed=100, ttl=TTL) == 25
    assert slots_free(backend_id=backend.pk) == 25
    assert slots_acquire(backend_id=backend.pk, want=50, token="b", ttl=TTL) == 25
    # Nobody waits any more: neither grows past what the other leaves.
    assert slots_resize(backend_id=backend.pk, token="a", needed=100, ttl=TTL) == 25


def test_a_holder_grows_back_when_the_other_chunk_is_done(team: Team) -> None:
    backend = BackendFactory(project=team.project, max_concurrency=50)
    slots_acquire(backend_id=backend.pk, want=50, token="a", ttl=TTL)
    slots_acquire(backend_id=backend.pk, want=50, token="b", ttl=TTL)
    slots_resize(backend_id=backend.pk, token="a", needed=100, ttl=TTL)
    slots_acquire(backend_id=backend.pk, want=50, token="b", ttl=TTL)

    slots_release(token="b")
    assert slots_resize(backend_id=backend.pk, token="a", needed=100, ttl=TTL) == 50


def test_a_draining_chunk_keeps_only_what_it_needs(team: Team) -> None:
    backend = BackendFactory(project=team.project, max_concurrency=50)
    slots_acquire(backend_id=backend.pk, want=50, token="a", ttl=TTL)
    assert slots_resize(backend_id=backend.pk, token="a", needed=7, ttl=TTL) == 7
    assert slots_acquire(backend_id=backend.pk, want=50, token="b", ttl=TTL) == 43
