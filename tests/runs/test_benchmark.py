"""The `make bench` machinery on a tiny size: a real simulator process, a real Celery
worker and a real run, next to the bare openai loop. No timing is asserted."""

from __future__ import annotations

import io
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from evolab.runs.benchmark import BenchOptions, run_benchmark, server_unavailable, tree_cpu_s


@pytest.mark.service
def test_it_times_a_real_run_next_to_the_bare_loop(tmp_path: Path) -> None:
    out = io.StringIO()
    options = BenchOptions(
        cases=40, latency_ms=10, in_flight=10, chunk_size=10, workers=1, repeats=1, only="embedded", out_dir=tmp_path
    )
    report = run_benchmark(options, out=out)

    rows = {row["config"]: row for row in report["rows"]}
    assert set(rows) == {"bare", "bare-calls", "embedded"}
    run = rows["embedded"]["detail"]
    assert run["run_status"] == "completed"
    assert run["results"]["done"] == run["results"]["total"] == 40
    assert run["results"]["cached"] == 0
    # One request per case reached the simulator: nothing was answered from the cache.
    assert run["backend_requests"] == 40
    for bare in ("bare", "bare-calls"):
        assert rows[bare]["detail"]["backend_requests"] == rows[bare]["detail"]["answers"] == 40
    assert run["cpu_s"]["workers"] > 0
    assert None not in (rows["embedded"]["x_bare"], rows["embedded"]["x_bare_calls"], rows["embedded"]["x_ideal"])
    assert json.loads((tmp_path / "latest.json").read_text())["rows"] == report["rows"]
    assert "embedded #1" in out.getvalue()
    assert "embedded: median" in out.getvalue()  # the verdict against the targets


def test_it_counts_the_cpu_of_child_processes_after_they_exit() -> None:
    before = tree_cpu_s(os.getpid())
    burn = "import time\nend = time.process_time() + 0.3\nwhile time.process_time() < end: pass"
    subprocess.run([sys.executable, "-c", burn], check=True)
    assert tree_cpu_s(os.getpid()) - before >= 0.25


def test_it_says_why_the_server_configuration_cannot_run() -> None:
    reason = server_unavailable(BenchOptions(pg_url="postgres://postgres@127.0.0.1:1"))
    assert reason is not None and reason.startswith("PostgreSQL is not answering")
