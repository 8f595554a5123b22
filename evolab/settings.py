"""Settings, read from environment variables only.

The embedded default (no variables set) needs no server: SQLite and a file-based Celery
broker under `var/`, and a secret key generated into `var/` on first start. Production
(`EVOLAB_PRODUCTION=1`) requires SECRET_KEY and DATABASE_URL and hardens cookies.
"""

from __future__ import annotations

import os
import secrets
from pathlib import Path

import dj_database_url

BASE_DIR = Path(__file__).resolve().parent.parent


def env_bool(name: str, default: bool = False) -> bool:
    value = os.environ.get(name)
    if value is None:
        return default
    return value.strip().lower() in {"1", "true", "yes", "on"}


def env_list(name: str, default: str) -> list[str]:
    return [item.strip() for item in os.environ.get(name, default).split(",") if item.strip()]


PRODUCTION = env_bool("EVOLAB_PRODUCTION")
VAR_DIR = Path(os.environ.get("EVOLAB_VAR_DIR", BASE_DIR / "var")).resolve()
VAR_DIR.mkdir(parents=True, exist_ok=True)


def _secret_key() -> str:
    key = os.environ.get("SECRET_KEY")
    if key:
        return key
    if PRODUCTION:
        raise RuntimeError("SECRET_KEY must be set when EVOLAB_PRODUCTION=1")
    # Embedded default: generate once and keep it beside the database, so sessions
    # survive restarts without a secret ever living in the repository.
    path = VAR_DIR / "secret_key"
    if not path.exists():
        path.write_text(secrets.token_urlsafe(50))
        path.chmod(0o600)
    return path.read_text().strip()


SECRET_KEY = _secret_key()
DEBUG = env_bool("DEBUG")
ALLOWED_HOSTS = env_list("ALLOWED_HOSTS", "localhost,127.0.0.1,[::1],testserver")
CSRF_TRUSTED_ORIGINS = env_list("CSRF_TRUSTED_ORIGINS", "")

INSTALLED_APPS = [
    "daphne",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "whitenoise.runserver_nostatic",
    "django.contrib.staticfiles",
    "django.contrib.humanize",
    "channels",
    "django_htmx",
    "template_partials",
    "ninja",
    "evolab.core",
    "evolab.projects",
    "evolab.harnesses",
    "evolab.evals",
    "evolab.live",
    "evolab.runs",
    "evolab.evolution",
    "evolab.charts",
    "evolab.demo",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "django_htmx.middleware.HtmxMiddleware",
    "evolab.core.middleware.VaryOnHtmxMiddleware",
    "evolab.core.middleware.DomainErrorMiddleware",
    "evolab.core.middleware.ApiErrorFormatMiddleware",
]

ROOT_URLCONF = "evolab.urls"
WSGI_APPLICATION = "evolab.wsgi.application"
ASGI_APPLICATION = "evolab.asgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "builtins": ["template_partials.templatetags.partials"],
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
                "evolab.evolution.context_processors.nav_counts",
            ],
        },
    },
]

DATABASES = {
    "default": dj_database_url.parse(
        os.environ.get("DATABASE_URL", f"sqlite:///{VAR_DIR / 'evolab.sqlite3'}"),
        conn_max_age=int(os.environ.get("DB_CONN_MAX_AGE", "0")),
    )
}
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    # WAL lets the web process read while a worker writes; IMMEDIATE takes the write
    # lock at BEGIN, so concurrent writers wait (busy timeout) instead of failing.
    DATABASES["default"]["OPTIONS"] = {
        "transaction_mode": "IMMEDIATE",
        "timeout": 20,
        "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;",
    }
    # A file, not memory, so worker processes started by the reliability tests can share
    # it (they are given its path); one per test process, so parallel sessions never meet.
    DATABASES["default"]["TEST"] = {"NAME": str(VAR_DIR / f"test-evolab-{os.getpid()}.sqlite3")}

DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

PASSWORD_HASHERS = [
    "django.contrib.auth.hashers.Argon2PasswordHasher",
    "django.contrib.auth.hashers.PBKDF2PasswordHasher",
]
AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]
LOGIN_URL = "login"
LOGIN_REDIRECT_URL = "projects:list"
LOGOUT_REDIRECT_URL = "login"

LANGUAGE_CODE = "en-us"
TIME_ZONE = "UTC"
USE_I18N = False
USE_TZ = True

STATIC_URL = "/static/"
STATIC_ROOT = VAR_DIR / "static"
STATIC_ROOT.mkdir(exist_ok=True)  # WhiteNoise warns at startup when it is missing
STATICFILES_DIRS = [BASE_DIR / "static"]
STATICFILES_FINDERS = [
    "django.contrib.staticfiles.finders.FileSystemFinder",
    "django.contrib.staticfiles.finders.AppDirectoriesFinder",
    # js/vendor/plotly.min.js, straight from the installed plotly package.
    "evolab.core.staticfiles.PlotlyFinder",
]
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {
        "BACKEND": (
            "whitenoise.storage.CompressedManifestStaticFilesStorage"
            if PRODUCTION
            else "django.contrib.staticfiles.storage.StaticFilesStorage"
        )
    },
}
# Outside production WhiteNoise serves straight from the finders: no collectstatic step.
WHITENOISE_USE_FINDERS = not PRODUCTION

REDIS_URL = os.environ.get("REDIS_URL", "")

# The environment variables a backend may name as its API key. Owners choose the name,
# the operator decides which names exist: otherwise any project owner could point a
# backend at their own server and have a worker send it SECRET_KEY or DATABASE_URL.
EVOLAB_BACKEND_KEY_VARS = env_list("EVOLAB_BACKEND_KEY_VARS", "MINIMAX_API_KEY,OPENAI_API_KEY")
EVOLAB_BACKEND_KEY_PREFIX = os.environ.get("EVOLAB_BACKEND_KEY_PREFIX", "EVOLAB_KEY_")
NINJA_PAGINATION_MAX_LIMIT = 500

CELERY_TASK_IGNORE_RESULT = True
CELERY_TASK_ACKS_LATE = True
CELERY_TASK_REJECT_ON_WORKER_LOST = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
# After a pool child dies, give up its job after 2 s instead of 10: results are not
# kept, and the chunk's lease (not the message) decides what happens to the work.
CELERY_WORKER_LOST_WAIT = 2.0
CELERY_TASK_ALWAYS_EAGER = env_bool("CELERY_TASK_ALWAYS_EAGER")
if REDIS_URL:
    CELERY_BROKER_URL = REDIS_URL
    CELERY_BROKER_TRANSPORT_OPTIONS: dict[str, object] = {"visibility_timeout": 300}
else:
    _broker_dir = VAR_DIR / "celery"
    for _sub in ("queue", "control", "processed"):
        (_broker_dir / _sub).mkdir(parents=True, exist_ok=True)
    CELERY_BROKER_URL = "filesystem://"
    CELERY_BROKER_TRANSPORT_OPTIONS = {
        "data_folder_in": str(_broker_dir / "queue"),
        "data_folder_out": str(_broker_dir / "queue"),
        "control_folder": str(_broker_dir / "control"),
        "processed_folder": str(_broker_dir / "processed"),
        "store_processed": False,
        "polling_interval": 0.1,
    }

# The reconciler re-enqueues chunks whose worker died; beat runs it (`celery worker --beat`
# in the embedded demo, a separate scheduler in production).
CELERY_BEAT_SCHEDULE = {
    "runs-reconcile": {"task": "runs.reconcile", "schedule": 5.0},
    "evolution-reconcile": {"task": "evolution.reconcile", "schedule": 5.0},
}

# Run execution: results per chunk, the lease a worker holds on a chunk (renewed while it
# works), how long one chunk task may keep starting results, and how many unclean ends a
# chunk survives before it is failed.
EVOLAB_RUN_CHUNK_SIZE = int(os.environ.get("EVOLAB_RUN_CHUNK_SIZE", "100"))
EVOLAB_CHUNK_LEASE_S = float(os.environ.get("EVOLAB_CHUNK_LEASE_S", "30"))
EVOLAB_CHUNK_BUDGET_S = float(os.environ.get("EVOLAB_CHUNK_BUDGET_S", "20"))
EVOLAB_CHUNK_MAX_ATTEMPTS = int(os.environ.get("EVOLAB_CHUNK_MAX_ATTEMPTS", "3"))
EVOLAB_CHUNK_REQUEUE_S = float(os.environ.get("EVOLAB_CHUNK_REQUEUE_S", "30"))

# Evolution campaigns: the lease one step holds on its campaign (a step may wait for a
# proposer model, so it is long), how often a waiting campaign looks at its runs, and how
# long a step message may be overdue before the reconciler sends another.
EVOLAB_CAMPAIGN_STEP_LEASE_S = float(os.environ.get("EVOLAB_CAMPAIGN_STEP_LEASE_S", "180"))
EVOLAB_CAMPAIGN_POLL_S = float(os.environ.get("EVOLAB_CAMPAIGN_POLL_S", "1"))
EVOLAB_CAMPAIGN_REQUEUE_S = float(os.environ.get("EVOLAB_CAMPAIGN_REQUEUE_S", "30"))

CHANNEL_LAYERS = {
    "default": (
        {"BACKEND": "channels_redis.core.RedisChannelLayer", "CONFIG": {"hosts": [REDIS_URL]}}
        if REDIS_URL
        else {"BACKEND": "channels.layers.InMemoryChannelLayer"}
    )
}

# Review notifications are also emailed to people who have an address. The demo prints
# them on the console; production points EMAIL_BACKEND at SMTP (EMAIL_HOST, EMAIL_PORT,
# EMAIL_HOST_USER, EMAIL_HOST_PASSWORD, EMAIL_USE_TLS, all from the environment).
EMAIL_BACKEND = os.environ.get("EMAIL_BACKEND", "django.core.mail.backends.console.EmailBackend")
DEFAULT_FROM_EMAIL = os.environ.get("DEFAULT_FROM_EMAIL", "evolab <evolab@localhost>")
EMAIL_HOST = os.environ.get("EMAIL_HOST", "localhost")
EMAIL_PORT = int(os.environ.get("EMAIL_PORT", "25"))
EMAIL_HOST_USER = os.environ.get("EMAIL_HOST_USER", "")
EMAIL_HOST_PASSWORD = os.environ.get("EMAIL_HOST_PASSWORD", "")
EMAIL_USE_TLS = env_bool("EMAIL_USE_TLS")

SESSION_COOKIE_SECURE = PRODUCTION
CSRF_COOKIE_SECURE = PRODUCTION
SESSION_COOKIE_HTTPONLY = True
X_FRAME_OPTIONS = "DENY"
SECURE_CONTENT_TYPE_NOSNIFF = True
SECURE_REFERRER_POLICY = "same-origin"

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "handlers": {"console": {"class": "logging.StreamHandler"}},
    "root": {"handlers": ["console"], "level": os.environ.get("LOG_LEVEL", "INFO")},
    # One line per model request would drown everything else (and cost CPU per call).
    "loggers": {name: {"level": "WARNING"} for name in ("httpx", "httpx2", "httpcore", "openai")},
}
