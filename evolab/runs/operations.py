"""What the operations page shows: workers online (their heartbeats), the task queue's
depth, and chunks in flight, stuck (lease lapsed) or failed, across every project.

Instance-wide reads for staff; every list is bounded and fetched with its run and
project in the same query, so the page costs the same whatever the load.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass
from datetime import datetime, timedelta

from django.db.models import Count, Q, QuerySet
from django.utils import timezone

from evolab.core.health import queue_depth
from evolab.runs.heartbeat import heartbeat_interval_s
from evolab.runs.models import ACTIVE_RUN_STATUSES, ChunkStatus, RunChunk, WorkerHeartbeat

LIST_LIMIT = 50
QUEUE_TIMEOUT_S = 2.0
ONLINE_BEATS = 3  # a worker is online while its last beat is younger than this many intervals


@dataclass(frozen=True)
class WorkerRow:
    heartbeat: WorkerHeartbeat
    online: bool
    seen_ago_s: float


@dataclass(frozen=True)
class QueueState:
    depth: int | None
    error: str


@dataclass(frozen=True)
class Operations:
    workers: list[WorkerRow]
    online: int
    queue: QueueState
    counts: dict[str, int]
    in_flight: list[RunChunk]
    stuck: list[RunChunk]
    failed: list[RunChunk]
    now: datetime


def workers_list(now: datetime) -> list[WorkerRow]:
    online_after = now - timedelta(seconds=ONLINE_BEATS * heartbeat_interval_s())
    return [
        WorkerRow(
            heartbeat=beat,
            online=beat.last_seen_at >= online_after,
            seen_ago_s=(now - beat.last_seen_at).total_seconds(),
        )
        for beat in WorkerHeartbeat.objects.order_by("-last_seen_at")[:LIST_LIMIT]
    ]


def queue_state(timeout_s: float = QUEUE_TIMEOUT_S) -> QueueState:
    """The queue's depth, or why it could not be read within `timeout_s`."""
    answer: dict[str, int | str] = {}

    def read() -> None:
        try:
            answer["depth"] = queue_depth()
        except Exception as error:
            answer["error"] = f"broker unreachable ({type(error).__name__})"

    thread = threading.Thread(target=read, name="ops-queue-depth", daemon=True)
    thread.start()
    thread.join(timeout_s)
    if "depth" in answer:
        return QueueState(depth=int(answer["depth"]), error="")
    return QueueState(depth=None, error=str(answer.get("error", f"no answer within {timeout_s:g} s")))


def _chunks() -> QuerySet[RunChunk]:
    return RunChunk.objects.select_related("run", "run__project")


def operations_overview(now: datetime | None = None) -> Operations:
    now = now or timezone.now()
    workers = workers_list(now)
    live_lease = Q(status=ChunkStatus.LEASED, lease_expires_at__gte=now)
    lapsed_lease = Q(status=ChunkStatus.LEASED, lease_expires_at__lt=now, run__status__in=ACTIVE_RUN_STATUSES)
    counts = RunChunk.objects.aggregate(
        in_flight=Count("pk", filter=live_lease),
        stuck=Count("pk", filter=lapsed_lease),
        waiting=Count("pk", filter=Q(status=ChunkStatus.PENDING, run__status__in=ACTIVE_RUN_STATUSES)),
        failed=Count("pk", filter=Q(status=ChunkStatus.FAILED)),
    )
    return Operations(
        workers=workers,
        online=sum(1 for row in workers if row.online),
        queue=queue_state(),
        counts={key: int(value or 0) for key, value in counts.items()},
        in_flight=list(_chunks().filter(live_lease).order_by("lease_expires_at")[:LIST_LIMIT]),
        stuck=list(_chunks().filter(lapsed_lease).order_by("lease_expires_at")[:LIST_LIMIT]),
        failed=list(_chunks().filter(status=ChunkStatus.FAILED).order_by("-run__created_at", "index")[:LIST_LIMIT]),
        now=now,
    )
