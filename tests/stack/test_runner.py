"""The native stack runner: it starts what the containers run, and leaves nothing behind.

These run in `make test` (they are not marked `stack`): the command checks need
nothing, the process-group check needs a shell, and the last one starts the whole
stack on PostgreSQL and Redis and stops it with SIGTERM, as a CI timeout would.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from evolab.core import stack_runner
from evolab.core.stack import STACK_COMMANDS
from evolab.core.stack_runner import StackError, group_alive, native_commands, services_unavailable, stop_group
from tests.conftest import require_service


def commands(workers: int = 2) -> dict[str, list[str]]:
    return native_commands(
        python="/venv/bin/python", web_port=4321, simulator_port=4322, beat_schedule=Path("/tmp/beat"), workers=workers
    )


def test_native_commands_are_the_containers_with_ports_and_paths_swapped() -> None:
    native = commands()
    swapped = {"python": "/venv/bin/python", "0.0.0.0": "127.0.0.1", "/var/lib/evolab/celerybeat-schedule": "/tmp/beat"}
    for name in ("migrate", "web", "scheduler", "simulator"):
        expected = [swapped.get(token, token) for token in STACK_COMMANDS[name]]
        expected = [
            {"web": {"8000": "4321"}, "simulator": {"8100": "4322"}}.get(name, {}).get(token, token)
            for token in expected
        ]
        assert native[name] == expected, name
    assert native["web"][:4] == ["/venv/bin/python", "-m", "uvicorn", "evolab.asgi:application"]
    assert "--proxy-headers" in native["web"] and "--forwarded-allow-ips=*" in native["web"]


def test_each_worker_is_the_container_worker_with_a_node_name_of_its_own() -> None:
    native = commands(workers=3)
    worker = ["/venv/bin/python", *STACK_COMMANDS["worker"][1:]]
    assert [native[f"worker{i}"] for i in (1, 2, 3)] == [[*worker, "--hostname", f"worker{i}@%h"] for i in (1, 2, 3)]
    assert "worker" not in native


def test_a_changed_container_command_stops_the_runner(monkeypatch: pytest.MonkeyPatch) -> None:
    changed = {**STACK_COMMANDS, "web": [token.replace("8000", "8080") for token in STACK_COMMANDS["web"]]}
    monkeypatch.setattr(stack_runner, "STACK_COMMANDS", changed)
    with pytest.raises(StackError, match="no longer has '8000'"):
        commands()


def test_a_redis_database_of_its_own_is_required() -> None:
    with pytest.raises(StackError, match="not 0"):
        stack_runner._redis_db_url("redis://127.0.0.1:6379/0")


def test_stopping_a_group_also_ends_children_that_ignore_sigterm() -> None:
    script = "trap '' TERM; sleep 60 & sleep 60 & wait"
    process = subprocess.Popen(["sh", "-c", script], start_new_session=True)
    deadline = time.monotonic() + 10
    while len(_children(process.pid)) < 2:
        assert time.monotonic() < deadline, "the shell did not start its children"
        time.sleep(0.02)
    stop_group(process, grace_s=0.5)
    assert not group_alive(process.pid)


def _children(pid: int) -> list[int]:
    try:
        return [int(child) for child in Path(f"/proc/{pid}/task/{pid}/children").read_text().split()]
    except OSError:
        return []


@pytest.mark.service
@pytest.mark.one_database
def test_sigterm_to_the_runner_stops_every_process_of_the_stack(tmp_path: Path) -> None:
    require_service(services_unavailable() is None, f"the native stack needs them: {services_unavailable()}")
    runner = subprocess.Popen(
        [sys.executable, "-m", "evolab.core.stack_runner", "--workers", "1", "--log-dir", str(tmp_path)],
        cwd=stack_runner.BASE_DIR,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        assert runner.stdout is not None
        seen = ""
        while "evolab stack up at" not in seen:  # until the stack is up (or the runner ends)
            line = runner.stdout.readline()
            assert line, f"the runner ended before the stack was up:\n{seen}"
            seen += line
        groups = _children(runner.pid)
        # simulator, web, one worker, scheduler: each the leader of its own process group.
        assert len(groups) == 4 and all(os.getpgid(pid) == pid for pid in groups), groups
        runner.send_signal(signal.SIGTERM)
        assert runner.wait(timeout=60) != 0
    finally:
        if runner.poll() is None:
            runner.kill()
            runner.wait()
    assert not [pid for pid in groups if group_alive(pid)]
