"""Worker heartbeats: each Celery worker writes a row saying it is alive.

Started from the worker's `worker_ready` signal (runs/tasks.py) in the worker's main
process: a daemon thread upserts the row now and every EVOLAB_WORKER_HEARTBEAT_S, and
deletes it when the worker shuts down cleanly. The thread has its own database
connection; a failed beat (database restarting) is logged and retried at the next one.
"""

from __future__ import annotations

import logging
import os
import threading
from datetime import timedelta

from django.conf import settings
from django.db import DatabaseError, connection
from django.utils import timezone

from evolab.runs.models import WorkerHeartbeat

logger = logging.getLogger(__name__)

PRUNE_AFTER = timedelta(days=1)


def heartbeat_interval_s() -> float:
    return float(getattr(settings, "EVOLAB_WORKER_HEARTBEAT_S", 10))


def heartbeat_write(*, hostname: str, pid: int, concurrency: int, started_at: object) -> None:
    """Record one beat of this worker process (and forget workers gone for a day)."""
    from celery.worker import state

    now = timezone.now()
    WorkerHeartbeat.objects.update_or_create(
        hostname=hostname,
        pid=pid,
        defaults={
            "concurrency": concurrency,
            "active_tasks": len(state.active_requests),
            "processed_tasks": state.all_total_count[0],
            "last_seen_at": now,
        },
        create_defaults={
            "concurrency": concurrency,
            "active_tasks": len(state.active_requests),
            "processed_tasks": state.all_total_count[0],
            "started_at": started_at,
            "last_seen_at": now,
        },
    )
    WorkerHeartbeat.objects.filter(last_seen_at__lt=now - PRUNE_AFTER).delete()


class HeartbeatThread(threading.Thread):
    def __init__(self, *, hostname: str, concurrency: int) -> None:
        super().__init__(name="evolab-heartbeat", daemon=True)
        self.hostname = hostname
        self.concurrency = concurrency
        self.pid = os.getpid()
        self.started_at = timezone.now()
        self.stopping = threading.Event()

    def run(self) -> None:
        try:
            while True:
                try:
                    heartbeat_write(
                        hostname=self.hostname, pid=self.pid, concurrency=self.concurrency, started_at=self.started_at
                    )
                except DatabaseError:
                    logger.warning("worker heartbeat not written; trying again", exc_info=True)
                    connection.close()
                if self.stopping.wait(heartbeat_interval_s()):
                    break
            WorkerHeartbeat.objects.filter(hostname=self.hostname, pid=self.pid).delete()
        except DatabaseError:
            logger.warning("worker heartbeat row not removed at shutdown", exc_info=True)
        finally:
            connection.close()


_thread: HeartbeatThread | None = None


def heartbeat_start(*, hostname: str, concurrency: int) -> None:
    global _thread
    if _thread is not None and _thread.is_alive():
        return
    _thread = HeartbeatThread(hostname=hostname, concurrency=concurrency)
    _thread.start()


def heartbeat_stop(timeout_s: float = 5.0) -> None:
    """Stop beating and remove this worker's row (at a clean shutdown)."""
    global _thread
    if _thread is None:
        return
    _thread.stopping.set()
    _thread.join(timeout_s)
    _thread = None
