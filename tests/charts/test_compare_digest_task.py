"""A completed run is digested by the worker (`charts.digest_run`, enqueued when the run
completes), so that the compare view reads no samples, even for a pair of runs never
compared before."""

from __future__ import annotations

from typing import Any

from django.core.cache import cache
from django.db import connection
from django.test.utils import CaptureQueriesContext

from evolab.celery import app as celery_app
from evolab.charts.compare_stats import _digest_key, store_run_digests
from evolab.charts.tasks import digest_run
from evolab.runs.actions import run_finalize_if_complete
from evolab.runs.models import Run, RunStatus
from tests.charts.test_compare import runs as runs  # the fixture, re-exported here
from tests.conftest import Team

URL = "/p/support-agent/compare/?baseline=1&runs=2,3"


class _Key:
    """A run as the digest keys see it."""

    def __init__(self, run: Run) -> None:
        run.refresh_from_db()
        assert run.finished_at is not None
        self.id = run.pk
        self.suite_version_id = run.suite_version_id
        self.finished_at = run.finished_at.isoformat()


def _reads_samples(captured: CaptureQueriesContext) -> bool:
    return any("runs_caseresult" in query["sql"] for query in captured.captured_queries)


def test_the_task_caches_both_digests_and_the_view_then_reads_no_sample(team: Team, runs: list[Run]) -> None:
    client = team.client_for("maintainer")
    cold = client.get(URL + "&format=json").json()  # computed in the view, from the samples
    cache.clear()

    for run in runs[:3]:
        assert digest_run(run.pk) is True
        for sees_holdout in (False, True):
            assert cache.get(_digest_key(_Key(run), sees_holdout)) is not None

    for persona in ("maintainer", "viewer"):  # with and without the held-out case
        with CaptureQueriesContext(connection) as captured:
            response = team.client_for(persona).get(URL)
        assert response.status_code == 200
        assert not _reads_samples(captured), [q["sql"] for q in captured.captured_queries]
    # No pair was cached: the view compared the runs from the digests, to the same numbers.
    assert client.get(URL + "&format=json").json() == cold


def test_the_task_is_idempotent_and_skips_runs_not_completed(team: Team, runs: list[Run]) -> None:
    assert store_run_digests(runs[0].pk) is True
    with CaptureQueriesContext(connection) as captured:
        assert store_run_digests(runs[0].pk) is True
    assert len(captured) == 1  # the run's row; nothing recomputed

    Run.objects.filter(pk=runs[1].pk).update(status=RunStatus.RUNNING, finished_at=None)
    assert store_run_digests(runs[1].pk) is False
    assert store_run_digests(10**9) is False


def test_a_run_that_completes_is_digested_after_commit(
    team: Team, runs: list[Run], django_capture_on_commit_callbacks: Any
) -> None:
    # Run 2 still running, every chunk done: finalizing completes it.
    Run.objects.filter(pk=runs[1].pk).update(status=RunStatus.RUNNING, finished_at=None)
    celery_app.conf.task_always_eager = True
    try:
        with django_capture_on_commit_callbacks(execute=True):
            run_finalize_if_complete(runs[1].pk)
    finally:
        celery_app.conf.task_always_eager = False

    run = _Key(runs[1])
    assert Run.objects.get(pk=run.id).status == RunStatus.COMPLETED
    assert cache.get(_digest_key(run, True)) is not None
    assert cache.get(_digest_key(run, False)) is not None
