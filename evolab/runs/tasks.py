"""Thin Celery tasks: they take ids and call the execution and actions layers."""

from __future__ import annotations

from typing import Any

from celery import shared_task
from celery.signals import worker_process_shutdown, worker_shutdown

from evolab.runs import actions
from evolab.runs.execution import close_event_loops, execute_chunk


@shared_task(name="runs.run_chunk")
def run_chunk(chunk_id: int) -> None:
    """Claim and run one chunk; a duplicate message finds the lease taken and returns."""
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
