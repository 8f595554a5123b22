"""Chunk leases: concurrent claims (two real database connections) and the reconciler."""

from __future__ import annotations

import threading
import time
from datetime import timedelta

import pytest
from django.db import connection, transaction
from django.test import override_settings
from django.utils import timezone

from evolab.runs.actions import RunSpec, chunk_claim, run_create, runs_reconcile
from evolab.runs.models import Run, RunChunk
from tests.runs.conftest import Lab

pytestmark = pytest.mark.django_db(transaction=True)


def _run(lab: Lab) -> Run:
    return run_create(
        actor=lab.team.owner,
        project=lab.team.project,
        spec=RunSpec(harness_version=lab.harness, suite_version=lab.suite_version, splits=["dev"], backend=lab.backend),
    )


def test_two_claims_at_once_give_one_lease(lab: Lab) -> None:
    run = _run(lab)
    chunk_id = run.chunks.values_list("pk", flat=True).first()
    claims: dict[str, object] = {}
    first_claimed, first_may_commit = threading.Event(), threading.Event()

    def first() -> None:
        try:
            with transaction.atomic():  # hold the claim uncommitted while the second one arrives
                claims["first"] = chunk_claim(chunk_id)
                first_claimed.set()
                first_may_commit.wait(5)
        finally:
            connection.close()

    def second() -> None:
        first_claimed.wait(5)
        try:
            claims["second"] = chunk_claim(chunk_id)
        finally:
            connection.close()

    threads = [threading.Thread(target=first), threading.Thread(target=second)]
    for thread in threads:
        thread.start()
    time.sleep(0.5)  # the second claim now waits on the first one's lock
    first_may_commit.set()
    for thread in threads:
        thread.join(10)
    assert claims["first"] is not None
    assert claims["second"] is None


@override_settings(EVOLAB_CHUNK_REQUEUE_S=30)
def test_a_lapsed_chunk_is_sent_again_once_per_requeue_window(lab: Lab) -> None:
    run = _run(lab)
    chunk_id = run.chunks.values_list("pk", flat=True).first()
    assert chunk_claim(chunk_id) is not None
    # Its worker died: the lease lapses while no worker is free to take the chunk.
    RunChunk.objects.filter(pk=chunk_id).update(lease_expires_at=timezone.now() - timedelta(seconds=1))
    assert runs_reconcile() == 1
    assert runs_reconcile() == 0  # the message just sent is not presumed lost yet
    RunChunk.objects.filter(pk=chunk_id).update(enqueued_at=timezone.now() - timedelta(seconds=31))
    assert runs_reconcile() == 1
