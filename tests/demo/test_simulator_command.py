"""`manage.py simulator` starts a real OpenAI-compatible server that says it is simulated."""

from __future__ import annotations

import json
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def test_the_simulator_command_serves_chat_completions() -> None:
    port = _free_port()
    process = subprocess.Popen(
        [sys.executable, "manage.py", "simulator", "--port", str(port), "--profile", "minimax-m2.7", "--latency", "0"],
        cwd=ROOT,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/v1/models", timeout=1) as response:
                    assert response.headers["x-evolab-simulated"] == "true"
                    break
            except OSError:
                assert time.monotonic() < deadline, "the simulator did not start within 30 s"
                time.sleep(0.2)
        request = urllib.request.Request(
            f"http://127.0.0.1:{port}/v1/chat/completions",
            data=json.dumps(
                {
                    "model": "MiniMax-M2.7-sim",
                    "messages": [{"role": "user", "content": "What is 2 + 2?"}],
                    "temperature": 1.0,
                }
            ).encode(),
            headers={"Content-Type": "application/json"},
        )
        with urllib.request.urlopen(request, timeout=10) as response:
            body = json.loads(response.read())
        assert body["system_fingerprint"] == "evolab-simulator"
        assert body["usage"]["completion_tokens"] > 0
    finally:
        process.terminate()
        process.wait(timeout=10)
