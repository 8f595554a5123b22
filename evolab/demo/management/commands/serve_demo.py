"""Run the embedded stack in the foreground: web app (ASGI), a Celery worker and the
model simulator, until Ctrl-C. `make demo` calls this after migrating and seeding."""

from __future__ import annotations

import signal
import subprocess
import sys
import time
from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand, CommandParser

from evolab.demo.management.commands.seed_demo import DEMO_PASSWORD, DEMO_USER
from evolab.projects.presets import SIMULATOR_URL


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
            ],
            "web": [python, "-m", "uvicorn", "evolab.asgi:application", "--host", host, "--port", str(port)],
        }
        processes = {name: subprocess.Popen(cmd, cwd=settings.BASE_DIR) for name, cmd in commands.items()}
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
