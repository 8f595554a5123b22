"""Settings, read from environment variables only.

The embedded default (no variables set) needs no server: SQLite and a file-based Celery
broker under `var/`, and a secret key generated into `var/` on first start. Production
(`EVOLAB_PRODUCTION=1`) requires SECRET_KEY, DATABASE_URL and ALLOWED_HOSTS, and turns on
HTTPS-only cookies, HSTS and the HTTPS redirect (behind a proxy that sets
X-Forwarded-Proto); it passes `manage.py check --deploy --fail-level WARNING`. Every
variable read here is documented in `.env.example`.
"""

from __future__ import annotations

import os
import secrets
from pathlib import Path

import dj_database_url
from django.core.exceptions import ImproperlyConfigured

from evolab.core.logging import logging_config

BASE_DIR = Path(__file__).resolve().parent.parent


def env_bool(name: str, default: bool = False) -> bool:
    value = os.environ.get(name)
    if value is None:
        return default
    return value.strip().lower() in {"1", "true", "yes", "on"}


def env_list(name: str, default: str) -> list[str]:
    return [item.strip() for item in os.environ.get(name, default).split(",") if item.strip()]


PRODUCTION = env_bool("EVOLAB_PRODUCTION")
# What production cannot guess: without them it would sign sessions with a throw-away key,
# keep its data in a SQLite file inside the container, or answer for any host name.
PRODUCTION_REQUIRED_ENV = ("SECRET_KEY", "DATABASE_URL", "ALLOWED_HOSTS")
if PRODUCTION and (_missing := [name for name in PRODUCTION_REQUIRED_ENV if not os.environ.get(name)]):
    raise ImproperlyConfigured(f"EVOLAB_PRODUCTION=1 needs {', '.join(_missing)} (see .env.example)")
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
# An htmx request refused for CSRF gets a short message its page shows (static/js/csrf.js).
CSRF_FAILURE_VIEW = "evolab.core.csrf.csrf_failure"

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
    "csp",
    "evolab.core",
    "evolab.projects",
    "evolab.harnesses",
    "evolab.evals",
    "evolab.live",
    "evolab.runs",
    "evolab.leakage",
    "evolab.evolution",
    "evolab.labeling",
    "evolab.charts",
    "evolab.demo",
    "evolab.archives",
]

MIDDLEWARE = [
    # First: probes are answered before host checks and the HTTPS redirect (see health_views).
    "evolab.core.health_views.HealthCheckMiddleware",
    "evolab.core.request_id.RequestIdMiddleware",
    "django.middleware.security.SecurityMiddleware",
    "csp.middleware.CSPMiddleware",
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
# The image collects static files at build time into EVOLAB_STATIC_ROOT, outside the var
# volume: a volume would keep the previous release's files across an upgrade.
STATIC_ROOT = Path(os.environ.get("EVOLAB_STATIC_ROOT", VAR_DIR / "static")).resolve()
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

# A case is flagged flaky on its page when, among runs with two or more samples, this
# share of runs has samples that disagree (some pass, some fail), or when the mean
# within-run variance of its sample scores reaches the second figure (engine/case_stats.py).
EVOLAB_FLAKY_DISAGREE_FRACTION = float(os.environ.get("EVOLAB_FLAKY_DISAGREE_FRACTION", "0.25"))
EVOLAB_FLAKY_VARIANCE = float(os.environ.get("EVOLAB_FLAKY_VARIANCE", "0.1"))

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

# ---------------------------------------------------------------- HTTPS and browser security
# Production sits behind a TLS-terminating proxy that sets X-Forwarded-Proto (uvicorn runs
# with --proxy-headers): plain HTTP is redirected, cookies are HTTPS-only, HSTS is sent.
SESSION_COOKIE_SECURE = PRODUCTION
CSRF_COOKIE_SECURE = PRODUCTION
SESSION_COOKIE_HTTPONLY = True
X_FRAME_OPTIONS = "DENY"
SECURE_CONTENT_TYPE_NOSNIFF = True
SECURE_REFERRER_POLICY = "same-origin"
SECURE_CROSS_ORIGIN_OPENER_POLICY = "same-origin"
if PRODUCTION:
    SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
    SECURE_SSL_REDIRECT = env_bool("EVOLAB_SSL_REDIRECT", True)
    # A year by default; start lower (e.g. 3600) while trying a new domain: browsers
    # remember the answer and will refuse plain HTTP for that long.
    SECURE_HSTS_SECONDS = int(os.environ.get("EVOLAB_HSTS_SECONDS", "31536000"))
    SECURE_HSTS_INCLUDE_SUBDOMAINS = env_bool("EVOLAB_HSTS_INCLUDE_SUBDOMAINS", True)
    SECURE_HSTS_PRELOAD = env_bool("EVOLAB_HSTS_PRELOAD", True)

# Content-Security-Policy, sent in every mode (the demo and the tests too, so a page that
# needs an inline script breaks where people look). Scripts come only from our static
# files: no inline <script>, no on*= handlers, no hx-on, no eval; data reaches scripts as
# data-* attributes or json_script blocks; plotly needs no 'unsafe-eval'. Styles: htmx
# inserts its indicator <style> and plotly.js writes <style> rules and style attributes
# on every page that draws (tests/e2e/test_csp.py saw both blocked under 'self' alone),
# so style-src allows 'unsafe-inline': styles cannot run code; scripts stay strict.
# Websockets are same-origin ('self' covers ws/wss).
CONTENT_SECURITY_POLICY = {
    "DIRECTIVES": {
        "default-src": ["'self'"],
        "script-src": ["'self'"],
        "style-src": ["'self'", "'unsafe-inline'"],
        "img-src": ["'self'", "data:"],
        "font-src": ["'self'"],
        "connect-src": ["'self'"],
        "object-src": ["'none'"],
        "base-uri": ["'none'"],
        "form-action": ["'self'"],
        "frame-ancestors": ["'none'"],
    }
}

# ---------------------------------------------------------------- logging
# EVOLAB_LOG_FORMAT=json writes one JSON object per line (request id, run/chunk/campaign
# id when in a task); `text` is for terminals. Credentials are scrubbed from every record.
EVOLAB_LOG_FORMAT = os.environ.get("EVOLAB_LOG_FORMAT", "text")
LOGGING = logging_config(log_format=EVOLAB_LOG_FORMAT, level=os.environ.get("LOG_LEVEL", "INFO"))
# Celery keeps this configuration (and its filters) instead of installing its own handler.
CELERY_WORKER_HIJACK_ROOT_LOGGER = False

# ---------------------------------------------------------------- health and operations
# /readyz gives each check (database, broker, channel layer) this long to answer.
EVOLAB_READY_TIMEOUT_S = float(os.environ.get("EVOLAB_READY_TIMEOUT_S", "2"))
# Each worker writes a heartbeat row this often; the operations page counts a worker
# online while its last beat is younger than three intervals.
EVOLAB_WORKER_HEARTBEAT_S = float(os.environ.get("EVOLAB_WORKER_HEARTBEAT_S", "10"))

# ---------------------------------------------------------------- abuse limits
# Login lockout (django-axes), API rate limits and upload sizes; all tunable from the
# environment. See evolab/core/ratelimit.py, evolab/core/uploads.py, evolab/core/lockout.py.
INSTALLED_APPS += ["axes"]
# Last, as axes asks: it turns a lockout flagged during authentication into the login page.
MIDDLEWARE += ["axes.middleware.AxesMiddleware"]
AUTHENTICATION_BACKENDS = [
    "evolab.core.lockout.LoginLockoutBackend",
    "django.contrib.auth.backends.ModelBackend",
]
# Five failed logins lock that username from that address (the pair, so a stranger cannot
# lock a colleague out from elsewhere) for the cool-off, in minutes; a success resets the count.
AXES_FAILURE_LIMIT = int(os.environ.get("EVOLAB_LOGIN_FAILURE_LIMIT", "5"))
AXES_COOLOFF_TIME = float(os.environ.get("EVOLAB_LOGIN_COOLOFF_MIN", "15")) / 60  # axes counts hours
AXES_LOCKOUT_PARAMETERS = [["username", "ip_address"]]
AXES_RESET_ON_SUCCESS = True
AXES_LOCKOUT_CALLABLE = "evolab.core.lockout.lockout_response"
AXES_VERBOSE = False

# A shared cache when Redis is there (several web processes must see one counter).
CACHES: dict[str, dict[str, object]] = {
    "default": (
        {"BACKEND": "django.core.cache.backends.redis.RedisCache", "LOCATION": REDIS_URL, "KEY_PREFIX": "evolab"}
        if REDIS_URL
        # Files, not process memory: the worker caches what the web process reads (the
        # compare view's run digests, computed when a run completes).
        else {
            "BACKEND": "django.core.cache.backends.filebased.FileBasedCache",
            "LOCATION": str(VAR_DIR / "cache"),
            "OPTIONS": {"MAX_ENTRIES": 2000},
        }
    )
}
# Requests per bearer token, "N/sec|min|hour" or "off". Counted in the cache when it is
# Redis (atomic INCR), otherwise in a database table with one atomic upsert per request.
EVOLAB_API_RATE_LIMIT = os.environ.get("EVOLAB_API_RATE_LIMIT", "600/min")
EVOLAB_API_RATE_STORE = os.environ.get("EVOLAB_API_RATE_STORE", "cache" if REDIS_URL else "database")

# Uploads: a file over EVOLAB_MAX_UPLOAD_MB is refused with its size and the limit; other
# request bodies (JSON, form fields) over DATA_UPLOAD_MAX_MEMORY_SIZE answer 413.
EVOLAB_MAX_UPLOAD_MB = float(os.environ.get("EVOLAB_MAX_UPLOAD_MB", "20"))
DATA_UPLOAD_MAX_MEMORY_SIZE = int(float(os.environ.get("EVOLAB_MAX_BODY_MB", "5")) * 1024 * 1024)
FILE_UPLOAD_MAX_MEMORY_SIZE = 2 * 1024 * 1024  # larger files are spooled to a temporary file
