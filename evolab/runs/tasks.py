"""Thin Celery tasks: they take ids and call the execution and actions layers."""

from __future__ import annotations

from typing import Any

from celery import shared_task
from celery.signals import worker_process_shutdown, worker_ready, worker_shutdown

from evolab.core.logging import log_context
from evolab.runs import actions, heartbeat
from evolab.runs.event_loops import close_event_loops
from evolab.runs.execution import execute_chunk


@shared_task(name="runs.run_chunk")
def run_chunk(chunk_id: int) -> None:
    """Claim and run one chunk; a duplicate message finds the lease taken and returns."""
    # run_id is bound once the claim names the run; the block restores both afterwards.
    with log_context(chunk_id=chunk_id, run_id=None):
        execute_chunk(chunk_id)


@shared_task(name="runs.reconcile")
def reconcile() -> int:
    """Re-enqueue chunks whose worker died and finish runs whose chunks are all done."""
    return actions.runs_reconcile()


@worker_process_shutdown.connect  # a prefork pool process
@worker_shutdown.connect  # the worker itself, where a solo or threads pool ran the chunks
def _close_chunk_connections(**_: Any) -> None:
    """Chunks keep their event loop and backend connections open for the next chunk;
    close them cleanly when the process stops."""
    close_event_loops()


@worker_ready.connect
def _start_heartbeat(sender: Any = None, **_: Any) -> None:
    """Say this worker is alive, in a row the operations page reads (runs/heartbeat.py)."""
    hostname = getattr(sender, "hostname", None) or "celery"
    concurrency = int(getattr(getattr(sender, "controller", None), "concurrency", 0) or 0)
    heartbeat.heartbeat_start(hostname=hostname, concurrency=concurrency)


@worker_shutdown.connect
def _stop_heartbeat(**_: Any) -> None:
    heartbeat.heartbeat_stop()
