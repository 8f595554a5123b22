"""The operations page (staff only): workers from their heartbeats, the queue, chunks in
flight, stuck or failed, and the audited retry action."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from datetime import timedelta
from pathlib import Path

import pytest
from django.conf import settings
from django.test import Client
from django.utils import timezone

from evolab.core.models import AuditEvent
from evolab.core.stack import STACK_COMMANDS
from evolab.runs.heartbeat import heartbeat_write
from evolab.runs.models import CaseResult, ChunkStatus, ResultStatus, Run, RunChunk, RunStatus, WorkerHeartbeat
from tests.conftest import Team
from tests.factories import UserFactory
from tests.runs.conftest import Lab
from tests.runs.helpers import start

pytestmark = pytest.mark.django_db


@pytest.fixture
def staff() -> Client:
    client = Client()
    client.force_login(UserFactory(username="operator", is_staff=True))
    return client


def test_it_is_for_staff_only(team: Team, staff: Client) -> None:
    assert Client().get("/ops/").status_code == 302
    for persona in ("owner", "viewer", "outsider"):
        assert team.client_for(persona).get("/ops/").status_code == 403
        assert team.client_for(persona).post("/ops/chunks/1/retry/").status_code == 403
    response = staff.get("/ops/")
    assert response.status_code == 200
    assert b"Workers online" in response.content and b'data-ops="queue">0<' in response.content


def test_it_shows_workers_online_and_offline(staff: Client) -> None:
    now = timezone.now()
    heartbeat_write(hostname="celery@alive", pid=11, concurrency=2, started_at=now)
    heartbeat_write(hostname="celery@dead", pid=12, concurrency=2, started_at=now)
    WorkerHeartbeat.objects.filter(hostname="celery@dead").update(last_seen_at=now - timedelta(minutes=5))
    content = staff.get("/ops/", HTTP_HX_REQUEST="true").content.decode()
    assert 'data-ops="online">1<' in content
    assert "celery@alive" in content and "● online" in content and "○ offline" in content
    assert "<html" not in content  # the htmx refresh gets the panels only


def _failed_chunk(lab: Lab) -> tuple[Run, RunChunk]:
    run = start(lab)
    chunk = run.chunks.get()
    RunChunk.objects.filter(pk=chunk.pk).update(status=ChunkStatus.FAILED, attempts=4, last_error="worker died 3 times")
    CaseResult.objects.filter(chunk=chunk).update(status=ResultStatus.ERROR, error="chunk failed: worker died")
    first = CaseResult.objects.filter(chunk=chunk).order_by("pk").first()
    assert first is not None
    CaseResult.objects.filter(pk=first.pk).update(error="backend said 400")  # errored on its own: stays
    Run.objects.filter(pk=run.pk).update(status=RunStatus.COMPLETED, finished_at=timezone.now())
    return run, chunk


def test_retry_sends_a_failed_chunk_again(lab: Lab, staff: Client, django_capture_on_commit_callbacks: object) -> None:
    run, chunk = _failed_chunk(lab)
    assert f'data-chunk="{chunk.pk}"'.encode() in staff.get("/ops/").content
    with django_capture_on_commit_callbacks() as callbacks:  # type: ignore[operator]
        response = staff.post(f"/ops/chunks/{chunk.pk}/retry/", follow=True)
    assert response.status_code == 200 and b"sent again" in response.content
    assert len(callbacks) >= 1  # the chunk is enqueued once the retry commits
    chunk.refresh_from_db()
    run.refresh_from_db()
    assert (chunk.status, chunk.attempts, chunk.last_error) == (ChunkStatus.PENDING, 0, "")
    assert run.status == RunStatus.RUNNING and run.finished_at is None
    results = CaseResult.objects.filter(chunk=chunk)
    assert results.filter(status=ResultStatus.PENDING).count() == results.count() - 1
    assert results.get(status=ResultStatus.ERROR).error == "backend said 400"
    event = AuditEvent.objects.get(action="chunk.retry")
    assert event.actor.username == "operator" and event.before["status"] == "failed"


def test_retry_takes_back_a_lapsed_lease(lab: Lab, staff: Client) -> None:
    run = start(lab)
    chunk = run.chunks.get()
    RunChunk.objects.filter(pk=chunk.pk).update(
        status=ChunkStatus.LEASED, lease_token="dead", lease_expires_at=timezone.now() - timedelta(seconds=5)
    )
    assert b"Stuck chunks" in staff.get("/ops/").content
    assert 'data-ops="stuck"><span' in staff.get("/ops/").content.decode()
    staff.post(f"/ops/chunks/{chunk.pk}/retry/")
    chunk.refresh_from_db()
    assert chunk.status == ChunkStatus.PENDING and chunk.lease_token == ""


def test_retry_refuses_a_healthy_chunk_and_changes_nothing(lab: Lab, staff: Client) -> None:
    run = start(lab)
    chunk = run.chunks.get()
    RunChunk.objects.filter(pk=chunk.pk).update(
        status=ChunkStatus.LEASED, lease_token="alive", lease_expires_at=timezone.now() + timedelta(seconds=30)
    )
    response = staff.post(f"/ops/chunks/{chunk.pk}/retry/", follow=True)
    assert b"Only a failed chunk, or one whose lease lapsed, can be retried." in response.content
    chunk.refresh_from_db()
    assert chunk.lease_token == "alive"
    assert not AuditEvent.objects.filter(action="chunk.retry").exists()


@pytest.mark.service
@pytest.mark.django_db(transaction=True)
def test_a_real_worker_beats_and_leaves_cleanly(tmp_path: Path) -> None:
    """A `celery worker` process (the stack's command, file broker of its own) writes its
    heartbeat row, renews it, and removes it when it is stopped with SIGTERM."""
    from tests.reliability.conftest import database_url

    env = {
        **{key: value for key, value in os.environ.items() if key not in {"REDIS_URL", "CELERY_TASK_ALWAYS_EAGER"}},
        "DATABASE_URL": database_url(),
        "EVOLAB_VAR_DIR": str(tmp_path),
        "EVOLAB_WORKER_HEARTBEAT_S": "0.5",
    }
    command = [sys.executable, *STACK_COMMANDS["worker"][1:]]
    worker = subprocess.Popen(
        command, cwd=settings.BASE_DIR, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    try:
        deadline = time.monotonic() + 40
        while not WorkerHeartbeat.objects.filter(pid=worker.pid).exists():
            assert worker.poll() is None and time.monotonic() < deadline, "no heartbeat from the worker"
            time.sleep(0.1)
        first = WorkerHeartbeat.objects.get(pid=worker.pid).last_seen_at
        while WorkerHeartbeat.objects.get(pid=worker.pid).last_seen_at == first:
            assert time.monotonic() < deadline, "the heartbeat is not renewed"
            time.sleep(0.1)
        assert WorkerHeartbeat.objects.get(pid=worker.pid).concurrency == 2
    finally:
        worker.terminate()  # SIGTERM to the main process, as `docker stop` sends it
        try:
            worker.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(worker.pid, signal.SIGKILL)
            worker.wait()
            raise
    assert not WorkerHeartbeat.objects.filter(pid=worker.pid).exists()
