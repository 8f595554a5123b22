"""Redis (broker and channel layer) crashes in the middle of a run and comes back empty:
the run still finishes, every (case, sample) scored exactly once, no model request twice.

The Redis here is a server of this test's own (`redis-server` on a free port, no
persistence, like the machine's), so crashing it disturbs nobody else. It is killed
with SIGKILL and started again: every queued and unacknowledged chunk message is gone,
and only the chunk leases in the database, read by the reconciler, bring the work back.
The workers also use it as their channel layer, so live-update wake-ups fail while it is
down; that must not cost a result either.
"""

from __future__ import annotations

import shutil
import signal
import socket
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest
import redis

from evolab.runs.models import CaseResult, ChunkStatus, ResultStatus, RunStatus
from tests.conftest import require_service
from tests.reliability.conftest import (
    REDIS_VISIBILITY_S,
    Broker,
    Lab,
    Workers,
    celery_sends_to,
    episode_keys,
    finished_count,
    requests_by_result,
    run_status,
)

pytestmark = [pytest.mark.reliability, pytest.mark.service, pytest.mark.django_db(transaction=True)]

START_S = 10.0


@dataclass
class PrivateRedis:
    port: int
    folder: Path
    process: subprocess.Popen[bytes] | None = None
    starts: int = 0
    logs: list[Path] = field(default_factory=list)

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> None:
        self.starts += 1
        log = self.folder / f"redis-{self.starts}.log"
        self.logs.append(log)
        args = ["redis-server", "--bind", "127.0.0.1", "--port", str(self.port), "--save", "", "--appendonly", "no"]
        with log.open("wb") as out:
            self.process = subprocess.Popen(
                [*args, "--dir", str(self.folder)], stdout=out, stderr=subprocess.STDOUT, start_new_session=True
            )
        client = redis.Redis(port=self.port, socket_connect_timeout=0.2)
        deadline = time.monotonic() + START_S
        while True:
            try:
                if client.ping():
                    break
            except redis.RedisError:
                pass
            if self.process.poll() is not None or time.monotonic() > deadline:
                raise AssertionError(f"redis-server did not start:\n{log.read_text()[-2000:]}")
            time.sleep(0.02)
        client.close()

    def crash(self) -> None:
        assert self.process is not None
        self.process.send_signal(signal.SIGKILL)
        self.process.wait(timeout=10)

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.crash()


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@pytest.fixture
def private_redis(tmp_path: Path) -> Iterator[PrivateRedis]:
    require_service(shutil.which("redis-server") is not None, "no redis-server binary (apt-get install redis-server)")
    server = PrivateRedis(_free_port(), tmp_path)
    server.start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
def broker(private_redis: PrivateRedis) -> Iterator[Broker]:
    """Overrides the suite's broker: Redis, but the private one."""
    chosen = Broker(
        "redis",
        private_redis.url,
        {"visibility_timeout": REDIS_VISIBILITY_S, "unacked_restore_interval": 1, "unacked_restore_throttle": 1},
    )
    with celery_sends_to(chosen):
        yield chosen


def test_a_run_survives_redis_crashing_and_coming_back_empty(
    lab: Lab, broker: Broker, workers: Workers, private_redis: PrivateRedis
) -> None:
    run = lab.create_run(samples=2)
    assert run.total_results == 48 and run.chunks.count() == 8
    keys = episode_keys(run)
    workers.start(concurrency=2, env={"REDIS_URL": private_redis.url})  # broker and channel layer
    workers.drive(lambda: finished_count(run) >= 12, "a quarter of the results")

    private_redis.crash()
    done_at_crash = finished_count(run)
    time.sleep(1.0)  # down for a second: the workers' connections fail meanwhile
    private_redis.start()
    client = redis.Redis.from_url(private_redis.url)
    assert client.dbsize() == 0  # every queued and unacknowledged message is gone
    client.close()
    assert done_at_crash < run.total_results

    workers.drive(lambda: run_status(run) == RunStatus.COMPLETED, "the run to complete after Redis came back")
    results = list(CaseResult.objects.filter(run=run))
    assert len(results) == 48
    assert len({(r.case_id, r.sample) for r in results}) == 48
    assert {r.status for r in results} == {ResultStatus.DONE}
    assert set(run.chunks.values_list("status", flat=True)) == {ChunkStatus.DONE}
    # No result was asked of the model twice: the worker processes lived on, so whatever
    # they were doing when Redis went away they finished and recorded.
    made = requests_by_result(keys, lab.simulator.state.requests())
    assert all(made[r.pk] == len(r.attempts) for r in results)
    assert lab.simulator.stats()["chat_requests"] == sum(len(r.attempts) for r in results)
