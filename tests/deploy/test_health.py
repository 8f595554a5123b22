"""/healthz and /readyz: in-process for the probes' contract, and against a real uvicorn
server on a Redis of this test's own (never the machine's: other work uses it), stopped
half-way to see /readyz name it."""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest
from django.conf import settings
from django.test import Client

from tests.conftest import require_service


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def test_healthz_needs_no_database() -> None:
    # No django_db mark: any database access here raises.
    response = Client().get("/healthz", HTTP_HOST="any-host.invalid")
    assert response.status_code == 200 and response.json() == {"status": "ok"}
    assert response["Cache-Control"] == "no-store"


@pytest.mark.django_db
def test_readyz_is_ready_when_everything_answers() -> None:
    response = Client().get("/readyz")
    body = response.json()
    assert response.status_code == 200, body
    assert body["status"] == "ready" and body["failed"] == []
    assert set(body["checks"]) == {"database", "broker", "channel_layer"}


@pytest.mark.django_db
def test_readyz_names_what_failed_without_its_message(settings: object) -> None:
    settings.CHANNEL_LAYERS = {"default": {"BACKEND": "no.such.Layer"}}  # type: ignore[attr-defined]
    response = Client().get("/readyz")
    body = response.json()
    assert response.status_code == 503
    assert body["failed"] == ["channel_layer"]
    assert body["checks"]["channel_layer"]["detail"].startswith("failed: ")
    assert "no.such" not in json.dumps(body)


@pytest.fixture
def own_redis(tmp_path: Path) -> Iterator[tuple[str, subprocess.Popen[bytes]]]:
    server = shutil.which("redis-server")
    require_service(server is not None, "redis-server is not installed")
    port = free_port()
    process = subprocess.Popen(
        [server or "redis-server", "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no",
         "--dir", str(tmp_path)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        deadline = time.monotonic() + 10
        while True:
            try:
                socket.create_connection(("127.0.0.1", port), timeout=0.5).close()
                break
            except OSError:
                assert time.monotonic() < deadline, "redis-server did not start"
                time.sleep(0.05)
        yield f"redis://127.0.0.1:{port}/0", process
    finally:
        process.terminate()
        process.wait(timeout=10)


def _get(url: str) -> tuple[int, dict[str, object]]:
    try:
        with urllib.request.urlopen(url, timeout=10) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as error:
        return error.code, json.loads(error.read())


def test_readyz_reports_a_stopped_redis_as_not_ready(own_redis: tuple[str, subprocess.Popen[bytes]], tmp_path: Path) -> None:
    redis_url, redis_process = own_redis
    listener = socket.create_server(("127.0.0.1", 0))
    port = listener.getsockname()[1]
    env = {
        **{key: value for key, value in os.environ.items() if not key.startswith("EVOLAB_")},
        "DJANGO_SETTINGS_MODULE": "evolab.settings",
        "REDIS_URL": redis_url,
        "EVOLAB_VAR_DIR": str(tmp_path / "var"),
        "EVOLAB_READY_TIMEOUT_S": "2",
    }
    env.pop("DATABASE_URL", None)  # a SQLite file of its own: SELECT 1 needs no tables
    web = subprocess.Popen(
        [sys.executable, "-m", "uvicorn", "evolab.asgi:application", "--fd", str(listener.fileno())],
        cwd=settings.BASE_DIR,
        env=env,
        pass_fds=[listener.fileno()],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    listener.close()
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                status, body = _get(f"{base}/readyz")
                break
            except OSError:
                assert web.poll() is None and time.monotonic() < deadline, "uvicorn did not start"
                time.sleep(0.1)
        assert status == 200, body
        assert body["checks"]["channel_layer"]["detail"] == "RedisChannelLayer"  # type: ignore[index]

        redis_process.terminate()
        redis_process.wait(timeout=10)
        started = time.monotonic()
        status, body = _get(f"{base}/readyz")
        assert time.monotonic() - started < 5, "a dead Redis must not hang the probe"
        assert status == 503
        assert body["status"] == "not ready"
        assert body["failed"] == ["broker", "channel_layer"]
        assert body["checks"]["database"]["ok"] is True  # type: ignore[index]
        assert _get(f"{base}/healthz") == (200, {"status": "ok"})  # alive all the same
    finally:
        web.terminate()
        try:
            web.wait(timeout=10)
        except subprocess.TimeoutExpired:
            web.kill()
            web.wait()
