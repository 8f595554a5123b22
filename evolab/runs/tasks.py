"""Thin Celery tasks: they take ids and call the execution and actions layers."""

from __future__ import annotations

from celery import shared_task

from evolab.runs import actions
from evolab.runs.execution import execute_chunk


@shared_task(name="runs.run_chunk")
def run_chunk(chunk_id: int) -> None:
    """Claim and run one chunk; a duplicate message finds the lease taken and returns."""
    execute_chunk(chunk_id)


@shared_task(name="runs.reconcile")
def reconcile() -> int:
    """Re-enqueue chunks whose worker died and finish runs whose chunks are all done."""
    return actions.runs_reconcile()
