"""Hostile programs must be stopped within their limits and leave no process or file behind.

Every test runs on tier 0 and tier 1 (see the `sandbox_tier` fixture). Stray processes are
found by a unique marker in their command line; stray files by an empty temp root.
"""

from __future__ import annotations

import os
import subprocess
import tempfile
import time
import tracemalloc
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from evolab.engine.sandbox import SandboxLimits, SandboxResult, landlock_abi, run_sandboxed

# Part of the fault suite (`make reliability`), beside tests/reliability.
pytestmark = pytest.mark.reliability

REPO_ROOT = Path(__file__).resolve().parents[2]
FAST = SandboxLimits(wall_s=2.0, cpu_s=2, memory_mb=256, max_processes=16)


@pytest.fixture(autouse=True)
def temp_root(monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """A private temp root for the sandbox's working dirs; it must be empty afterwards."""
    root = Path(tempfile.gettempdir(), f"evolab-test-{uuid.uuid4().hex}")
    root.mkdir(mode=0o711)
    root.chmod(0o711)  # traversable by the sandbox's uid, not listable
    monkeypatch.setattr(tempfile, "tempdir", str(root))
    yield root
    leftovers = os.listdir(root)
    assert leftovers == [], "the sandbox left its working directory behind"
    root.rmdir()


@pytest.fixture()
def marker() -> str:
    return f"evolab-marker-{uuid.uuid4().hex}"


def survivors(marker: str) -> list[str]:
    found = subprocess.run(["pgrep", "-af", marker], capture_output=True, text=True, check=False)
    return [line for line in found.stdout.splitlines() if "pgrep" not in line]


def run(code: str, tier: int, limits: SandboxLimits = FAST) -> SandboxResult:
    started = time.monotonic()
    result = run_sandboxed(code, limits=limits, tier=tier)
    assert result.tier == tier
    # Every containment case ends within its wall-clock budget plus cleanup.
    assert time.monotonic() - started < limits.wall_s + 3
    return result


def test_a_normal_program_runs(sandbox_tier: int) -> None:
    result = run("import sys\nprint('out')\nprint('err', file=sys.stderr)\nsys.exit(3)", sandbox_tier)

    assert (result.stdout, result.stderr, result.exit_code, result.killed_reason) == ("out\n", "err\n", 3, None)


def test_files_are_placed_beside_the_program(sandbox_tier: int) -> None:
    result = run_sandboxed(
        "from helper import greet\nprint(greet(open('data/name.txt').read()))",
        files={"helper.py": "def greet(name):\n    return 'hi ' + name\n", "data/name.txt": "ada"},
        limits=FAST,
        tier=sandbox_tier,
    )

    assert result.stdout == "hi ada\n", result.stderr


def test_a_fork_bomb_is_contained(sandbox_tier: int, marker: str) -> None:
    bomb = "bomb() { bomb | bomb & }; bomb"
    code = f"import os\nos.execv('/bin/bash', ['bash', '-c', '{bomb} # {marker}'])\n"

    result = run(code, sandbox_tier)

    assert result.killed_reason in ("timeout", None)
    assert survivors(marker) == []
    # The machine can still start processes.
    assert subprocess.run(["true"], check=False).returncode == 0


def test_a_python_fork_bomb_is_contained(sandbox_tier: int, marker: str) -> None:
    bomb = "import os\nwhile True:\n    try:\n        os.fork()\n    except OSError:\n        pass\n"
    code = f"import os\nos.execv('/usr/bin/python3', ['python3', '-c', {bomb!r}, {marker!r}])\n"

    run(code, sandbox_tier)

    assert survivors(marker) == []


def test_a_memory_bomb_is_contained(sandbox_tier: int) -> None:
    result = run("chunks = []\nwhile True:\n    chunks.append(bytearray(16 * 1024 * 1024))\n", sandbox_tier)

    assert result.exit_code != 0
    assert "MemoryError" in result.stderr


def test_an_infinite_loop_hits_the_cpu_limit(sandbox_tier: int) -> None:
    result = run("while True:\n    pass\n", sandbox_tier, SandboxLimits(wall_s=5, cpu_s=1))

    assert result.killed_reason == "cpu_limit"
    assert result.duration_s < 3


def test_a_sleeping_program_hits_the_wall_clock(sandbox_tier: int) -> None:
    result = run("import time\ntime.sleep(30)\n", sandbox_tier, SandboxLimits(wall_s=1))

    assert result.timed_out
    assert result.killed_reason == "timeout"
    assert result.exit_code is None


def test_writes_outside_the_working_directory_do_not_land(sandbox_tier: int) -> None:
    token = uuid.uuid4().hex
    # The repository is protected by file permissions on every tier; world-writable
    # directories need Landlock on tier 0 (tier 1 gives the program a private /tmp).
    targets = [REPO_ROOT / f"evolab-escape-{token}", REPO_ROOT / "evolab" / f"evolab-escape-{token}"]
    world_writable_checked = sandbox_tier == 1 or landlock_abi() > 0
    if world_writable_checked:
        targets += [Path("/tmp") / f"evolab-escape-{token}", Path("/dev/shm") / f"evolab-escape-{token}"]
    code = (
        "import os\n"
        f"for path in {[str(t) for t in targets]!r}:\n"
        "    try:\n"
        "        with open(path, 'w') as handle:\n"
        "            handle.write('escaped')\n"
        "        print('wrote', path)\n"
        "    except OSError as exc:\n"
        "        print('refused', path, exc.errno)\n"
        "open('inside.txt', 'w').write('fine')\n"
        "print('inside ok')\n"
    )

    result = run(code, sandbox_tier)

    assert "inside ok" in result.stdout, result.stderr
    for target in targets:
        assert not target.exists(), f"{target} was written from the sandbox"
    if not world_writable_checked:
        pytest.skip("this kernel has no Landlock: tier 0 cannot keep writes out of /tmp")


def test_the_parent_environment_is_not_visible(sandbox_tier: int, monkeypatch: pytest.MonkeyPatch) -> None:
    secret = f"sk-secret-{uuid.uuid4().hex}"
    monkeypatch.setenv("OPENAI_API_KEY", secret)
    code = (
        "import os\n"
        "print(dict(os.environ))\n"
        "for pid in {os.getppid(), 1, " + str(os.getpid()) + "}:\n"
        "    try:\n"
        "        print(open(f'/proc/{pid}/environ').read())\n"
        "    except OSError as exc:\n"
        "        print('denied', pid, exc.errno)\n"
    )

    result = run(code, sandbox_tier)

    assert secret not in result.stdout + result.stderr
    assert "OPENAI_API_KEY" not in result.stdout
    assert "'PATH'" in result.stdout


def test_a_gigabyte_on_stdout_is_truncated_with_bounded_memory(sandbox_tier: int) -> None:
    limits = SandboxLimits(wall_s=10, max_output_bytes=1_000_000)
    code = "import sys\nblock = 'x' * (1 << 20)\nfor _ in range(1024):\n    sys.stdout.write(block)\n"

    tracemalloc.start()
    try:
        result = run(code, sandbox_tier, limits)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()

    assert result.killed_reason == "output_limit"
    assert result.stdout_truncated
    assert len(result.stdout) == 1_000_000
    assert peak < 20 * 1024 * 1024


@pytest.mark.parametrize(
    "spawn",
    [
        # A child left running when the program exits.
        "import subprocess\nsubprocess.Popen(['/bin/sh', '-c', 'sleep 60; : {marker}'])\n",
        # A child that left the process group with setsid() and closed its pipes.
        "import os\nif os.fork() == 0:\n    os.setsid()\n    fd = os.open('/dev/null', os.O_RDWR)\n"
        "    os.dup2(fd, 1)\n    os.dup2(fd, 2)\n    os.execv('/bin/sh', ['sh', '-c', 'sleep 60; : {marker}'])\n",
        # A double-forked daemon.
        "import os\nif os.fork() == 0:\n    os.setsid()\n    if os.fork() == 0:\n"
        "        os.execv('/bin/sh', ['sh', '-c', 'sleep 60; : {marker}'])\n    os._exit(0)\n",
    ],
    ids=["popen", "setsid", "daemon"],
)
def test_no_background_process_survives(sandbox_tier: int, marker: str, spawn: str) -> None:
    result = run(spawn.format(marker=marker) + "print('parent done')\n", sandbox_tier)

    assert result.stdout == "parent done\n"
    assert result.duration_s < 2
    assert survivors(marker) == []


def test_a_program_that_closes_its_pipes_still_gets_to_finish(sandbox_tier: int) -> None:
    code = "import os, time\nos.close(1)\nos.close(2)\ntime.sleep(0.3)\nraise SystemExit(4)\n"

    result = run(code, sandbox_tier)

    assert (result.exit_code, result.killed_reason) == (4, None)
