"""`make bench`, scale-out: does a second worker process make a latency-bound run faster?

A run whose requests wait on the backend (the simulator at a fixed 200 ms) is bound by
how many requests are in flight. Each chunk sends at most the run's `max_concurrency`
at a time and a worker runs as many chunks as its pool has processes (`--concurrency 2`,
as in production), so one worker has at most 2 x K requests in flight while the backend
would take many more (its slots are set far above that): one worker is the bottleneck,
and two should take half the time. This times the same run on one worker and on two,
on PostgreSQL + Redis (the production configuration), and reports wall(1) / wall(2);
2.0 is the ideal.

The workers are started with the production command (`STACK_COMMANDS["worker"]`, only
their node names added); each configuration gets a fresh database and Redis db (those
of `make bench`), the same data, and a warm-up run before the timed one. The driver is
`python -m evolab.runs.benchmark_scaleout drive …`, with Django set up from the
environment the orchestrator gives it, as in `evolab.runs.benchmark`.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from evolab.core.stack import STACK_COMMANDS
from evolab.runs.benchmark import (
    BenchFixture,
    BenchOptions,
    Output,
    _stop,
    running_simulator,
    server_databases,
    server_unavailable,
)

# The backend's slots: far above what two workers send, so they never limit the run.
BACKEND_SLOTS = 1000
WORKER_START_S = 60.0
_SUCCEEDED = re.compile(rb"Task runs\.run_chunk\[[0-9a-f-]+\] succeeded")


@dataclass(frozen=True)
class ScaleOutOptions:
    cases: int = 1000
    latency_ms: float = 200.0
    # Requests in flight per chunk (the run's max_concurrency).
    per_chunk: int = 10
    chunk_size: int = 50
    pg_url: str = BenchOptions.pg_url
    redis_url: str = BenchOptions.redis_url

    @property
    def pool(self) -> int:
        """Pool processes per worker, read from the production command."""
        argv = STACK_COMMANDS["worker"]
        return int(argv[argv.index("--concurrency") + 1])

    def ideal_s(self, workers: int) -> float:
        return self.cases * self.latency_ms / 1000 / (workers * self.pool * self.per_chunk)


def scale_out_benchmark(options: ScaleOutOptions, logs: Path, out: Output) -> dict[str, Any]:
    """Time the run on one worker, then on two; the figures and wall(1) / wall(2)."""
    reason = server_unavailable(BenchOptions(pg_url=options.pg_url, redis_url=options.redis_url))
    if reason:
        out.write(f"SKIPPED: the scale-out benchmark: {reason}\n")
        return {"skipped": reason}
    out.write(
        f"Scale-out: {options.cases} cases, fixed {options.latency_ms:g} ms, {options.per_chunk} in flight per chunk, "
        f"{options.pool} chunks per worker (ideal {options.ideal_s(1):.1f} s on one worker, "
        f"{options.ideal_s(2):.1f} s on two)\n"
    )
    rows = {}
    with open(logs / "scale-out-simulator.log", "w") as sim_log, running_simulator(options.latency_ms, sim_log) as sim:
        for workers in (1, 2):
            rows[workers] = _run(options, sim.base_url, workers, logs)
            out.write(
                f"  {workers} worker(s): {rows[workers]['wall_s']:.2f} s "
                f"(chunk tasks per worker {rows[workers]['chunk_tasks_per_worker']})\n"
            )
    ratio = rows[1]["wall_s"] / rows[2]["wall_s"]
    out.write(f"  wall time ratio, one worker to two: {ratio:.2f} (ideal 2.00)\n")
    return {
        "options": {**asdict(options), "pool_per_worker": options.pool},
        "ideal_s": {"1": options.ideal_s(1), "2": options.ideal_s(2)},
        "one_worker": rows[1],
        "two_workers": rows[2],
        "ratio_one_to_two": ratio,
    }


def scale_out_report(options: ScaleOutOptions, *, out_dir: Path, out: Output) -> dict[str, Any]:
    """The scale-out part alone (`manage.py bench --scale-out-only`): `<out_dir>/scale-out.json`.
    A whole `make bench` writes the same figures under "scale_out" in its report."""
    logs = Path(tempfile.mkdtemp(prefix="evolab-scaleout-logs-"))
    report = {"when": datetime.now(UTC).isoformat(timespec="seconds"), **scale_out_benchmark(options, logs, out)}
    out_dir.mkdir(parents=True, exist_ok=True)
    (out_dir / "scale-out.json").write_text(json.dumps(report, indent=2) + "\n")
    out.write(f"written: {out_dir / 'scale-out.json'}\n")
    return report


def _run(options: ScaleOutOptions, base_url: str, workers: int, logs: Path) -> dict[str, Any]:
    var_dir = Path(tempfile.mkdtemp(prefix=f"evolab-scaleout-{workers}-"))
    result_file = var_dir / "result.json"
    env = {
        **{k: v for k, v in os.environ.items() if k not in {"DATABASE_URL", "REDIS_URL", "CELERY_TASK_ALWAYS_EAGER"}},
        "DJANGO_SETTINGS_MODULE": "evolab.settings",
        "EVOLAB_VAR_DIR": str(var_dir),
        "EVOLAB_RUN_CHUNK_SIZE": str(options.chunk_size),
    }
    command = [sys.executable, "-m", "evolab.runs.benchmark_scaleout", "drive", "--base-url", base_url,
               "--cases", str(options.cases), "--per-chunk", str(options.per_chunk), "--workers", str(workers),
               "--warmup", str(options.chunk_size * options.pool * workers), "--log-dir", str(logs),
               "--result-file", str(result_file)]  # fmt: skip
    bench = BenchOptions(pg_url=options.pg_url, redis_url=options.redis_url)
    log_path = logs / f"scale-out-{workers}.log"
    with server_databases(bench) as extra, open(log_path, "w") as log:
        done = subprocess.run(command, env={**env, **extra}, stdout=log, stderr=log, check=False)
    if done.returncode != 0 or not result_file.exists():
        raise RuntimeError(f"the scale-out driver ({workers} workers) failed; its log ends with:\n"
                           f"{log_path.read_text()[-4000:]}")  # fmt: skip
    return json.loads(result_file.read_text())


# ---------------------------------------------------------------------- the driver


def _drive(args: argparse.Namespace) -> dict[str, Any]:
    import django

    django.setup()
    from django.core.management import call_command

    from evolab.runs.actions import RunSpec, run_create
    from evolab.runs.models import CaseResult, Run

    call_command("migrate", verbosity=0, interactive=False)
    fixture = BenchFixture.create(base_url=args.base_url, cases=args.cases, warmup=args.warmup, in_flight=BACKEND_SLOTS)

    def start(split: str) -> Run:
        spec = RunSpec(harness_version=fixture.harness, suite_version=fixture.version, splits=[split],
                       backend=fixture.backend, max_concurrency=args.per_chunk, use_cache=False)  # fmt: skip
        return run_create(actor=fixture.actor, project=fixture.project, spec=spec)

    def wait(run: Run, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        while Run.objects.filter(pk=run.pk, status__in=["queued", "running"]).exists():
            for process in processes:
                if process.poll() is not None:
                    raise RuntimeError(f"a worker exited with {process.returncode}")
            if time.monotonic() > deadline:
                raise RuntimeError(f"run {run.number} did not finish within {timeout:.0f} s")
            time.sleep(0.05)

    argv = [sys.executable, *STACK_COMMANDS["worker"][1:]]
    processes: list[subprocess.Popen[bytes]] = []
    log_paths = [args.log_dir / f"scale-out-{args.workers}-worker{i}.log" for i in range(1, args.workers + 1)]
    try:
        for index, path in enumerate(log_paths, start=1):
            with open(path, "wb") as log:
                processes.append(subprocess.Popen([*argv, "--hostname", f"scale{index}@%h"], stdout=log,
                                                  stderr=subprocess.STDOUT, start_new_session=True))  # fmt: skip
        deadline = time.monotonic() + WORKER_START_S
        for path in log_paths:
            while b" ready." not in path.read_bytes():
                if time.monotonic() > deadline:
                    raise RuntimeError(f"a worker did not start:\n{path.read_text()[-2000:]}")
                time.sleep(0.05)
        wait(start("train"), timeout=120)
        before = [len(_SUCCEEDED.findall(path.read_bytes())) for path in log_paths]
        started = time.perf_counter()
        run = start("dev")
        wait(run, timeout=300.0)
        wall = time.perf_counter() - started
    finally:
        for process in processes:
            _stop(process, timeout=30, how=signal.SIGQUIT)
    chunks = [len(_SUCCEEDED.findall(path.read_bytes())) - seen for path, seen in zip(log_paths, before, strict=True)]
    results = CaseResult.objects.filter(run=run)
    return {
        "workers": args.workers,
        "wall_s": wall,
        "run_status": Run.objects.get(pk=run.pk).status,
        "results": {"total": results.count(), "done": results.filter(status="done").count()},
        "chunk_tasks_per_worker": chunks,
    }


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m evolab.runs.benchmark_scaleout")
    sub = parser.add_subparsers(dest="role", required=True)
    drive = sub.add_parser("drive", help="one configuration (Django from the environment)")
    drive.add_argument("--base-url", required=True)
    drive.add_argument("--cases", type=int, required=True)
    drive.add_argument("--per-chunk", type=int, required=True)
    drive.add_argument("--workers", type=int, required=True)
    drive.add_argument("--warmup", type=int, required=True)
    drive.add_argument("--log-dir", type=Path, required=True)
    drive.add_argument("--result-file", type=Path, required=True)
    args = parser.parse_args(argv)
    args.result_file.write_text(json.dumps(_drive(args)))


if __name__ == "__main__":
    main()
