"""Fixtures of the abuse-limit tests: the rate-limit stores, and the app served by uvicorn."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import redis
from django.conf import settings as django_settings

from tests.conftest import require_service
from tests.reliability.conftest import database_url, redis_url

SERVER_START_S = 30.0


def redis_available(url: str) -> bool:
    client = redis.Redis.from_url(url, socket_connect_timeout=0.5)
    try:
        return bool(client.ping())
    except redis.RedisError:
        return False
    finally:
        client.close()


@pytest.fixture(params=["database", "redis"])
def rate_store(request: pytest.FixtureRequest, settings: Any) -> str:
    """Each test runs on the embedded store (a database table) and on the Redis cache."""
    if request.param == "redis":
        url = redis_url()
        require_service(redis_available(url), f"Redis is not answering at {url}")
        settings.CACHES = {
            "default": {
                "BACKEND": "django.core.cache.backends.redis.RedisCache",
                "LOCATION": url,
                "KEY_PREFIX": f"evolab-abuse-{os.getpid()}",
            }
        }
        settings.EVOLAB_API_RATE_STORE = "cache"
    else:
        settings.EVOLAB_API_RATE_STORE = "database"
    return str(request.param)


def serve(tmp_path: Path, env: dict[str, str], workers: int = 2) -> tuple[str, subprocess.Popen[bytes], Path]:
    """uvicorn with `workers` processes on a socket this process opened, against the test
    database (the caller must be transactional). Returns its URL, process and log."""
    listener = socket.create_server(("127.0.0.1", 0))
    host, port = listener.getsockname()[:2]
    server_env = {
        **{key: value for key, value in os.environ.items() if key != "REDIS_URL"},
        "DJANGO_SETTINGS_MODULE": "evolab.settings",
        "DATABASE_URL": database_url(),
        "EVOLAB_VAR_DIR": str(tmp_path / "server-var"),
        "PYTHONUNBUFFERED": "1",
        **env,
    }
    log_path = tmp_path / "server.log"
    command = [
        sys.executable, "-m", "uvicorn", "evolab.asgi:application",
        "--fd", str(listener.fileno()), "--workers", str(workers), "--log-level", "warning",
    ]  # fmt: skip
    with log_path.open("wb") as log:
        process = subprocess.Popen(
            command,
            cwd=django_settings.BASE_DIR,
            env=server_env,
            stdout=log,
            stderr=subprocess.STDOUT,
            pass_fds=[listener.fileno()],
            start_new_session=True,
        )
    listener.close()
    url = f"http://{host}:{port}"
    deadline = time.monotonic() + SERVER_START_S
    while True:
        try:
            with urllib.request.urlopen(f"{url}/accounts/login/", timeout=2) as response:
                if response.status == 200:
                    return url, process, log_path
        except OSError:
            pass
        if process.poll() is not None or time.monotonic() > deadline:
            stop(process)
            raise AssertionError(f"uvicorn did not serve {url}:\n{log_path.read_text()[-3000:]}")
        time.sleep(0.1)


def stop(process: subprocess.Popen[bytes]) -> None:
    process.terminate()
    try:
        process.wait(timeout=10)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, 9)
        process.wait()


@pytest.fixture
def served(tmp_path: Path) -> Iterator[Any]:
    """Call `served(env)` to start the app; every server started is stopped afterwards."""
    started: list[subprocess.Popen[bytes]] = []

    def start(env: dict[str, str]) -> str:
        url, process, _ = serve(tmp_path, env)
        started.append(process)
        return url

    yield start
    for process in started:
        stop(process)
