"""The processes of a production deployment and their environment, written once.

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

# The environment every app container runs with, apart from the operator's `.env`
# (secrets, host names) and where the other services are: the image's defaults
# (docker/Dockerfile ENV) with what docker/compose.yml adds. The native runner starts
# every process with exactly these values, so CI runs the production settings (secure
# cookies, the HTTPS redirect behind the proxy header, hashed static files, JSON logs);
# tests/deploy/test_docker_files.py keeps the three equal.
STACK_ENVIRONMENT: dict[str, str] = {
    "EVOLAB_PRODUCTION": "1",
    "EVOLAB_LOG_FORMAT": "json",
    "PYTHONUNBUFFERED": "1",
}
# Paths inside the image (Dockerfile ENV): the var volume and the collected static files.
# The native runner puts both in a temporary directory of its own.
STACK_PATHS: dict[str, str] = {
    "EVOLAB_VAR_DIR": "/var/lib/evolab",
    "EVOLAB_STATIC_ROOT": "/app/staticfiles",
}
# Where the other services are: compose names its containers, the runner loopback ports.
STACK_SERVICE_VARIABLES: tuple[str, ...] = ("DATABASE_URL", "REDIS_URL", "EVOLAB_SIMULATOR_URL")
# The operator's, from `.env` in compose (settings.PRODUCTION_REQUIRED_ENV and the origins
# a TLS proxy serves); the runner makes its own (a random key, loopback hosts).
STACK_OPERATOR_VARIABLES: tuple[str, ...] = ("SECRET_KEY", "ALLOWED_HOSTS", "CSRF_TRUSTED_ORIGINS")

# Hashed, compressed static files: a build step of the image (a RUN in docker/Dockerfile),
# a setup step of the native runner, before any process serves a page.
COLLECTSTATIC: list[str] = ["python", "manage.py", "collectstatic", "--noinput"]
