"""Thin Celery tasks: they take ids and call the charts' computations."""

from __future__ import annotations

from celery import shared_task

from evolab.charts.compare_stats import store_run_digests


@shared_task(name="charts.digest_run")
def digest_run(run_id: int) -> bool:
    """Cache a completed run's compare-view digests; a repeat finds them and does nothing."""
    return store_run_digests(run_id)


def enqueue_digest(run_id: int) -> None:
    """The runs completion callback (registered in `ChartsConfig.ready`)."""
    digest_run.delay(run_id)
