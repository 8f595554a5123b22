"""The processes of a production deployment, written once.

docker/compose.yml runs exactly these commands in its services (a test parses it and
compares), and the native stack runner of CI starts the same ones, substituting only
ports and paths: what CI proves is what the containers run.
"""

from __future__ import annotations

STACK_COMMANDS: dict[str, list[str]] = {
    "migrate": ["python", "manage.py", "migrate", "--noinput"],
    "web": [
        "python",
        "-m",
        "uvicorn",
        "evolab.asgi:application",
        "--host",
        "0.0.0.0",
        "--port",
        "8000",
        "--proxy-headers",
        "--forwarded-allow-ips=*",
    ],
    "worker": ["python", "-m", "celery", "-A", "evolab.celery", "worker", "--loglevel", "INFO", "--concurrency", "2"],
    "scheduler": [
        "python",
        "-m",
        "celery",
        "-A",
        "evolab.celery",
        "beat",
        "--loglevel",
        "INFO",
        "--schedule",
        "/var/lib/evolab/celerybeat-schedule",
    ],
    "simulator": [
        "python",
        "manage.py",
        "simulator",
        "--host",
        "0.0.0.0",
        "--port",
        "8100",
        "--profile",
        "minimax-m2.7",
    ],
}
