"""`make bench`: how close a real run comes to the floor set by the `openai` client.

A run of N single-turn cases against the simulator (a fixed latency, K requests in
flight) ideally takes N * latency / K. Next to it, a bare loop of the official
AsyncOpenAI client (same simulator, same requests, K in flight, no evolab code) is the
floor for any tool built on that client on this machine. A second bare loop makes the
same SDK calls evolab makes (its aiohttp transport, `client.post` with a plain JSON
body; see backends/client.py): the floor for evolab's own way of using the client, so
the table shows both what a user gets against the usual client code and what evolab
itself adds. For each configuration — the
embedded default (SQLite + filesystem broker) and PostgreSQL + Redis — this module
starts a fresh database and real Celery worker processes, warms them up with a small
run, then times `run_create` → run no longer active, and reads the CPU time of every
evolab process from /proc (workers and their pool children, the driver's `run_create`)
and, separately, of the PostgreSQL and Redis servers. The simulator is a subprocess of
its own and is never counted as evolab's.

Three roles, three processes:
- the orchestrator (`manage.py bench`): simulator, bare loop, one driver per
  configuration and repetition, the table and the JSON under `var/bench/`;
- `python -m evolab.runs.benchmark bare …`: the bare loop. This module imports nothing
  from Django or evolab at the top so that loop really runs without evolab code;
- `python -m evolab.runs.benchmark drive …`: one configuration, with Django set up
  from the environment the orchestrator gave it (that is why the driver's Django
  imports are inside its functions).
"""

from __future__ import annotations

import argparse
import asyncio
import fcntl
import json
import os
import platform
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections import Counter
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Protocol, TextIO

import httpx2
import openai

CONFIGS = ("embedded", "server")
TARGET_X_BARE = 1.15
TARGET_CPU_MS = 3.0
BENCH_DATABASE = "evolab_bench"
SIMULATOR_MODEL = "generic-chat-sim"
SYSTEM_PROMPT = "You are a careful calculator. Reply with the number only."
# One turn, no tools, no template work beyond the system file: the request is the unit.
HARNESS_YAML = "sampling:\n  temperature: 0\n  max_tokens: 16\n  seed: 1\nagent:\n  max_turns: 1\n"
REQUEST_PARAMS: dict[str, Any] = {"temperature": 0, "max_tokens": 16, "seed": 1}
CLOCK_TICKS = os.sysconf("SC_CLK_TCK")
# Run status and database backends are sampled this often: the wall time is known to
# ±POLL_S, and the driver's polling stays a small load on a two-core machine.
POLL_S = 0.05


@dataclass(frozen=True)
class BenchOptions:
    cases: int = 2000
    latency_ms: float = 100.0
    in_flight: int = 50
    chunk_size: int = 100
    # Prefork pool processes of the one Celery worker; two for the two cores this was
    # tuned on. A run is CPU-bound in the worker (one process is one core), and a second
    # process also claims and plans the next chunk while the first drains its tail; a
    # third only adds contention with the simulator and the database.
    workers: int = 2
    repeats: int = 2
    only: str | None = None
    warmup_cases: int = 0  # 0: one chunk per worker process
    pg_url: str = "postgres://postgres@127.0.0.1:5432"
    redis_url: str = "redis://127.0.0.1:6379/13"
    out_dir: Path = Path("var/bench")
    # The scale-out part (evolab.runs.benchmark_scaleout): a run of this many cases on one
    # worker process and on two, PostgreSQL + Redis; 0 skips it.
    scale_out_cases: int = 1000

    @property
    def ideal_s(self) -> float:
        return self.cases * self.latency_ms / 1000.0 / self.in_flight

    @property
    def warmup(self) -> int:
        return self.warmup_cases or self.chunk_size * self.workers


# ---------------------------------------------------------------- the synthetic suite


def case_row(index: int, split: str) -> dict[str, Any]:
    """A distinct single-turn arithmetic case, graded numerically."""
    a = 1000 + (index * 7919) % 90000
    b = 100 + (index * 104729) % 9000
    return {
        "key": f"{split}-{index:05d}",
        "input": f"What is {a} + {b}? Reply with the number only.",
        "target": str(a + b),
        "grader": {"type": "numeric", "tolerance": 0},
        "split": split,
        "tags": ["bench"],
    }


def request_messages(index: int, split: str = "dev") -> list[dict[str, str]]:
    """The messages evolab renders for `case_row(index, split)` under the bench harness."""
    return [{"role": "system", "content": SYSTEM_PROMPT}, {"role": "user", "content": case_row(index, split)["input"]}]


# ------------------------------------------------------------------ CPU from /proc


def _proc_table() -> dict[int, tuple[int, str, int]]:
    """pid → (parent pid, command name, utime+stime+cutime+cstime in ticks) of every process."""
    table = {}
    for entry in os.scandir("/proc"):
        if not entry.name.isdigit():
            continue
        try:
            with open(f"/proc/{entry.name}/stat") as handle:
                raw = handle.read()
        except OSError:
            continue  # the process ended while we looked
        name = raw[raw.index("(") + 1 : raw.rindex(")")]
        fields = raw[raw.rindex(")") + 2 :].split()
        ticks = sum(int(value) for value in fields[11:15])
        table[int(entry.name)] = (int(fields[1]), name, ticks)
    return table


def tree_cpu_s(root: int, table: dict[int, tuple[int, str, int]] | None = None) -> float:
    """CPU seconds of a process and all its descendants, alive or reaped.

    A child that exits moves its time into its parent's cutime/cstime, so the sum stays
    continuous while pool processes come and go.
    """
    table = table if table is not None else _proc_table()
    children: dict[int, list[int]] = {}
    for pid, (ppid, _, _) in table.items():
        children.setdefault(ppid, []).append(pid)
    total, stack = 0, [root]
    while stack:
        pid = stack.pop()
        if pid in table:
            total += table[pid][2]
            stack.extend(children.get(pid, []))
    return total / CLOCK_TICKS


def named_cpu_s(name: str, table: dict[int, tuple[int, str, int]] | None = None) -> float | None:
    """CPU seconds of every process called `name` (e.g. all PostgreSQL processes); None if none runs."""
    table = table if table is not None else _proc_table()
    # The top process of each tree (the postmaster), summed with its descendants (backends).
    roots = [pid for pid, (ppid, comm, _) in table.items() if comm == name and table.get(ppid, (0, "", 0))[1] != name]
    if not roots:
        return None
    return sum(tree_cpu_s(pid, table) for pid in roots)


# ------------------------------------------------------------------------ the bare loop


# The two bare loops: the client as its documentation shows it, and as evolab calls it.
BARE_LOOPS = {"bare": "sdk", "bare-calls": "evolab-calls"}


async def bare_loop(base_url: str, cases: int, in_flight: int, calls: str = "sdk") -> dict[str, Any]:
    """The floor: the official client alone, `in_flight` requests at a time. `calls`:
    "sdk" is `chat.completions.create` on the default transport; "evolab-calls" is
    `post` with a plain JSON body on the aiohttp transport."""
    started, cpu = time.perf_counter(), time.process_time()
    aiohttp = calls == "evolab-calls"
    client = openai.AsyncOpenAI(
        base_url=base_url, api_key="x", max_retries=0, http_client=openai.DefaultAioHttpClient() if aiohttp else None
    )
    limiter = asyncio.Semaphore(in_flight)

    async def one(index: int) -> str | None:
        async with limiter:
            if aiohttp:
                body = {"model": SIMULATOR_MODEL, "messages": request_messages(index), **REQUEST_PARAMS}
                response = await client.post("/chat/completions", body=body, cast_to=httpx2.Response)
                return str(json.loads(response.content)["choices"][0]["message"]["content"])
            completion = await client.chat.completions.create(
                model=SIMULATOR_MODEL,
                messages=request_messages(index),  # type: ignore[arg-type]
                **REQUEST_PARAMS,
            )
            return completion.choices[0].message.content

    answers = await asyncio.gather(*(one(index) for index in range(cases)))
    await client.close()
    return {
        "wall_s": time.perf_counter() - started,
        "cpu_s": time.process_time() - cpu,
        "answers": sum(1 for answer in answers if answer),
    }


# ------------------------------------------------------------------------ the simulator


@dataclass
class Simulator:
    process: subprocess.Popen[bytes]
    port: int

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}/v1"

    def chat_requests(self) -> int:
        return simulator_requests(f"http://127.0.0.1:{self.port}")


def simulator_requests(url: str) -> int:
    with urllib.request.urlopen(f"{url}/evolab/stats", timeout=5) as response:
        return int(json.load(response)["chat_requests"])


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@contextmanager
def running_simulator(latency_ms: float, log: TextIO) -> Iterator[Simulator]:
    """The simulator as its own process (generic profile, fixed latency, no faults, no rpm limit)."""
    port = _free_port()
    command = [sys.executable, "-m", "evolab.backends.simulator", "--port", str(port), "--profile", "generic",
               "--latency", f"{latency_ms:g}", "--log-level", "warning"]  # fmt: skip
    process = subprocess.Popen(command, stdout=log, stderr=log, start_new_session=True)
    simulator = Simulator(process, port)
    try:
        deadline = time.monotonic() + 20
        while True:
            try:
                simulator.chat_requests()
                break
            except OSError:
                if process.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError("the simulator did not start") from None
                time.sleep(0.05)
        yield simulator
    finally:
        _stop(process)


def _stop(process: subprocess.Popen[bytes], timeout: float = 15, how: signal.Signals = signal.SIGTERM) -> None:
    """Signal the process group we started, then SIGKILL it if it lingers."""
    if process.poll() is None:
        os.killpg(process.pid, how)
        try:
            process.wait(timeout)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()


# ------------------------------------------------------------------ the orchestrator


class Output(Protocol):
    """Where the table goes: a text stream, or a management command's stdout."""

    def write(self, text: str) -> Any: ...


class WorkerLost(RuntimeError):
    """A bench worker process ended or lost pool processes without the benchmark asking."""


WORKER_LOST_EXIT = 75


@dataclass
class Row:
    config: str
    repeat: int
    wall_s: float
    cpu_ms_per_case: float | None = None
    cpu_ms_per_case_with_db: float | None = None
    redis_ms_per_case: float | None = None
    x_bare: float | None = None
    x_bare_calls: float | None = None
    x_ideal: float | None = None
    detail: dict[str, Any] = field(default_factory=dict)


def server_unavailable(options: BenchOptions) -> str | None:
    """Why the PostgreSQL + Redis configuration cannot run here, or None."""
    import psycopg
    import redis

    try:
        psycopg.connect(f"{options.pg_url}/postgres", connect_timeout=3, autocommit=True).close()
    except psycopg.Error as error:
        return f"PostgreSQL is not answering at {options.pg_url} ({str(error).strip()})"
    try:
        redis.Redis.from_url(options.redis_url, socket_connect_timeout=3).ping()
    except redis.RedisError as error:
        return f"Redis is not answering at {options.redis_url} ({error})"
    return None


@contextmanager
def server_databases(options: BenchOptions) -> Iterator[dict[str, str]]:
    """A fresh `evolab_bench` database and an empty Redis db for one driver; both cleaned after."""
    import psycopg
    import redis

    broker = redis.Redis.from_url(options.redis_url)

    def reset() -> None:
        with psycopg.connect(f"{options.pg_url}/postgres", autocommit=True) as connection:
            connection.execute(f"DROP DATABASE IF EXISTS {BENCH_DATABASE} WITH (FORCE)")
        broker.flushdb()

    reset()
    with psycopg.connect(f"{options.pg_url}/postgres", autocommit=True) as connection:
        connection.execute(f"CREATE DATABASE {BENCH_DATABASE}")
    try:
        yield {"DATABASE_URL": f"{options.pg_url}/{BENCH_DATABASE}", "REDIS_URL": options.redis_url}
    finally:
        reset()


@contextmanager
def exclusive(out: Output) -> Iterator[None]:
    """One benchmark at a time on this machine: two would share the bench database and
    Redis db (and each would time the other's load)."""
    with open(Path(tempfile.gettempdir()) / "evolab-bench.lock", "w") as lock:
        try:
            fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            out.write("Another benchmark is running on this machine; waiting for it to finish.\n")
            fcntl.flock(lock, fcntl.LOCK_EX)
        yield


def run_benchmark(options: BenchOptions, out: Output = sys.stdout) -> dict[str, Any]:
    """Run everything, print the table, write `<out_dir>/<timestamp>.json` and `latest.json`."""
    with exclusive(out):
        return _run_benchmark(options, out)


def _run_benchmark(options: BenchOptions, out: Output) -> dict[str, Any]:
    configs = [options.only] if options.only else list(CONFIGS)
    skipped: dict[str, str] = {}
    if "server" in configs:
        reason = server_unavailable(options)
        if reason:
            skipped["server"] = reason
            configs.remove("server")
            out.write(f"SKIPPED: the PostgreSQL + Redis configuration: {reason}\n")
    options.out_dir.mkdir(parents=True, exist_ok=True)
    logs = Path(tempfile.mkdtemp(prefix="evolab-bench-logs-"))
    out.write(
        f"{options.cases} cases, fixed {options.latency_ms:g} ms latency, {options.in_flight} in flight: "
        f"ideal {options.ideal_s:.2f} s; chunk size {options.chunk_size}, {options.workers} worker process(es)\n"
    )
    rows: list[Row] = []
    with open(logs / "simulator.log", "w") as sim_log, running_simulator(options.latency_ms, sim_log) as simulator:
        for repeat in range(1, options.repeats + 1):
            for name in BARE_LOOPS:
                rows.append(_run_bare(options, simulator, repeat, name))
                out.write(f"  {name} loop #{repeat}: {rows[-1].wall_s:.2f} s\n")
            for config in configs:
                try:
                    row = _run_config(options, simulator, config, repeat, logs)
                except WorkerLost as lost:
                    # Other sessions on a shared machine may stop Celery workers by name;
                    # that says nothing about evolab, so the configuration runs once more.
                    out.write(f"  {config} #{repeat}: {lost}; running it again\n")
                    row = _run_config(options, simulator, config, repeat, logs)
                    row.detail["rerun_because"] = str(lost)
                rows.append(row)
                out.write(f"  {config} #{repeat}: {row.wall_s:.2f} s\n")
    scale_out: dict[str, Any] | None = None
    if options.scale_out_cases and options.only != "embedded":
        from evolab.runs.benchmark_scaleout import ScaleOutOptions, scale_out_benchmark

        scale_out = scale_out_benchmark(
            ScaleOutOptions(cases=options.scale_out_cases, pg_url=options.pg_url, redis_url=options.redis_url),
            logs,
            out,
        )
    bare_wall = statistics.median(row.wall_s for row in rows if row.config == "bare")
    calls_wall = statistics.median(row.wall_s for row in rows if row.config == "bare-calls")
    for row in rows:
        row.x_bare = row.wall_s / bare_wall
        row.x_bare_calls = row.wall_s / calls_wall
        row.x_ideal = row.wall_s / options.ideal_s
    report = {
        "when": datetime.now(UTC).isoformat(timespec="seconds"),
        "options": {**asdict(options), "out_dir": str(options.out_dir), "ideal_s": options.ideal_s},
        "machine": _machine(),
        "bare_wall_median_s": bare_wall,
        "bare_calls_wall_median_s": calls_wall,
        "skipped": skipped,
        "rows": [asdict(row) for row in rows],
        "target": {"x_bare": TARGET_X_BARE, "cpu_ms_per_case": TARGET_CPU_MS},
        "scale_out": scale_out,
    }
    out.write(format_table(rows))
    out.write(verdict(rows, configs))
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    for name in (f"{stamp}.json", "latest.json"):
        (options.out_dir / name).write_text(json.dumps(report, indent=2) + "\n")
    out.write(f"written: {options.out_dir / (stamp + '.json')} and latest.json\n")
    shutil.rmtree(logs, ignore_errors=True)  # kept when something failed: the error names them
    return report


def _machine() -> dict[str, Any]:
    try:
        commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True, check=False)
        dirty = subprocess.run(["git", "status", "--porcelain"], capture_output=True, text=True, check=False)
        revision = commit.stdout.strip() + ("+changes" if dirty.stdout.strip() else "")
    except OSError:
        revision = "unknown"
    return {
        "cpus": os.cpu_count(),
        "python": platform.python_version(),
        "openai": openai.__version__,
        "revision": revision,
    }


def _run_bare(options: BenchOptions, simulator: Simulator, repeat: int, name: str) -> Row:
    before_requests = simulator.chat_requests()
    before_sim = tree_cpu_s(simulator.process.pid)
    command = [sys.executable, "-m", "evolab.runs.benchmark", "bare", "--base-url", simulator.base_url,
               "--cases", str(options.cases), "--in-flight", str(options.in_flight),
               "--calls", BARE_LOOPS[name]]  # fmt: skip
    done = subprocess.run(command, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise RuntimeError(f"the bare loop failed:\n{done.stderr[-3000:]}")
    result = json.loads(done.stdout.strip().splitlines()[-1])
    requests = simulator.chat_requests() - before_requests
    return Row(
        config=name,
        repeat=repeat,
        wall_s=result["wall_s"],
        cpu_ms_per_case=result["cpu_s"] * 1000 / options.cases,
        detail={
            **result,
            "backend_requests": requests,
            "simulator_cpu_ms_per_case": (tree_cpu_s(simulator.process.pid) - before_sim) * 1000 / options.cases,
        },
    )


def _run_config(options: BenchOptions, simulator: Simulator, config: str, repeat: int, logs: Path) -> Row:
    var_dir = Path(tempfile.mkdtemp(prefix=f"evolab-bench-{config}-"))
    result_file = var_dir / "result.json"
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "evolab.settings",
        "EVOLAB_VAR_DIR": str(var_dir),
        "EVOLAB_RUN_CHUNK_SIZE": str(options.chunk_size),
        "LOG_LEVEL": os.environ.get("LOG_LEVEL", "WARNING"),
    }
    for name in ("DATABASE_URL", "REDIS_URL", "CELERY_TASK_ALWAYS_EAGER"):
        env.pop(name, None)
    command = [sys.executable, "-m", "evolab.runs.benchmark", "drive", "--config", config,
               "--base-url", simulator.base_url, "--simulator-pid", str(simulator.process.pid),
               "--cases", str(options.cases), "--warmup", str(options.warmup),
               "--in-flight", str(options.in_flight), "--workers", str(options.workers),
               "--result-file", str(result_file)]  # fmt: skip
    log_path = logs / f"{config}-{repeat}.log"
    try:
        with _config_environment(options, config) as extra, open(log_path, "w") as log:
            done = subprocess.run(command, env={**env, **extra}, stdout=log, stderr=log, check=False)
        if done.returncode == WORKER_LOST_EXIT:
            raise WorkerLost(f"its Celery worker was stopped from outside (logs in {logs})")
        if done.returncode != 0 or not result_file.exists():
            tail = log_path.read_text()[-4000:]
            raise RuntimeError(f"the {config} driver failed (logs in {logs}); its log ends with:\n{tail}")
        result = json.loads(result_file.read_text())
    finally:
        shutil.rmtree(var_dir, ignore_errors=True)
    cpu = result["cpu_s"]
    evolab_s = cpu["workers"] + cpu["driver_run_create"]
    with_db = evolab_s + (cpu["postgres_bench_backends"] or 0.0)
    return Row(
        config=config,
        repeat=repeat,
        wall_s=result["wall_s"],
        cpu_ms_per_case=evolab_s * 1000 / options.cases,
        cpu_ms_per_case_with_db=with_db * 1000 / options.cases,
        redis_ms_per_case=None if config != "server" or cpu["redis"] is None else cpu["redis"] * 1000 / options.cases,
        detail=result,
    )


@contextmanager
def _config_environment(options: BenchOptions, config: str) -> Iterator[dict[str, str]]:
    if config == "server":
        with server_databases(options) as extra:
            yield extra
    else:
        yield {}


def _fmt(value: float | None, spec: str) -> str:
    return "—" if value is None else format(value, spec)


def format_table(rows: Sequence[Row]) -> str:
    header = ("config", "wall s", "x bare", "x calls", "x ideal", "CPU ms/case", "+PostgreSQL", "Redis ms/case",
              "errors")  # fmt: skip
    lines = [header]
    for row in rows:
        errors = row.detail.get("results", {}).get("error") if row.config in CONFIGS else None
        lines.append(
            (
                f"{row.config} #{row.repeat}",
                f"{row.wall_s:.2f}",
                _fmt(row.x_bare, ".2f"),
                _fmt(row.x_bare_calls, ".2f"),
                _fmt(row.x_ideal, ".2f"),
                _fmt(row.cpu_ms_per_case, ".2f"),
                _fmt(row.cpu_ms_per_case_with_db if row.config == "server" else None, ".2f"),
                _fmt(row.redis_ms_per_case, ".2f"),
                "—" if errors is None else str(errors),
            )
        )
    widths = [max(len(line[i]) for line in lines) for i in range(len(header))]
    text = "\n".join("  ".join(cell.rjust(width) for cell, width in zip(line, widths, strict=True)) for line in lines)
    note = (
        "x bare: against the bare loop of the client as documented (chat.completions.create, default "
        "transport); x calls: against a bare loop making evolab's own SDK calls (post, aiohttp transport).\n"
        "CPU ms/case: evolab processes only (worker and pool processes, the driver's run_create); "
        "+PostgreSQL adds the database server (its writes are part of a run); Redis is shown apart. "
        "The simulator is never counted.\n"
    )
    return f"\n{text}\n{note}"


def verdict(rows: Sequence[Row], configs: Sequence[str]) -> str:
    """One line per configuration: its medians against the targets (1.15 x the bare loop,
    3 ms of CPU per case, counting the PostgreSQL server's share where there is one)."""
    lines = []
    for config in configs:
        mine = [row for row in rows if row.config == config]
        x_bare = statistics.median(row.x_bare or 0.0 for row in mine)
        cpu = statistics.median(row.cpu_ms_per_case_with_db or row.cpu_ms_per_case or 0.0 for row in mine)
        met = x_bare <= TARGET_X_BARE and cpu <= TARGET_CPU_MS
        lines.append(
            f"{config}: median {x_bare:.2f} x bare loop (target {TARGET_X_BARE}), {cpu:.2f} ms CPU per case "
            f"(target {TARGET_CPU_MS:g}): {'met' if met else 'MISSED'}"
        )
    return "\n".join(lines) + "\n"


# ---------------------------------------------------------------------- the driver


@dataclass
class BenchFixture:
    """A project with the simulator backend, the bench harness and the synthetic suite:
    `cases` cases in the dev split (timed) and `warmup` in train (the warm-up run)."""

    actor: Any
    project: Any
    backend: Any
    harness: Any
    version: Any
    in_flight: int

    @classmethod
    def create(cls, *, base_url: str, cases: int, warmup: int, in_flight: int) -> BenchFixture:
        from django.contrib.auth.models import User

        from evolab.evals.actions import suite_create, suite_version_import
        from evolab.harnesses.actions import version_create
        from evolab.projects.actions import BackendFields, backend_create, project_create
        from evolab.projects.models import BackendFamily, BackendKind

        actor = User.objects.create_user("bench")
        project = project_create(actor=actor, name="Benchmark", slug="bench")
        fields = BackendFields(name="simulator", kind=BackendKind.SIMULATOR, family=BackendFamily.GENERIC,
                               base_url=base_url, model=SIMULATOR_MODEL, max_concurrency=in_flight,
                               timeout_s=60)  # fmt: skip
        backend = backend_create(actor=actor, project=project, fields=fields)
        harness = version_create(actor=actor, project=project, message="bench",
                                 files={"harness.yaml": HARNESS_YAML, "system.md": SYSTEM_PROMPT + "\n"})  # fmt: skip
        suite = suite_create(actor=actor, project=project, slug="arithmetic", name="Arithmetic")
        rows = [case_row(i, "dev") for i in range(cases)] + [case_row(i, "train") for i in range(warmup)]
        source = "\n".join(json.dumps(row) for row in rows).encode()
        version = suite_version_import(actor=actor, suite=suite, source=source, fmt="jsonl")
        return cls(actor, project, backend, harness, version, in_flight)

    def start(self, split: str) -> Any:
        """A run of the split, every case sent to the backend (no response cache)."""
        from evolab.runs.actions import RunSpec, run_create

        spec = RunSpec(harness_version=self.harness, suite_version=self.version, splits=[split],
                       backend=self.backend, max_concurrency=self.in_flight, use_cache=False)  # fmt: skip
        return run_create(actor=self.actor, project=self.project, spec=spec)


class DatabaseBackends:
    """CPU of the PostgreSQL backends serving one database, sampled while a run goes on.

    The server is shared (other sessions on this machine use it too), so its total is
    only an upper bound. Backends come and go (a connection per task with
    CONN_MAX_AGE=0); what one spends between its last sample and its exit is missed.
    """

    def __init__(self, database: str) -> None:
        self.marker = f" {database} ".encode()
        self.kind: dict[int, bool] = {}
        self.first: dict[int, int] = {}
        self.last: dict[int, int] = {}

    def sample(self, *, baseline: bool = False) -> None:
        for name in os.listdir("/proc"):
            if not name.isdigit():
                continue
            pid = int(name)
            try:
                if pid not in self.kind:
                    with open(f"/proc/{pid}/cmdline", "rb") as handle:
                        title = handle.read()
                    # A backend's process title: "postgres: USER DATABASE HOST(PORT) STATE".
                    self.kind[pid] = title.startswith(b"postgres:") and self.marker in title
                if not self.kind[pid]:
                    continue
                with open(f"/proc/{pid}/stat") as handle:
                    raw = handle.read()
            except OSError:
                continue
            ticks = sum(int(value) for value in raw[raw.rindex(")") + 2 :].split()[11:13])
            self.first.setdefault(pid, ticks if baseline else 0)
            self.last[pid] = ticks

    def cpu_s(self) -> float:
        return sum(self.last[pid] - self.first[pid] for pid in self.last) / CLOCK_TICKS


def _busy_ticks() -> int:
    """CPU ticks the whole machine spent outside idle and I/O wait."""
    with open("/proc/stat") as handle:
        values = [int(value) for value in handle.readline().split()[1:9]]
    return sum(values) - values[3] - values[4]


def _drive(args: argparse.Namespace) -> dict[str, Any]:
    """One configuration: migrate, create the data through the actions layer, start the
    workers, warm up, then time one run. Django is configured by the environment."""
    import django

    django.setup()
    from django.core.management import call_command

    from evolab.runs.models import CaseResult, Run, RunChunk

    phases: dict[str, float] = {}
    mark = time.perf_counter()
    call_command("migrate", verbosity=0, interactive=False)
    fixture = BenchFixture.create(
        base_url=args.base_url, cases=args.cases, warmup=args.warmup, in_flight=args.in_flight
    )
    phases["setup"], mark = time.perf_counter() - mark, time.perf_counter()
    database = DatabaseBackends(BENCH_DATABASE) if args.config == "server" else None

    def wait(run: Run, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        next_check = 0.0
        while Run.objects.filter(pk=run.pk, status__in=["queued", "running"]).exists():
            if time.monotonic() >= next_check:
                watch.check()
                next_check = time.monotonic() + 1.0
            if time.monotonic() > deadline:
                chunks = Counter(RunChunk.objects.filter(run=run).values_list("status", flat=True))
                raise RuntimeError(f"run {run.number} did not finish within {timeout:.0f} s; chunks: {dict(chunks)}")
            if database is not None:
                database.sample()
            time.sleep(POLL_S)

    worker = subprocess.Popen(
        [sys.executable, "-m", "celery", "-A", "evolab.celery", "worker", "--pool", "prefork",
         "--concurrency", str(args.workers), "--loglevel", os.environ.get("LOG_LEVEL", "WARNING"),
         "--hostname", f"bench-{args.config}@%h"],
        start_new_session=True,
    )  # fmt: skip
    watch = WorkerWatch(worker, args.workers)
    try:
        wait(fixture.start("train"), timeout=60)  # also waits for the worker to come up
        phases["worker_start_and_warmup"] = time.perf_counter() - mark
        url = args.base_url.removesuffix("/v1")
        requests_before = simulator_requests(url)
        if database is not None:
            database.sample(baseline=True)
        cpu_before, busy_before = _cpu_sample(worker.pid, args.simulator_pid), _busy_ticks()
        started, driver_cpu = time.perf_counter(), time.process_time()
        run = fixture.start("dev")
        create_cpu = time.process_time() - driver_cpu
        wait(run, timeout=max(60.0, 30 * args.cases * 0.1 / args.in_flight))
        wall = time.perf_counter() - started
        if database is not None:
            database.sample()
        cpu_after, busy_after = _cpu_sample(worker.pid, args.simulator_pid), _busy_ticks()
        driver_total = time.process_time() - driver_cpu
        requests = simulator_requests(url) - requests_before
    finally:
        mark = time.perf_counter()
        # Cold shutdown: the run is over, so no task is left to finish, and a warm one
        # waits seconds for the broker's consumer to wind down.
        _stop(worker, timeout=30, how=signal.SIGQUIT)
        phases["worker_stop"] = time.perf_counter() - mark
    run.refresh_from_db()
    results = CaseResult.objects.filter(run=run)
    cpu = {name: _delta(cpu_before[name], cpu_after[name]) for name in cpu_before}
    busy = (busy_after - busy_before) / CLOCK_TICKS
    ours = sum(value or 0.0 for value in cpu.values()) + driver_total
    return {
        "config": args.config,
        "wall_s": wall,
        "run_status": run.status,
        "results": {
            "total": results.count(),
            "done": results.filter(status="done").count(),
            "error": results.filter(status="error").count(),
            "passed": results.filter(passed=True).count(),
            "cached": results.filter(cached=True).count(),
        },
        "backend_requests": requests,
        "cpu_s": {
            **cpu,
            "postgres_bench_backends": database.cpu_s() if database is not None else None,
            "driver_run_create": create_cpu,
            "driver_polling": driver_total - create_cpu,
        },
        # Everything else the machine did meanwhile (other sessions, the kernel): a
        # busy machine stretches the wall time, so it is recorded next to it.
        "other_load_cores": max(0.0, busy - ours) / wall,
        "worker_processes": args.workers,
        "phases_s": phases,
    }


class WorkerWatch:
    """Notices a worker, or one of its pool processes, stopped by someone else: the pool
    replaces a killed process, but the chunk it held stays leased until its lease lapses."""

    def __init__(self, worker: subprocess.Popen[bytes], processes: int) -> None:
        self.worker = worker
        self.processes = processes
        self.pool: set[int] = set()

    def check(self) -> None:
        if self.worker.poll() is not None:
            raise WorkerLost(f"the worker exited with {self.worker.returncode}")
        with open(f"/proc/{self.worker.pid}/task/{self.worker.pid}/children") as handle:
            children = {int(pid) for pid in handle.read().split()}
        if self.pool - children:
            raise WorkerLost(f"pool process(es) {sorted(self.pool - children)} ended")
        if len(children) >= self.processes:
            self.pool = children


def _cpu_sample(worker_pid: int, simulator_pid: int) -> dict[str, float | None]:
    table = _proc_table()
    return {
        "workers": tree_cpu_s(worker_pid, table),
        "postgres_all": named_cpu_s("postgres", table),
        "redis": named_cpu_s("redis-server", table),
        "simulator": tree_cpu_s(simulator_pid, table),
    }


def _delta(before: float | None, after: float | None) -> float | None:
    return None if before is None or after is None else after - before


# ------------------------------------------------------------------- entry points


def _subcommands() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m evolab.runs.benchmark")
    sub = parser.add_subparsers(dest="role", required=True)
    bare = sub.add_parser("bare", help="the bare AsyncOpenAI loop")
    drive = sub.add_parser("drive", help="one configuration (Django from the environment)")
    bare.add_argument("--calls", choices=sorted(BARE_LOOPS.values()), default="sdk")
    for each in (bare, drive):
        each.add_argument("--base-url", required=True)
        each.add_argument("--cases", type=int, required=True)
        each.add_argument("--in-flight", type=int, required=True)
    drive.add_argument("--config", choices=CONFIGS, required=True)
    drive.add_argument("--simulator-pid", type=int, required=True)
    drive.add_argument("--warmup", type=int, required=True)
    drive.add_argument("--workers", type=int, required=True)
    drive.add_argument("--result-file", type=Path, required=True)
    return parser


def main(argv: Sequence[str] | None = None) -> None:
    args = _subcommands().parse_args(argv)
    if args.role == "bare":
        print(json.dumps(asyncio.run(bare_loop(args.base_url, args.cases, args.in_flight, args.calls))))
        return
    try:
        args.result_file.write_text(json.dumps(_drive(args)))
    except WorkerLost as lost:
        print(f"WorkerLost: {lost}", file=sys.stderr)
        sys.exit(WORKER_LOST_EXIT)


if __name__ == "__main__":
    main()
