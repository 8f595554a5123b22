"""Run the production stack natively, with the commands the containers run.

There is no Docker engine on CI machines, so `make stack-e2e` and `make load` start the
processes of docker/compose.yml themselves, from `STACK_COMMANDS` (evolab/core/stack.py),
against the PostgreSQL and Redis servers that already run on 127.0.0.1: `migrate`, then
the simulator, the ASGI web server, N Celery worker processes and the beat scheduler.
What differs from the containers is only what a container gets from its own network
namespace and volume: ports (free loopback ports instead of 8000/8100 on 0.0.0.0), the
beat schedule's path, the interpreter, and each worker's node name (a container has a
hostname of its own; native workers on one machine would all be `celery@<host>`).

The environment is the containers' too (`STACK_ENVIRONMENT`): production settings, JSON
logs, hashed static files collected first (`COLLECTSTATIC`, the image's build step) into
the run's own directory, which stands in for the image's paths (`STACK_PATHS`). What an
operator's `.env` gives is made up per run: a random SECRET_KEY, loopback host names.
Production redirects plain HTTP to HTTPS unless a TLS proxy says the request came over
HTTPS; there is no proxy here, so every client of the stack sends the proxy's header
itself (`PROXY_HEADERS`: Playwright's `extra_http_headers`, the load test's httpx
clients) and the browser's origin, plain http://127.0.0.1:PORT, is a trusted CSRF
origin. Secure cookies still reach the server: Chromium treats loopback as a
potentially trustworthy origin and keeps and sends them over plain HTTP.

Every process runs in a process group of its own and is stopped at the end, pass or fail:
SIGTERM to the group, SIGKILL after a grace period, and a check that nothing of the group
is left. A SIGTERM to the runner itself is turned into an exception while the stack is up,
so `finally` blocks run on Ctrl-C, on a CI timeout's SIGTERM and on any error alike.

The database (`evolab_stack` by default) is dropped and created fresh at the start and
dropped at the end; the Redis database number (11 by default) is flushed both times. One
stack at a time per machine: a second runner waits for the first (a file lock).

This module imports nothing from Django: it starts Django processes, it is not one.
"""

from __future__ import annotations

import argparse
import atexit
import fcntl
import os
import secrets
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager, suppress
from dataclasses import dataclass, field
from pathlib import Path
from types import FrameType
from urllib.parse import urlsplit, urlunsplit

from evolab.core.stack import (
    COLLECTSTATIC,
    STACK_COMMANDS,
    STACK_ENVIRONMENT,
    STACK_OPERATOR_VARIABLES,
    STACK_PATHS,
    STACK_SERVICE_VARIABLES,
)

BASE_DIR = Path(__file__).resolve().parent.parent.parent
DEFAULT_PG_URL = "postgres://postgres@127.0.0.1:5432"
DEFAULT_DATABASE = "evolab_stack"
# Not 0 (a developer's own), nor 13 (make bench) or 14 (tests/reliability).
DEFAULT_REDIS_URL = "redis://127.0.0.1:6379/11"
START_TIMEOUT_S = 60.0
STOP_GRACE_S = 10.0
# What `native_commands` substitutes in STACK_COMMANDS; anything else stays as written.
CONTAINER_WEB_PORT = "8000"
CONTAINER_SIMULATOR_PORT = "8100"
CONTAINER_HOST = "0.0.0.0"
CONTAINER_BEAT_SCHEDULE = "/var/lib/evolab/celerybeat-schedule"
# What a TLS-terminating proxy adds to every request it forwards (settings:
# SECURE_PROXY_SSL_HEADER); the stack's clients send it themselves.
PROXY_HEADERS = {"X-Forwarded-Proto": "https"}
# The image's paths, and where they are in the runner's directory.
NATIVE_PATHS = {"EVOLAB_VAR_DIR": ".", "EVOLAB_STATIC_ROOT": "staticfiles"}
# Never passed on from the runner's own environment: they would make the stack
# something the containers are not.
NOT_INHERITED = frozenset({"CELERY_TASK_ALWAYS_EAGER", "DEBUG", "EVOLAB_SSL_REDIRECT"})


class StackError(RuntimeError):
    """A process of the stack did not start, or ended while it was needed."""


class StackInterrupted(SystemExit):
    """The runner got SIGTERM: unwind (and stop every process) as on Ctrl-C."""


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def native_commands(
    *, python: str, web_port: int, simulator_port: int, beat_schedule: Path, workers: int
) -> dict[str, list[str]]:
    """STACK_COMMANDS with the container-only parts swapped for this machine's.

    Fails if a part it substitutes is missing: then the container commands changed and
    the runner must follow them, rather than silently start something else."""
    swap = {
        "python": python,
        CONTAINER_HOST: "127.0.0.1",
        CONTAINER_BEAT_SCHEDULE: str(beat_schedule),
    }
    ports = {"web": {CONTAINER_WEB_PORT: str(web_port)}, "simulator": {CONTAINER_SIMULATOR_PORT: str(simulator_port)}}
    commands: dict[str, list[str]] = {}
    for name, argv in STACK_COMMANDS.items():
        mapping = {**swap, **ports.get(name, {})}
        for token in ports.get(name, {}):
            if token not in argv:
                raise StackError(f"STACK_COMMANDS[{name!r}] no longer has {token!r}: update the native runner")
        if argv[0] != "python":
            raise StackError(f"STACK_COMMANDS[{name!r}] does not start with python: {argv}")
        commands[name] = [mapping.get(token, token) for token in argv]
    if CONTAINER_BEAT_SCHEDULE not in STACK_COMMANDS["scheduler"]:
        raise StackError("STACK_COMMANDS['scheduler'] no longer names the beat schedule file: update the native runner")
    for index in range(1, workers + 1):
        commands[f"worker{index}"] = [*commands["worker"], "--hostname", f"worker{index}@%h"]
    del commands["worker"]
    return commands


def native_environment(
    *, base: Mapping[str, str], var_dir: Path, database_url: str, redis_url: str, simulator_url: str, web_url: str
) -> dict[str, str]:
    """The containers' environment for processes on this machine: `STACK_ENVIRONMENT`
    as it is, the image's paths moved into `var_dir`, the services' loopback URLs, and
    what an operator's `.env` would hold made up for this run; the rest of `base` (PATH,
    the virtualenv) passes through."""
    if set(NATIVE_PATHS) != set(STACK_PATHS):
        raise StackError(f"STACK_PATHS is now {sorted(STACK_PATHS)}: update the native runner's NATIVE_PATHS")
    operator = {
        "SECRET_KEY": secrets.token_urlsafe(50),
        "ALLOWED_HOSTS": "127.0.0.1,localhost",
        # The browser is on plain http://127.0.0.1:PORT while the server, told by the
        # proxy header that the request came over HTTPS, expects an https:// Origin.
        "CSRF_TRUSTED_ORIGINS": web_url,
    }
    services = {"DATABASE_URL": database_url, "REDIS_URL": redis_url, "EVOLAB_SIMULATOR_URL": simulator_url}
    if set(operator) != set(STACK_OPERATOR_VARIABLES) or set(services) != set(STACK_SERVICE_VARIABLES):
        raise StackError("the containers' variables changed (evolab/core/stack.py): update native_environment")
    return {
        **{key: value for key, value in base.items() if key not in NOT_INHERITED},
        "DJANGO_SETTINGS_MODULE": "evolab.settings",
        **STACK_ENVIRONMENT,
        **{key: str((var_dir / NATIVE_PATHS[key]).resolve()) for key in STACK_PATHS},
        **services,
        **operator,
    }


@dataclass
class StackProcess:
    name: str
    argv: list[str]
    log: Path
    process: subprocess.Popen[bytes] | None = None

    @property
    def alive(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def log_tail(self, lines: int = 40) -> str:
        if not self.log.exists():
            return "(no log)"
        tail = self.log.read_text(errors="replace").splitlines()[-lines:]
        return "\n".join(f"  {line}" for line in tail)


def group_alive(pgid: int) -> bool:
    """Whether any process of the group still runs (zombies do not count)."""
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except (OSError, IndexError):
            continue
        if int(fields[2]) == pgid and fields[0] != "Z":
            return True
    return False


def stop_group(process: subprocess.Popen[bytes], grace_s: float = STOP_GRACE_S) -> None:
    """SIGTERM the process group we started, SIGKILL it after `grace_s`, and wait until
    no process of it is left (a pool child can outlive its parent's exit)."""
    pgid = process.pid
    with suppress(ProcessLookupError):
        os.killpg(pgid, signal.SIGTERM)
    try:
        process.wait(grace_s)
    except subprocess.TimeoutExpired:
        with suppress(ProcessLookupError):
            os.killpg(pgid, signal.SIGKILL)
        process.wait()
    deadline = time.monotonic() + grace_s
    while group_alive(pgid):
        if time.monotonic() > deadline:
            with suppress(ProcessLookupError):
                os.killpg(pgid, signal.SIGKILL)
            deadline = time.monotonic() + grace_s
        time.sleep(0.05)


@dataclass
class Stack:
    """The running stack: its URLs, its environment (for management commands run
    against it) and its processes. Made by `running_stack`."""

    env: dict[str, str]
    web_url: str
    simulator_url: str
    log_dir: Path
    processes: dict[str, StackProcess] = field(default_factory=dict)

    @property
    def client_headers(self) -> dict[str, str]:
        """Headers for an HTTP client of the stack: the TLS proxy's, and the browser's
        Origin (a client without one meets the HTTPS Referer check on every POST)."""
        return {**PROXY_HEADERS, "Origin": self.web_url}

    def manage(self, *args: str, timeout: float = 120.0) -> str:
        """Run `python manage.py ARGS` against the stack's database; its stdout."""
        return self.python("manage.py", *args, timeout=timeout)

    def python(self, *args: str, timeout: float = 120.0, stdin: str | None = None) -> str:
        done = subprocess.run(
            [sys.executable, *args],
            cwd=BASE_DIR,
            env=self.env,
            input=stdin,
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
        )
        if done.returncode != 0:
            raise StackError(f"python {' '.join(args)} failed ({done.returncode}):\n{done.stdout}\n{done.stderr}")
        return done.stdout

    def check_alive(self) -> None:
        """Fail if a process of the stack has ended by itself."""
        dead = [proc for proc in self.processes.values() if not proc.alive]
        if dead:
            tails = "\n".join(f"--- {proc.name} ---\n{proc.log_tail()}" for proc in dead)
            raise StackError(f"stack process(es) ended: {', '.join(p.name for p in dead)}\n{tails}")

    def log_tails(self, lines: int = 30) -> str:
        return "\n".join(f"--- {proc.name} ---\n{proc.log_tail(lines)}" for proc in self.processes.values())


@contextmanager
def _exclusive() -> Iterator[None]:
    """One native stack at a time on this machine: they share the database name and Redis db."""
    with open(Path(tempfile.gettempdir()) / "evolab-stack.lock", "w") as lock:
        try:
            fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            print("Another native stack is running on this machine; waiting for it to stop.", flush=True)
            fcntl.flock(lock, fcntl.LOCK_EX)
        yield


@contextmanager
def _sigterm_unwinds() -> Iterator[None]:
    """While the stack is up, SIGTERM raises (in the main thread) so cleanup runs."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def handler(signum: int, frame: FrameType | None) -> None:
        raise StackInterrupted(128 + signum)

    previous = signal.signal(signal.SIGTERM, handler)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


def _reset_services(pg_url: str, database: str, redis_url: str) -> None:
    import psycopg
    import redis

    with psycopg.connect(f"{pg_url}/postgres", autocommit=True, connect_timeout=5) as connection:
        connection.execute(f'DROP DATABASE IF EXISTS "{database}" WITH (FORCE)')
        connection.execute(f'CREATE DATABASE "{database}"')
    client = redis.Redis.from_url(redis_url, socket_connect_timeout=5)
    try:
        client.flushdb()
    finally:
        client.close()


def _drop_services(pg_url: str, database: str, redis_url: str) -> None:
    import psycopg
    import redis

    with suppress(psycopg.Error), psycopg.connect(f"{pg_url}/postgres", autocommit=True, connect_timeout=5) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{database}" WITH (FORCE)')
    with suppress(redis.RedisError):
        client = redis.Redis.from_url(redis_url, socket_connect_timeout=5)
        client.flushdb()
        client.close()


def services_unavailable(pg_url: str = DEFAULT_PG_URL, redis_url: str = DEFAULT_REDIS_URL) -> str | None:
    """Why the stack cannot start here (PostgreSQL or Redis not answering), or None."""
    import psycopg
    import redis

    try:
        psycopg.connect(f"{pg_url}/postgres", connect_timeout=3).close()
    except psycopg.Error as error:
        return f"PostgreSQL is not answering at {pg_url} ({str(error).strip()})"
    try:
        redis.Redis.from_url(redis_url, socket_connect_timeout=3).ping()
    except redis.RedisError as error:
        return f"Redis is not answering at {redis_url} ({error})"
    return None


def _redis_db_url(redis_url: str) -> str:
    parts = urlsplit(redis_url)
    if not parts.path.strip("/").isdigit() or parts.path.strip("/") == "0":
        raise StackError(f"give the stack a Redis database of its own (not 0): {redis_url}")
    return urlunsplit(parts)


def _wait_http(url: str, proc: StackProcess, deadline: float) -> None:
    while True:
        if not proc.alive:
            raise StackError(f"{proc.name} exited while starting:\n{proc.log_tail()}")
        try:
            with urllib.request.urlopen(url, timeout=2) as response:
                if response.status == 200:
                    return
        except (OSError, urllib.error.HTTPError):
            pass
        if time.monotonic() > deadline:
            raise StackError(f"{proc.name} did not answer {url} in time:\n{proc.log_tail()}")
        time.sleep(0.1)


def _wait_log(proc: StackProcess, marker: bytes, deadline: float) -> None:
    while marker not in (proc.log.read_bytes() if proc.log.exists() else b""):
        if not proc.alive:
            raise StackError(f"{proc.name} exited while starting:\n{proc.log_tail()}")
        if time.monotonic() > deadline:
            raise StackError(f"{proc.name} not ready in time (no {marker!r} in its log):\n{proc.log_tail()}")
        time.sleep(0.05)


@contextmanager
def running_stack(
    *,
    log_dir: Path,
    workers: int = 2,
    pg_url: str = DEFAULT_PG_URL,
    database: str = DEFAULT_DATABASE,
    redis_url: str = DEFAULT_REDIS_URL,
    setup: Sequence[Sequence[str]] = (),
    simulator_args: Sequence[str] = (),
    env: Mapping[str, str] | None = None,
) -> Iterator[Stack]:
    """Start the stack, yield it once every process is ready, and stop it all at the end.

    `setup`: management commands run after `migrate` and `collectstatic` and before any
    other process starts (e.g. `["seed_demo"]`). `simulator_args` are appended to the simulator's command (a
    latency, so a run takes long enough to be watched). `env` adds environment variables
    for every process."""
    redis_url = _redis_db_url(redis_url)
    log_dir.mkdir(parents=True, exist_ok=True)
    with _exclusive(), _sigterm_unwinds(), tempfile.TemporaryDirectory(prefix="evolab-stack-") as var:
        web_port, simulator_port = free_port(), free_port()
        simulator_url = f"http://127.0.0.1:{simulator_port}"
        web_url = f"http://127.0.0.1:{web_port}"
        stack_env = {
            **native_environment(
                base=os.environ,
                var_dir=Path(var),
                database_url=f"{pg_url}/{database}",
                redis_url=redis_url,
                simulator_url=f"{simulator_url}/v1",
                web_url=web_url,
            ),
            **(env or {}),
        }
        commands = native_commands(
            python=sys.executable,
            web_port=web_port,
            simulator_port=simulator_port,
            beat_schedule=Path(var) / "celerybeat-schedule",
            workers=workers,
        )
        commands["simulator"] += list(simulator_args)
        stack = Stack(env=stack_env, web_url=web_url, simulator_url=simulator_url, log_dir=log_dir)
        atexit.register(_stop_all, stack)
        try:
            _reset_services(pg_url, database, redis_url)
            stack.python(*commands.pop("migrate")[1:])
            stack.python(*COLLECTSTATIC[1:])
            for args in setup:
                stack.manage(*args)
            deadline = time.monotonic() + START_TIMEOUT_S
            order = ["simulator", "web", *(f"worker{i}" for i in range(1, workers + 1)), "scheduler"]
            for name in order:
                proc = StackProcess(name, commands[name], log_dir / f"{name}.log")
                stack.processes[name] = proc
                with proc.log.open("wb") as log:
                    proc.process = subprocess.Popen(
                        proc.argv, cwd=BASE_DIR, env=stack_env, stdout=log, stderr=subprocess.STDOUT,
                        start_new_session=True,
                    )  # fmt: skip
                if name == "simulator":
                    # Started (and answering) before any worker: work queued by `setup`
                    # would otherwise meet a backend that is not up yet.
                    _wait_http(f"{simulator_url}/v1/models", proc, deadline)
            # Ready: the web process answers and reaches the database, broker and channel layer.
            _wait_http(f"{stack.web_url}/readyz", stack.processes["web"], deadline)
            for index in range(1, workers + 1):
                _wait_log(stack.processes[f"worker{index}"], b" ready.", deadline)
            _wait_log(stack.processes["scheduler"], b"beat: Starting", deadline)
            yield stack
        finally:
            _stop_all(stack)
            atexit.unregister(_stop_all)
            _drop_services(pg_url, database, redis_url)


def _stop_all(stack: Stack) -> None:
    """Stop every process, newest first (the scheduler and workers before the web server
    and the simulator they call); idempotent."""
    for proc in reversed(list(stack.processes.values())):
        if proc.process is not None:
            stop_group(proc.process)


def main(argv: Sequence[str] | None = None) -> None:
    """`python -m evolab.core.stack_runner`: start the stack with the demo seeded and
    keep it up until Ctrl-C (to look at it by hand)."""
    parser = argparse.ArgumentParser(prog="python -m evolab.core.stack_runner", description=main.__doc__)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--log-dir", type=Path, default=BASE_DIR / "var" / "stack")
    parser.add_argument("--redis-url", default=DEFAULT_REDIS_URL)
    parser.add_argument("--simulator-latency", default="150,400", help="MEDIAN_MS[,P95_MS]; 0 for none")
    args = parser.parse_args(argv)
    # A shell starts background jobs with SIGINT ignored; Ctrl-C must still stop the stack.
    signal.signal(signal.SIGINT, signal.default_int_handler)
    reason = services_unavailable(redis_url=args.redis_url)
    if reason:
        sys.exit(reason)
    with running_stack(
        log_dir=args.log_dir,
        workers=args.workers,
        redis_url=args.redis_url,
        setup=[["seed_demo"]],
        simulator_args=["--latency", args.simulator_latency],
        # A person's browser sends no proxy header: without this every page would be
        # redirected to an https:// address nothing serves. Production settings otherwise.
        env={"EVOLAB_SSL_REDIRECT": "0"},
    ) as stack:
        print(
            f"evolab stack up at {stack.web_url}/ (demo / evolab-demo); logs in {args.log_dir}; Ctrl-C stops it.",
            flush=True,
        )
        with suppress(KeyboardInterrupt):
            while True:
                stack.check_alive()
                time.sleep(1)


if __name__ == "__main__":
    main()
