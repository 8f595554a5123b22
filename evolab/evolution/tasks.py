"""Thin Celery tasks: they take ids and call the loop."""

from __future__ import annotations

from celery import shared_task

from evolab.core.logging import log_context
from evolab.evolution import loop


@shared_task(name="evolution.campaign_step")
def campaign_step(campaign_id: int) -> None:
    """One step of a campaign; a duplicate message finds the lease taken and returns."""
    with log_context(campaign_id=campaign_id):
        loop.campaign_step(campaign_id)


@shared_task(name="evolution.reconcile")
def reconcile() -> int:
    """Re-enqueue steps of running campaigns whose worker died or whose message was lost."""
    return loop.campaigns_reconcile()
