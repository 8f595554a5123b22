"""Run the embedded stack in the foreground: web app (ASGI), a Celery worker (with beat,
which runs the runs reconciler) and the model simulator, until Ctrl-C. `make demo` calls
this after migrating and seeding.

The simulator starts first and the worker only once it answers: seed_demo queues a first
run, and a chunk sent to a backend that is not up yet would end as errored results."""

from __future__ import annotations

import signal
import subprocess
import sys
import time
import urllib.request
from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError, CommandParser

from evolab.demo.management.commands.seed_demo import DEMO_PASSWORD, DEMO_USER
from evolab.projects.presets import SIMULATOR_URL

SIMULATOR_START_TIMEOUT_S = 30


class Command(BaseCommand):
    help = "Start the web app, a Celery worker and the model simulator for the demo."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--host", default="127.0.0.1")
        parser.add_argument("--port", type=int, default=8000)

    def handle(self, *args: Any, host: str, port: int, **options: Any) -> None:
        python = sys.executable
        simulator_port = SIMULATOR_URL.rsplit(":", 1)[1].split("/")[0]
        commands = {
            "simulator": [
                python,
                "manage.py",
                "simulator",
                "--host",
                "127.0.0.1",
                "--port",
                simulator_port,
                "--profile",
                "minimax-m2.7",
                "--latency",
                "300,1200",
            ],
            "worker": [
                python,
                "-m",
                "celery",
                "-A",
                "evolab.celery",
                "worker",
                "--loglevel",
                "INFO",
                "--concurrency",
                "2",
                "--beat",
                "-s",
                str(settings.VAR_DIR / "celerybeat-schedule"),
            ],
            "web": [python, "-m", "uvicorn", "evolab.asgi:application", "--host", host, "--port", str(port)],
        }
        processes = {"simulator": subprocess.Popen(commands.pop("simulator"), cwd=settings.BASE_DIR)}
        if not self._wait_for_simulator(processes["simulator"]):
            processes["simulator"].terminate()
            processes["simulator"].wait(timeout=10)
            raise CommandError(
                f"The simulator did not answer at {SIMULATOR_URL}/models within {SIMULATOR_START_TIMEOUT_S} s."
            )
        processes.update({name: subprocess.Popen(cmd, cwd=settings.BASE_DIR) for name, cmd in commands.items()})
        url = f"http://{host}:{port}/"
        self.stdout.write(
            self.style.SUCCESS(
                f"\nevolab demo is starting at {url}\n"
                f"  log in as '{DEMO_USER}' with password '{DEMO_PASSWORD}'\n"
                f"  model backend: the simulator at {SIMULATOR_URL} (simulated, no network)\n"
                "  Ctrl-C stops everything.\n"
            )
        )
        stopping = False

        def stop(*_: object) -> None:
            nonlocal stopping
            stopping = True

        signal.signal(signal.SIGINT, stop)
        signal.signal(signal.SIGTERM, stop)
        try:
            while not stopping:
                for name, process in processes.items():
                    if process.poll() is not None:
                        self.stderr.write(f"{name} exited with code {process.returncode}; stopping the demo.")
                        stopping = True
                time.sleep(0.5)
        finally:
            for process in processes.values():
                if process.poll() is None:
                    process.terminate()
            for process in processes.values():
                try:
                    process.wait(timeout=10)
                except subprocess.TimeoutExpired:
                    process.kill()

    def _wait_for_simulator(self, process: subprocess.Popen[bytes]) -> bool:
        """True once the simulator's /v1/models answers; False if it exits or times out."""
        deadline = time.monotonic() + SIMULATOR_START_TIMEOUT_S
        while time.monotonic() < deadline and process.poll() is None:
            try:
                with urllib.request.urlopen(f"{SIMULATOR_URL.rstrip('/')}/models", timeout=1) as response:
                    if response.status == 200:
                        return True
            except OSError:
                pass
            time.sleep(0.2)
        return False
