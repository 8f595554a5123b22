"""The reliability suite: real Celery worker processes, killed and restarted; nothing eager.

Every test here is transactional, so a run it creates is committed and its chunk
messages really go to the broker the test chose (`broker`: a private folder for the
embedded filesystem transport, or Redis under a key prefix of its own). Workers are separate
processes — `python -m celery -A evolab.celery worker` — sharing the test database (the
SQLite test file, or the PostgreSQL test database) and calling an in-process simulator
over HTTP. The test itself plays the rest of a deployment: the scheduler (it calls the
reconciler every half second) and the process supervisor (it restarts a worker whose
main process died, as systemd or compose would). A worker is killed with SIGKILL sent to
its whole process group, main process and pool children at once, as a lost machine
would be.
"""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import quote, urlsplit, urlunsplit

import pytest
import redis
from django.conf import settings as django_settings
from django.db import connection
from django.utils import timezone

from evolab.backends.simulator.faults import LatencyConfig
from evolab.backends.simulator.state import RequestRecord, episode_key
from evolab.backends.simulator.testing import RunningSimulator, running_simulator
from evolab.celery import app as celery_app
from evolab.core.stack_runner import group_alive
from evolab.demo import demo_harness_files, demo_suite_rows
from evolab.evals.actions import suite_create, suite_version_import
from evolab.evals.models import SuiteVersion
from evolab.harnesses.actions import version_create
from evolab.harnesses.models import HarnessVersion
from evolab.projects.models import Backend
from evolab.runs.actions import RunSpec, run_create, runs_reconcile
from evolab.runs.models import BackendSlotLease, CaseResult, ResultStatus, Run, RunChunk
from evolab.runs.planning import plan_items
from tests.conftest import Team, require_service
from tests.factories import BackendFactory

# Worker-side chunk settings (passed as environment variables, read by evolab.settings).
LEASE_S = 2.0
MAX_ATTEMPTS = 3
CHUNK_BUDGET_S = 10.0
# Test-process settings: results per chunk, and when a pending chunk's message counts as lost.
CHUNK_SIZE = 6
REQUEUE_S = 4.0
RECONCILE_EVERY_S = 0.5
# Redis gives a killed worker's messages back after this (plus a one-second sweep).
REDIS_VISIBILITY_S = 4
REDIS_DB = int(os.environ.get("EVOLAB_TEST_REDIS_DB", "14"))
# Hard bounds: a whole test, and one worker start.
TEST_BUDGET_S = 90.0
WORKER_START_S = 30.0


# ---------------------------------------------------------------- broker


@dataclass(frozen=True)
class Broker:
    kind: str
    url: str
    options: dict[str, Any]

    def redis_key(self, name: str) -> str:
        """A key of the Redis transport (a queue, `unacked`) as this broker prefixes it."""
        return f"{self.options.get('global_keyprefix', '')}{name}"


def redis_url() -> str:
    base = urlsplit(os.environ.get("REDIS_URL") or "redis://127.0.0.1:6379/0")
    return urlunsplit(base._replace(path=f"/{REDIS_DB}"))


def _forget_broker_connections() -> None:
    """Celery keeps the connection and producer pools it opened first for the life of
    the process; drop them so the next message is sent with the current broker settings."""
    for pool in (celery_app._pool, celery_app.amqp._producer_pool):
        if pool is not None:
            pool.force_close_all()
    celery_app._pool = None
    celery_app.amqp._producer_pool = None


@contextmanager
def celery_sends_to(broker: Broker) -> Iterator[None]:
    """Point this process's Celery app (what `run_create`'s on-commit send uses) at `broker`."""
    conf = celery_app.conf
    saved = {
        "broker_url": conf.broker_url,
        "broker_transport_options": conf.broker_transport_options,
        "task_always_eager": conf.task_always_eager,
    }
    _forget_broker_connections()
    conf.update(broker_url=broker.url, broker_transport_options=broker.options, task_always_eager=False)
    try:
        yield
    finally:
        _forget_broker_connections()
        conf.update(saved)


@pytest.fixture
def broker(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Broker]:
    """The embedded filesystem transport in a folder of this test's own; parametrize
    indirectly with "redis" for Redis, in a dedicated database and under a key prefix of
    this test's own (other sessions and benchmarks on this Redis never see its messages,
    nor it theirs, and nobody else's keys are flushed)."""
    kind = getattr(request, "param", "filesystem")
    client = None
    if kind == "redis":
        url = redis_url()
        client = redis.Redis.from_url(url, socket_connect_timeout=0.5)
        try:
            available = bool(client.ping())
        except redis.RedisError:
            available = False
        require_service(available, f"Redis is not answering at {url}")
        # A short visibility timeout and a sweep every second, so a killed worker's
        # messages come back within the test (the production default is 300 s).
        chosen = Broker(
            "redis",
            url,
            {
                "global_keyprefix": f"evolab-reliability-{os.getpid()}-{time.monotonic_ns()}:",
                "visibility_timeout": REDIS_VISIBILITY_S,
                "unacked_restore_interval": 1,
                "unacked_restore_throttle": 1,
            },
        )
    else:
        folder = tmp_path / "broker"
        for sub in ("queue", "control", "processed"):
            (folder / sub).mkdir(parents=True)
        chosen = Broker(
            "filesystem",
            "filesystem://",
            {
                "data_folder_in": str(folder / "queue"),
                "data_folder_out": str(folder / "queue"),
                "control_folder": str(folder / "control"),
                "processed_folder": str(folder / "processed"),
                "store_processed": False,
                "polling_interval": 0.1,
            },
        )
    try:
        with celery_sends_to(chosen):
            yield chosen
    finally:
        if client is not None:
            keys = list(client.scan_iter(match=f"{chosen.options['global_keyprefix']}*"))
            if keys:
                client.delete(*keys)
            client.close()


# ---------------------------------------------------------------- workers

_TASK_LOG = re.compile(r"Task runs\.run_chunk\[([0-9a-f-]+)\] (received|succeeded)")


def database_url() -> str:
    """The test database, as the worker processes must be told to open it."""
    params = connection.settings_dict
    if connection.vendor == "sqlite":
        path = Path(params["NAME"])
        assert path.is_absolute() and path.exists(), f"the SQLite test database must be a file, not {path}"
        return f"sqlite:///{path}"
    if connection.vendor == "postgresql":
        auth = quote(params["USER"] or "")
        if params["PASSWORD"]:
            auth += ":" + quote(params["PASSWORD"])
        host = params["HOST"] or "localhost"
        port = params["PORT"] or 5432
        return f"postgres://{auth}@{host}:{port}/{quote(params['NAME'])}"
    pytest.fail(f"no reliability tests for the {connection.vendor} database")


@dataclass
class Worker:
    """One `celery worker` process group. `kill` it; `start` it again like a supervisor."""

    name: str
    args: list[str]
    env: dict[str, str]
    log_dir: Path
    process: subprocess.Popen[bytes] | None = None
    logs: list[Path] = field(default_factory=list)
    # Killed on purpose (the machine is gone): the supervisor does not bring it back.
    gone: bool = False

    @property
    def alive(self) -> bool:
        return self.process is not None and self.process.poll() is None

    @property
    def starts(self) -> int:
        return len(self.logs)

    def start(self) -> None:
        self.gone = False
        log = self.log_dir / f"{self.name}-{self.starts + 1}.log"
        self.logs.append(log)
        with log.open("wb") as out:
            self.process = subprocess.Popen(
                self.args,
                env=self.env,
                cwd=django_settings.BASE_DIR,
                stdout=out,
                stderr=subprocess.STDOUT,
                start_new_session=True,  # its own process group: main process and pool children
            )
        deadline = time.monotonic() + WORKER_START_S
        while b" ready." not in log.read_bytes():
            if not self.alive:
                raise AssertionError(f"worker {self.name} exited while starting:\n{self.log_tail()}")
            if time.monotonic() > deadline:
                self.kill()
                raise AssertionError(f"worker {self.name} not ready after {WORKER_START_S:g}s:\n{self.log_tail()}")
            time.sleep(0.05)

    def kill(self) -> None:
        """SIGKILL the whole group and wait until none of its processes runs any more."""
        self.gone = True
        if self.process is None:
            return
        pgid = self.process.pid
        with suppress(ProcessLookupError):
            os.killpg(pgid, signal.SIGKILL)
        self.process.wait(timeout=10)
        deadline = time.monotonic() + 10
        while group_alive(pgid):
            if time.monotonic() > deadline:
                raise AssertionError(f"worker {self.name}: processes of group {pgid} survived SIGKILL")
            time.sleep(0.02)

    def log_text(self) -> str:
        """Everything it logged, over all its starts."""
        return "".join(log.read_text(errors="replace") for log in self.logs if log.exists())

    def chunk_tasks(self, event: str) -> set[str]:
        """Ids of the chunk task messages this worker logged as "received" or "succeeded"."""
        return {task_id for task_id, seen in _TASK_LOG.findall(self.log_text()) if seen == event}

    def log_tail(self, lines: int = 60) -> str:
        if not self.logs or not self.logs[-1].exists():
            return "(no log)"
        tail = self.logs[-1].read_text(errors="replace").splitlines()[-lines:]
        return "\n".join(f"  {line}" for line in tail)


class Workers:
    """Starts workers against this test's database and broker; supervises and drives them."""

    def __init__(self, broker: Broker, log_dir: Path) -> None:
        self.broker = broker
        self.log_dir = log_dir
        self.started_at = time.monotonic()
        self.all: list[Worker] = []
        self.base_env = {
            **{key: value for key, value in os.environ.items() if key not in {"REDIS_URL", "CELERY_TASK_ALWAYS_EAGER"}},
            "DJANGO_SETTINGS_MODULE": "tests.reliability.worker_settings",
            "DATABASE_URL": database_url(),
            "EVOLAB_VAR_DIR": str(django_settings.VAR_DIR),
            "EVOLAB_TEST_BROKER_URL": broker.url,
            "EVOLAB_TEST_BROKER_OPTIONS": json.dumps(broker.options),
            "EVOLAB_TEST_PARENT_PID": str(os.getpid()),
            "EVOLAB_CHUNK_LEASE_S": str(LEASE_S),
            "EVOLAB_CHUNK_MAX_ATTEMPTS": str(MAX_ATTEMPTS),
            "EVOLAB_CHUNK_BUDGET_S": str(CHUNK_BUDGET_S),
            "PYTHONUNBUFFERED": "1",
        }

    def start(self, *, pool: str = "prefork", concurrency: int = 2, env: dict[str, str] | None = None) -> Worker:
        name = f"worker{len(self.all) + 1}"
        args = [
            sys.executable, "-m", "celery", "-A", "evolab.celery", "worker",
            "--pool", pool, "--concurrency", str(concurrency),
            "--without-gossip", "--without-mingle", "--without-heartbeat",
            "-Q", "celery", "--loglevel", "INFO", "--hostname", f"{name}@%h",
        ]  # fmt: skip
        worker = Worker(name, args, {**self.base_env, **(env or {})}, self.log_dir)
        self.all.append(worker)
        worker.start()
        return worker

    def restart_dead(self) -> None:
        for worker in self.all:
            if worker.process is not None and not worker.alive and not worker.gone:
                worker.kill()  # whatever is left of its group
                worker.start()

    def stop_all(self) -> None:
        for worker in self.all:
            worker.kill()

    def time_left(self) -> float:
        return self.started_at + TEST_BUDGET_S - time.monotonic()

    def drive(self, until: Callable[[], bool], what: str) -> None:
        """Be the scheduler (reconcile every half second) and the process supervisor (start
        again a worker that died by itself) until `until()` holds; fail with the state of
        things once the test's time budget is spent."""
        next_reconcile = 0.0
        while not until():
            if self.time_left() <= 0:
                raise AssertionError(f"gave up after {TEST_BUDGET_S:g}s waiting for {what}\n{state_report()}")
            self.restart_dead()
            if time.monotonic() >= next_reconcile:
                runs_reconcile()
                next_reconcile = time.monotonic() + RECONCILE_EVERY_S
            time.sleep(0.05)

    def log_tails(self) -> str:
        return "\n".join(f"--- {worker.name} (start {worker.starts}) ---\n{worker.log_tail()}" for worker in self.all)


_WORKERS = pytest.StashKey[Workers]()


@pytest.fixture
def workers(
    request: pytest.FixtureRequest, transactional_db: None, broker: Broker, tmp_path: Path
) -> Iterator[Workers]:
    """Worker processes for this test; every one is killed before the database is flushed."""
    manager = Workers(broker, tmp_path)
    request.node.stash[_WORKERS] = manager
    try:
        yield manager
    finally:
        manager.stop_all()


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Any:
    report = yield
    manager = item.stash.get(_WORKERS, None)
    if manager is not None and report.failed:
        report.sections.append(("worker logs (tail)", manager.log_tails()))
    return report


def state_report() -> str:
    lines = [f"now {timezone.now()}"]
    for run in Run.objects.order_by("pk"):
        counts = Counter(CaseResult.objects.filter(run=run).values_list("status", flat=True))
        lines.append(f"run {run.pk}: {run.status} {run.stop_reason!r} results {dict(counts)}")
        for chunk in RunChunk.objects.filter(run=run).order_by("index"):
            lines.append(
                f"  chunk {chunk.index}: {chunk.status} attempts={chunk.attempts} "
                f"lease_expires_at={chunk.lease_expires_at} last_error={chunk.last_error[:120]!r}"
            )
    return "\n".join(lines)


# ---------------------------------------------------------------- lab


@pytest.fixture(autouse=True)
def _chunk_settings(settings: Any) -> None:
    settings.EVOLAB_RUN_CHUNK_SIZE = CHUNK_SIZE
    settings.EVOLAB_CHUNK_REQUEUE_S = REQUEUE_S
    settings.EVOLAB_CHUNK_LEASE_S = LEASE_S
    settings.EVOLAB_CHUNK_MAX_ATTEMPTS = MAX_ATTEMPTS


@pytest.fixture
def simulator() -> Iterator[RunningSimulator]:
    """A simulator of this test's own, slow enough (median 60 ms a request) that a run
    takes a few seconds and a worker can be killed in the middle of it."""
    with running_simulator(profile="minimax-m2.7", latency=LatencyConfig(60, 150), seed=3) as sim:
        yield sim


@dataclass
class Lab:
    team: Team
    backend: Backend
    harness: HarnessVersion
    suite_version: SuiteVersion
    simulator: RunningSimulator

    def create_run(self, **changes: Any) -> Run:
        values: dict[str, Any] = {
            "harness_version": self.harness,
            "suite_version": self.suite_version,
            "splits": ["dev"],
            "backend": self.backend,
            "samples": 1,
            "max_concurrency": 4,
        }
        values.update(changes)
        return run_create(actor=self.team.owner, project=self.team.project, spec=RunSpec(**values))


@pytest.fixture
def lab(team: Team, simulator: RunningSimulator) -> Lab:
    """24 dev cases (four of each demo topic) and a simulated backend with 6 slots."""
    backend = BackendFactory(
        project=team.project, base_url=simulator.base_url, max_concurrency=6, price_in_per_m=0.3, price_out_per_m=1.2
    )
    harness = version_create(actor=team.owner, project=team.project, files=demo_harness_files(), message="demo")
    suite = suite_create(actor=team.owner, project=team.project, slug="demo", name="Demo")
    counts: Counter[str] = Counter()
    rows = []
    for row in demo_suite_rows():
        topic = row["tags"][0]  # type: ignore[index]
        if counts[topic] < 4:
            counts[topic] += 1
            rows.append({**row, "split": "dev"})
    source = "\n".join(json.dumps(row) for row in rows).encode()
    version = suite_version_import(actor=team.owner, suite=suite, source=source, fmt="jsonl")
    return Lab(team=team, backend=backend, harness=harness, suite_version=version, simulator=simulator)


# ---------------------------------------------------------------- accounting


def episode_keys(run: Run) -> dict[int, str]:
    """Result id → the simulator's key for that result's episode (see `episode_key`).

    Call it before any worker starts: it plans the run's pending results exactly as a
    worker will, and a request of that episode carries the same system prompt, user
    text and seed."""
    run = Run.objects.select_related("harness_version", "suite_version", "backend").get(pk=run.pk)
    keys = {}
    for chunk_id in run.chunks.values_list("pk", flat=True):
        for item in plan_items(run, chunk_id):
            assert item.messages is not None and item.config is not None, item.error
            keys[item.result_id] = episode_key([dict(m) for m in item.messages], item.config.sampling.seed)
    assert len(set(keys.values())) == len(keys), "two results share an episode key"
    return keys


def requests_by_result(keys: dict[int, str], records: list[RequestRecord]) -> Counter[int]:
    """How many chat requests each result's episode made; fails on a request of no result."""
    result_of = {key: result_id for result_id, key in keys.items()}
    strangers = [record for record in records if record.episode not in result_of]
    assert not strangers, f"{len(strangers)} requests belong to no result of the run"
    return Counter(result_of[record.episode] for record in records)


def finished_count(run: Run) -> int:
    return CaseResult.objects.filter(run=run).exclude(status=ResultStatus.PENDING).count()


def run_status(run: Run) -> str:
    return Run.objects.values_list("status", flat=True).get(pk=run.pk)


def live_slot_leases() -> int:
    """Backend slots some chunk still holds (a dead worker's lapse by themselves)."""
    return BackendSlotLease.objects.filter(expires_at__gt=timezone.now()).count()
