"""PostgreSQL restarts in the middle of a run: the run still finishes, every (case,
sample) scored exactly once, and no model request repeated except for results a worker
was holding at that moment (whose answers it could not write).

This restarts the PostgreSQL server the test database lives on (`pg_ctlcluster … restart
-m fast`: every connection is cut, as in a failover), so it runs only in the PostgreSQL
pass, on a local cluster, as root. The restart takes a second or two; other sessions on
the same server see their connections dropped once.

Workers survive it because Celery's Django fixup closes unusable connections before and
after every task (CONN_MAX_AGE is 0); a chunk task whose connection dies mid-way fails,
its lease lapses and the reconciler sends it again.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import time

import pytest
from django.db import connection

from evolab.runs.models import CaseResult, ChunkStatus, ResultStatus, RunStatus
from tests.conftest import require_service
from tests.reliability.conftest import (
    Lab,
    Workers,
    episode_keys,
    finished_count,
    requests_by_result,
    run_status,
)

# exclusive: the restart would cut the connections of any test running beside it.
pytestmark = [
    pytest.mark.reliability,
    pytest.mark.exclusive,
    pytest.mark.service,
    pytest.mark.django_db(transaction=True),
]


def _local_cluster() -> tuple[str, str]:
    """(version, name) of the local cluster serving the test database."""
    port = str(connection.settings_dict["PORT"] or 5432)
    host = connection.settings_dict["HOST"] or "localhost"
    require_service(host in {"127.0.0.1", "localhost", "::1"}, f"PostgreSQL at {host} is not local")
    require_service(shutil.which("pg_lsclusters") is not None, "no pg_lsclusters (postgresql-common)")
    require_service(os.geteuid() == 0, "restarting PostgreSQL needs root")
    listing = subprocess.run(["pg_lsclusters", "--no-header"], capture_output=True, text=True, check=True).stdout
    for line in listing.splitlines():
        version, name, cluster_port, status, *_ = line.split()
        if cluster_port == port and status == "online":
            return version, name
    require_service(False, f"no online cluster of pg_lsclusters listens on port {port}")
    raise AssertionError("unreachable")


def _held(run_id: int) -> set[int]:
    return set(
        CaseResult.objects.filter(
            run_id=run_id, chunk__status=ChunkStatus.LEASED, status=ResultStatus.PENDING
        ).values_list("pk", flat=True)
    )


def test_a_run_survives_a_postgresql_restart(lab: Lab, workers: Workers) -> None:
    if connection.vendor != "postgresql":
        pytest.skip("runs in the PostgreSQL pass (DATABASE_URL=postgres://…)")
    version, name = _local_cluster()
    run = lab.create_run(samples=2)
    assert run.total_results == 48
    keys = episode_keys(run)
    workers.start(concurrency=2)
    workers.drive(lambda: finished_count(run) >= 12 and len(_held(run.pk)) >= 2, "a quarter done, some held")

    held = _held(run.pk)
    connection.close()
    started = time.monotonic()
    subprocess.run(
        ["pg_ctlcluster", "--skip-systemctl-redirect", version, name, "restart", "-m", "fast"],
        check=True,
        capture_output=True,
        timeout=60,
    )
    outage_s = time.monotonic() - started
    assert outage_s < 30
    # A task may have claimed a chunk between that read and the cut (it adopts the next
    # one before its queue runs dry). No lease can be released or renewed while the server
    # is down, so what was held at the cut is still leased now: read it again.
    held |= _held(run.pk)
    # Results may have been finished between reading `held` and the restart: those are fine.
    workers.drive(lambda: run_status(run) == RunStatus.COMPLETED, "the run to complete after the restart")

    results = list(CaseResult.objects.filter(run=run))
    assert len(results) == 48
    assert len({(r.case_id, r.sample) for r in results}) == 48
    assert {r.status for r in results} == {ResultStatus.DONE}
    # Billing: a result's cost and tokens are its recorded attempts; a request is repeated
    # only for a result that was held when the connections were cut, at most one
    # episode's worth.
    made = requests_by_result(keys, lab.simulator.state.requests())
    for r in results:
        if made[r.pk] != len(r.attempts):
            turns = sum(1 for m in r.transcript if m.get("role") == "assistant")
            assert r.pk in held and len(r.attempts) <= made[r.pk] <= len(r.attempts) + turns, r.pk
    print(f"PostgreSQL restart took {outage_s:.1f} s; {sum(made.values())} requests for 48 results")
