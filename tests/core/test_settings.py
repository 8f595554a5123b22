"""Settings come from the environment; the embedded default needs nothing set."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from django.conf import settings

ROOT = Path(__file__).resolve().parents[2]


def _settings_value(expr: str, **env: str) -> subprocess.CompletedProcess[str]:
    clean = {
        k: v for k, v in os.environ.items() if k not in {"SECRET_KEY", "DATABASE_URL", "EVOLAB_PRODUCTION", "REDIS_URL"}
    }
    return subprocess.run(
        [sys.executable, "-c", f"import evolab.settings as s; print({expr})"],
        cwd=ROOT,
        env={**clean, **env},
        capture_output=True,
        text=True,
        check=False,
    )


def test_embedded_default_generates_and_keeps_a_secret_key(tmp_path: Path) -> None:
    first = _settings_value("s.SECRET_KEY", EVOLAB_VAR_DIR=str(tmp_path))
    second = _settings_value("s.SECRET_KEY", EVOLAB_VAR_DIR=str(tmp_path))
    assert first.returncode == 0, first.stderr
    assert first.stdout == second.stdout and len(first.stdout.strip()) > 40
    assert (tmp_path / "secret_key").stat().st_mode & 0o077 == 0


def test_embedded_default_uses_sqlite_in_wal_mode_and_the_file_broker(tmp_path: Path) -> None:
    result = _settings_value(
        "s.DATABASE_URL if False else (s.DATABASES['default']['ENGINE'], s.DATABASES['default']['OPTIONS']['transaction_mode'], s.CELERY_BROKER_URL)",
        EVOLAB_VAR_DIR=str(tmp_path),
    )
    assert result.stdout.strip() == "('django.db.backends.sqlite3', 'IMMEDIATE', 'filesystem://')"
    assert (tmp_path / "celery" / "queue").is_dir()


def test_database_url_and_redis_url_switch_to_the_servers(tmp_path: Path) -> None:
    result = _settings_value(
        "(s.DATABASES['default']['ENGINE'], s.CELERY_BROKER_URL, s.CHANNEL_LAYERS['default']['BACKEND'])",
        EVOLAB_VAR_DIR=str(tmp_path),
        DATABASE_URL="postgres://postgres@127.0.0.1:5432/evolab",
        REDIS_URL="redis://127.0.0.1:6379/0",
    )
    assert result.stdout.strip() == (
        "('django.db.backends.postgresql', 'redis://127.0.0.1:6379/0', 'channels_redis.core.RedisChannelLayer')"
    )


def test_passwords_use_argon2_outside_tests() -> None:
    result = _settings_value("s.PASSWORD_HASHERS[0]")
    assert result.stdout.strip() == "django.contrib.auth.hashers.Argon2PasswordHasher"


def test_celery_app_is_wired() -> None:
    from evolab.celery import app as celery_app

    assert celery_app.main == "evolab"
    assert celery_app.conf.task_acks_late is True
    assert celery_app.conf.worker_prefetch_multiplier == settings.CELERY_WORKER_PREFETCH_MULTIPLIER == 1


def test_asgi_application_routes_http_and_websockets() -> None:
    from evolab.asgi import application

    assert set(application.application_mapping) == {"http", "websocket"}
