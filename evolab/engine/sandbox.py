"""Run untrusted Python (graded answers, the `python` tool) with limits, and clean up after it.

Tier 0 — a child process in its own session, with:
  * a fresh temporary working directory (removed afterwards) and a scrubbed environment
    (PATH, LANG, HOME=workdir only: no API key is inherited);
  * rlimits for CPU seconds, address space, processes, file size and open files, set by a
    tiny launcher after the uid drop (not `preexec_fn`, which is not thread-safe);
  * when we are root, a dedicated unprivileged uid for this run (see `_allocate_uid`);
  * Landlock, when the kernel has it: the filesystem is read-only except the workdir, TCP
    bind/connect are refused;
  * a wall-clock timeout and capped reading of stdout/stderr.
Tier 1 — the same inside bubblewrap: fresh namespaces (no network, own pid namespace), a
root made of read-only system directories only, a private /tmp, the workdir at /work.

After every run the whole process group is killed, and when the run had its own uid every
remaining process of that uid too: a child that called setsid() has left the group but not
the uid.
"""

from __future__ import annotations

import contextlib
import json
import os
import secrets
import selectors
import shutil
import signal
import subprocess
import tempfile
import threading
import time
from dataclasses import dataclass
from functools import cache
from pathlib import Path

SANDBOX_PYTHON = "/usr/bin/python3"
SANDBOX_PATH = "/usr/local/bin:/usr/bin:/bin"
# Where the working directory appears inside bubblewrap. Our bwrap root is a tmpfs, so the
# mount point can be created whatever the host's layout.
BWRAP_WORKDIR = "/work"
# Run uids are drawn from a range no distribution assigns to real accounts.
_UID_BASE = 1_800_000_000
_UID_SPAN = 100_000_000
# Read-only system directories visible inside bubblewrap (home dirs, /root, /var, /srv and
# the repository stay invisible).
_BWRAP_SYSTEM_DIRS = ("usr", "bin", "sbin", "lib", "lib32", "lib64", "libx32", "etc")
_LAUNCHER_SOURCE = (Path(__file__).with_name("sandbox_launcher.py")).read_text()
_READ_CHUNK = 65536
# After the main process exits, how long to keep reading output that background children
# may still write before they are killed.
_EXIT_GRACE_S = 0.05


class SandboxUnavailableError(RuntimeError):
    """The requested sandbox tier cannot run on this machine."""


@dataclass(frozen=True)
class SandboxLimits:
    wall_s: float = 10.0
    cpu_s: int = 5
    memory_mb: int = 512
    max_processes: int = 32
    max_file_mb: int = 16
    max_open_files: int = 64
    # Per stream; the program is killed when it writes more.
    max_output_bytes: int = 1_000_000


@dataclass(frozen=True)
class SandboxResult:
    stdout: str
    stderr: str
    exit_code: int | None
    timed_out: bool
    # "timeout", "output_limit", "cpu_limit" or "signal:SIGxxx"; None for a normal exit.
    killed_reason: str | None
    tier: int
    duration_s: float
    stdout_truncated: bool = False
    stderr_truncated: bool = False
    # Whether Landlock confined the filesystem (tier 0 relies on it to keep /tmp clean).
    landlock: bool = False


@cache
def landlock_abi() -> int:
    """The kernel's Landlock ABI version, 0 when unavailable."""
    import ctypes

    try:
        libc = ctypes.CDLL(None, use_errno=True)
        version = int(libc.syscall(444, None, 0, 1))
    except (OSError, AttributeError):
        return 0
    return max(version, 0)


@cache
def bwrap_available() -> bool:
    """Whether tier 1 works here: probed once with the exact setup a run will use."""
    if shutil.which("bwrap") is None or not os.path.exists(SANDBOX_PYTHON):
        return False
    uid = _allocate_uid()
    workdir = tempfile.mkdtemp(prefix="evolab-sbx-probe-")
    try:
        if uid is not None:
            os.chown(workdir, uid, uid)
        argv = [*_bwrap_prefix(workdir), SANDBOX_PYTHON, "-I", "-S", "-c", "print('ok')"]
        completed = subprocess.run(
            _drop_privileges(uid) + argv,
            capture_output=True,
            env=_scrubbed_env(BWRAP_WORKDIR),
            timeout=10,
            check=False,
        )
        return completed.returncode == 0 and completed.stdout.strip() == b"ok"
    except (OSError, subprocess.SubprocessError):
        return False
    finally:
        _clean_up(workdir, uid)


def available_tier() -> int:
    """The strongest tier this machine supports."""
    return 1 if bwrap_available() else 0


def run_sandboxed(
    code: str,
    *,
    files: dict[str, str] | None = None,
    limits: SandboxLimits | None = None,
    tier: int | None = None,
) -> SandboxResult:
    """Run `code` as `main.py` with `files` beside it, in the strongest (or the given) tier.

    Blocking; call it through `asyncio.to_thread` from async code.
    """
    limits = limits or SandboxLimits()
    if tier is None:
        tier = available_tier()
    elif tier == 1 and not bwrap_available():
        raise SandboxUnavailableError("tier 1 needs a working bubblewrap (apt-get install bubblewrap)")
    elif tier not in (0, 1):
        raise SandboxUnavailableError(f"unknown sandbox tier {tier}")

    uid = _allocate_uid()
    workdir = tempfile.mkdtemp(prefix="evolab-sbx-")
    started = time.monotonic()
    try:
        _write_files(workdir, {**(files or {}), "main.py": code}, uid)
        inner_workdir = BWRAP_WORKDIR if tier == 1 else workdir
        use_landlock = landlock_abi() > 0
        writable = [BWRAP_WORKDIR, "/tmp"] if tier == 1 else [workdir]
        launcher_config = {
            "rlimits": _rlimits(limits, uid),
            "writable": writable,
            "landlock": use_landlock,
            "argv": [SANDBOX_PYTHON, "-E", "-s", "-B", "main.py"],
        }
        argv = [SANDBOX_PYTHON, "-I", "-S", "-c", _LAUNCHER_SOURCE, json.dumps(launcher_config)]
        if tier == 1:
            argv = _bwrap_prefix(workdir) + argv
        argv = _drop_privileges(uid) + argv
        outcome = _run_process(
            argv,
            cwd=workdir,
            env=_scrubbed_env(inner_workdir),
            limits=limits,
            uid=uid,
            inside_bwrap=tier == 1,
        )
        return SandboxResult(
            stdout=outcome.stdout.decode("utf-8", errors="replace"),
            stderr=outcome.stderr.decode("utf-8", errors="replace"),
            exit_code=outcome.exit_code,
            timed_out=outcome.killed_reason == "timeout",
            killed_reason=outcome.killed_reason,
            tier=tier,
            duration_s=time.monotonic() - started,
            stdout_truncated=outcome.stdout_truncated,
            stderr_truncated=outcome.stderr_truncated,
            landlock=use_landlock,
        )
    finally:
        _clean_up(workdir, uid)


@dataclass
class _Outcome:
    stdout: bytes
    stderr: bytes
    exit_code: int | None
    killed_reason: str | None
    stdout_truncated: bool
    stderr_truncated: bool


def _run_process(
    argv: list[str],
    *,
    cwd: str,
    env: dict[str, str],
    limits: SandboxLimits,
    uid: int | None,
    inside_bwrap: bool,
) -> _Outcome:
    # A new session: its own process group to kill, and no controlling terminal to abuse.
    proc = subprocess.Popen(
        argv,
        cwd=cwd,
        env=env,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        start_new_session=True,
    )
    assert proc.stdout is not None and proc.stderr is not None
    buffers = {proc.stdout.fileno(): bytearray(), proc.stderr.fileno(): bytearray()}
    truncated = dict.fromkeys(buffers, False)
    killed_reason: str | None = None
    deadline = time.monotonic() + limits.wall_s
    exited_at: float | None = None
    try:
        with selectors.DefaultSelector() as selector:
            for fd in buffers:
                os.set_blocking(fd, False)
                selector.register(fd, selectors.EVENT_READ)
            while selector.get_map():
                now = time.monotonic()
                if now >= deadline:
                    killed_reason = "timeout"
                    break
                if exited_at is None and proc.poll() is not None:
                    exited_at = now
                if exited_at is not None and now - exited_at > _EXIT_GRACE_S:
                    break  # only leftover children still hold the pipes
                timeout = min(deadline - now, _EXIT_GRACE_S if exited_at is not None else 0.1)
                for key, _ in selector.select(max(timeout, 0)):
                    fd = int(key.fd)
                    try:
                        chunk = os.read(fd, _READ_CHUNK)
                    except BlockingIOError:
                        continue
                    if not chunk:
                        selector.unregister(fd)
                        continue
                    room = limits.max_output_bytes - len(buffers[fd])
                    buffers[fd] += chunk[: max(room, 0)]
                    if len(chunk) > room:
                        truncated[fd] = True
                        killed_reason = "output_limit"
                if killed_reason == "output_limit":
                    break
        if killed_reason is None and proc.poll() is None:
            # Both pipes closed but the program still runs (it closed stdout and stderr).
            try:
                proc.wait(timeout=max(deadline - time.monotonic(), 0))
            except subprocess.TimeoutExpired:
                killed_reason = "timeout"
    finally:
        _kill_group(proc.pid)
        # The direct child may have left its group with setsid(); it is ours to kill anyway.
        proc.kill()
        if uid is not None:
            _kill_uid(uid)
        proc.stdout.close()
        proc.stderr.close()
    exit_code = proc.wait()
    signum = _death_signal(exit_code, inside_bwrap=inside_bwrap)
    if killed_reason is None and signum is not None:
        # CPU time: the soft limit sends SIGXCPU, the hard limit one second later SIGKILL.
        killed_reason = "cpu_limit" if signum == signal.SIGXCPU else f"signal:{signal.Signals(signum).name}"
    stdout_fd, stderr_fd = list(buffers)
    return _Outcome(
        stdout=bytes(buffers[stdout_fd]),
        stderr=bytes(buffers[stderr_fd]),
        exit_code=None if killed_reason in ("timeout", "output_limit") else exit_code,
        killed_reason=killed_reason,
        stdout_truncated=truncated[stdout_fd],
        stderr_truncated=truncated[stderr_fd],
    )


def _death_signal(exit_code: int, *, inside_bwrap: bool) -> int | None:
    """The signal that ended the program, if one did.

    bubblewrap reports a child killed by signal N as exit status 128 + N, like a shell; a
    program that calls exit(128 + N) itself is indistinguishable, which we accept.
    """
    if exit_code < 0:
        return -exit_code
    if inside_bwrap and 128 < exit_code < 128 + signal.NSIG:
        return exit_code - 128
    return None


def _kill_group(pgid: int) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pgid, signal.SIGKILL)


_uid_lock = threading.Lock()
_uids_in_use: set[int] = set()


def _allocate_uid() -> int | None:
    """A uid of our own for one run, or None when we cannot switch users (not root).

    Why not just `nobody`: RLIMIT_NPROC counts every process of a uid machine-wide, so
    concurrent runs sharing one uid would eat each other's process budget (a fork bomb in
    one would starve the others), and sweeping "all processes of nobody" would kill
    unrelated ones. A fresh uid makes both the limit and the final sweep exact.
    """
    if os.geteuid() != 0:
        return None
    if shutil.which("setpriv") is None:
        raise SandboxUnavailableError("running as root without setpriv (util-linux): refusing to run code as root")
    with _uid_lock:
        while True:
            uid = _UID_BASE + secrets.randbelow(_UID_SPAN)
            if uid not in _uids_in_use and not _processes_of(uid):
                _uids_in_use.add(uid)
                return uid


def _drop_privileges(uid: int | None) -> list[str]:
    if uid is None:
        return []
    return [
        "setpriv",
        f"--reuid={uid}",
        f"--regid={uid}",
        "--clear-groups",
        "--inh-caps=-all",
        "--no-new-privs",
    ]


def _bwrap_prefix(workdir: str) -> list[str]:
    argv = [
        "bwrap",
        "--unshare-all",
        "--unshare-user",
        "--uid",
        "65534",
        "--gid",
        "65534",
        "--die-with-parent",
        "--new-session",
        "--cap-drop",
        "ALL",
        "--tmpfs",
        "/",
    ]
    for name in _BWRAP_SYSTEM_DIRS:
        host = Path("/", name)
        if host.is_symlink():
            argv += ["--symlink", os.readlink(host), f"/{name}"]
        elif host.is_dir():
            argv += ["--ro-bind", str(host), f"/{name}"]
    argv += [
        "--tmpfs",
        "/tmp",
        "--proc",
        "/proc",
        "--dev",
        "/dev",
        "--bind",
        workdir,
        BWRAP_WORKDIR,
        "--chdir",
        BWRAP_WORKDIR,
        "--remount-ro",
        "/",
    ]
    return argv


def _scrubbed_env(home: str) -> dict[str, str]:
    return {"PATH": SANDBOX_PATH, "LANG": "C.UTF-8", "HOME": home}


def _rlimits(limits: SandboxLimits, uid: int | None) -> dict[str, list[int]]:
    nproc = limits.max_processes
    if uid is None:
        # Without a uid of our own the limit counts all of this user's processes.
        nproc += len(_processes_of(os.getuid()))
    memory = limits.memory_mb * 1024 * 1024
    file_size = limits.max_file_mb * 1024 * 1024
    return {
        "CPU": [limits.cpu_s, limits.cpu_s + 1],
        "AS": [memory, memory],
        "NPROC": [nproc, nproc],
        "FSIZE": [file_size, file_size],
        "NOFILE": [limits.max_open_files, limits.max_open_files],
        "CORE": [0, 0],
    }


def _write_files(workdir: str, files: dict[str, str], uid: int | None) -> None:
    root = Path(workdir)
    for name, text in files.items():
        target = (root / name).resolve()
        if root.resolve() not in target.parents:
            raise ValueError(f"sandbox file {name!r} is outside the working directory")
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(text)
    if uid is not None:
        for path in [root, *root.rglob("*")]:
            os.chown(path, uid, uid)
    root.chmod(0o700)


def _processes_of(uid: int) -> list[int]:
    """Live (non-zombie) processes whose uid is `uid`."""
    pids = []
    for entry in os.scandir("/proc"):
        if not entry.name.isdigit():
            continue
        try:
            if entry.stat().st_uid != uid:
                continue
            with open(f"/proc/{entry.name}/stat", "rb") as stat:
                state = stat.read().rsplit(b")", 1)[1].split()[0]
        except (OSError, IndexError):
            continue
        if state not in (b"Z", b"X"):
            pids.append(int(entry.name))
    return pids


def _kill_uid(uid: int) -> None:
    """Kill every process of a run's uid."""
    for _ in range(50):
        if not _processes_of(uid):
            return
        # kill(-1) from inside the uid reaches every process it owns in one kernel walk,
        # and a process with a pending SIGKILL cannot fork: a fork bomb cannot outrun it.
        subprocess.run(
            [*_drop_privileges(uid), "kill", "-9", "-1"],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            env={"PATH": SANDBOX_PATH},
            check=False,
        )
        time.sleep(0.01)
    raise RuntimeError(f"sandbox processes of uid {uid} survived 50 kill rounds")


def _clean_up(workdir: str, uid: int | None) -> None:
    """Kill what is left of a run and remove its working directory, whatever happens."""
    try:
        if uid is not None:
            _kill_uid(uid)
            # Only a uid without processes goes back to the pool; a survivor keeps its uid
            # reserved so no later run shares a process budget with it.
            _release_uid(uid)
    finally:
        shutil.rmtree(workdir, ignore_errors=True)


def _release_uid(uid: int) -> None:
    with _uid_lock:
        _uids_in_use.discard(uid)
