"""docker/Dockerfile, docker/compose.yml and .env.example agree with the code: the same
commands as the native stack (STACK_COMMANDS), the same environment variables as
settings, a non-root runtime, every directory the app needs, probes that exist."""

from __future__ import annotations

import re
import shlex
from pathlib import Path
from typing import Any

import pytest
import yaml
from django.conf import settings
from django.urls import Resolver404, resolve

from evolab.core.stack import (
    COLLECTSTATIC,
    STACK_COMMANDS,
    STACK_ENVIRONMENT,
    STACK_OPERATOR_VARIABLES,
    STACK_PATHS,
    STACK_SERVICE_VARIABLES,
)
from evolab.core.stack_runner import native_environment

ROOT = Path(settings.BASE_DIR)
DOCKERFILE = ROOT / "docker" / "Dockerfile"
COMPOSE = ROOT / "docker" / "compose.yml"
ENV_EXAMPLE = ROOT / ".env.example"

# Variables that are not the app's: compose interpolation and the postgres image.
COMPOSE_ONLY = {"POSTGRES_PASSWORD", "POSTGRES_USER", "POSTGRES_DB", "EVOLAB_IMAGE", "EVOLAB_HTTP_PORT"}
# Read by code, but not configuration: the settings module name (manage.py sets it).
NOT_CONFIGURATION = {"DJANGO_SETTINGS_MODULE"}
APP_SERVICES = ("migrate", "web", "worker", "scheduler", "simulator")

_READ = re.compile(r"""(?:os\.environ\.get|os\.getenv|env_bool|env_list|os\.environ\[)\(?\s*["']([A-Z][A-Z0-9_]+)["']""")
_NAMED = re.compile(r"""_ENV\s*=\s*["']([A-Z][A-Z0-9_]+)["']""")
_INTERPOLATED = re.compile(r"\$\{([A-Z][A-Z0-9_]*)")


def app_variables() -> set[str]:
    """Every environment variable the app's code reads."""
    names: set[str] = set()
    for path in (ROOT / "evolab").rglob("*.py"):
        text = path.read_text()
        names.update(_READ.findall(text))
        names.update(_NAMED.findall(text))
    # The key variables a backend may name, by default (settings: EVOLAB_BACKEND_KEY_VARS).
    names.update(settings.EVOLAB_BACKEND_KEY_VARS)
    return names - NOT_CONFIGURATION


def env_example() -> tuple[set[str], set[str]]:
    """(variables set, variables shown commented out) in .env.example."""
    set_names, shown = set(), set()
    for line in ENV_EXAMPLE.read_text().splitlines():
        if match := re.match(r"^([A-Z][A-Z0-9_]*)=", line):
            set_names.add(match.group(1))
        elif match := re.match(r"^#\s?([A-Z][A-Z0-9_]*)=", line):
            shown.add(match.group(1))
    return set_names, shown


@pytest.fixture(scope="module")
def compose() -> dict[str, Any]:
    return yaml.safe_load(COMPOSE.read_text())


def dockerfile_stages() -> list[list[str]]:
    """Instructions per stage, continuation lines joined."""
    text = re.sub(r"\\\n", " ", DOCKERFILE.read_text())
    stages: list[list[str]] = []
    for line in text.splitlines():
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        if line.upper().startswith("FROM "):
            stages.append([])
        if stages:
            stages[-1].append(line)
    return stages


def test_every_service_runs_the_stack_command(compose: dict[str, Any]) -> None:
    services = compose["services"]
    assert set(APP_SERVICES) <= set(services)
    for name in APP_SERVICES:
        assert services[name]["command"] == STACK_COMMANDS[name], name
    assert set(STACK_COMMANDS) == set(APP_SERVICES)


def test_the_image_default_command_is_the_web_command() -> None:
    runtime = dockerfile_stages()[-1]
    cmd = next(line for line in runtime if line.startswith("CMD "))
    assert yaml.safe_load(cmd[4:]) == STACK_COMMANDS["web"]


def test_workers_scale_and_the_simulator_is_optional(compose: dict[str, Any]) -> None:
    worker = compose["services"]["worker"]
    assert "container_name" not in worker and "ports" not in worker
    assert compose["services"]["simulator"]["profiles"] == ["simulator"]
    for name in ("web", "worker", "scheduler"):
        depends = compose["services"][name]["depends_on"]
        assert depends["migrate"]["condition"] == "service_completed_successfully"
        assert depends["postgres"]["condition"] == depends["redis"]["condition"] == "service_healthy"
    assert compose["services"]["migrate"]["restart"] == "no"


def test_the_runtime_is_multi_stage_and_not_root() -> None:
    stages = dockerfile_stages()
    assert len(stages) >= 2, "a builder stage and a runtime stage"
    runtime = stages[-1]
    users = [line.split(None, 1)[1] for line in runtime if line.startswith("USER ")]
    assert users and users[-1] not in {"root", "0", "0:0"}
    # collectstatic runs as that user, in production mode (hashed, compressed files).
    assert any("collectstatic" in line for line in runtime[runtime.index(f"USER {users[-1]}") :])
    assert any("EVOLAB_PRODUCTION=1" in line for line in runtime if line.startswith("ENV "))
    assert not any("build-essential" in line for line in runtime), "compilers stay in the builder"


def test_the_image_holds_every_directory_the_app_needs() -> None:
    copied = set()
    for line in dockerfile_stages()[-1]:
        if line.startswith("COPY ") and "--from=" not in line:
            parts = [part for part in shlex.split(line)[1:] if not part.startswith("--")]
            copied.update(Path(part).parts[0] for part in parts[:-1])
    needed = {"manage.py", settings.ROOT_URLCONF.split(".")[0]}
    for directory in [*settings.STATICFILES_DIRS, *settings.TEMPLATES[0]["DIRS"]]:
        needed.add(Path(directory).relative_to(ROOT).parts[0])
    assert needed <= copied, f"not copied into the image: {sorted(needed - copied)}"
    ignored = (ROOT / "docker" / "Dockerfile.dockerignore").read_text().split()
    assert not needed & set(ignored)


def test_healthchecks_probe_routed_paths(compose: dict[str, Any]) -> None:
    probed = []
    for service in compose["services"].values():
        if "healthcheck" in service and service.get("image", "").startswith("${EVOLAB_IMAGE"):
            probed += re.findall(r"http://127\.0\.0\.1:8000(/[\w/]*)", " ".join(service["healthcheck"]["test"]))
    assert probed == ["/healthz"]
    for path in probed:
        try:
            resolve(path)
        except Resolver404:  # pragma: no cover - the assertion below explains
            pytest.fail(f"{path} is not routed")


def test_every_variable_in_compose_and_env_example_is_read_by_the_app(compose: dict[str, Any]) -> None:
    known = app_variables() | COMPOSE_ONLY
    set_names, shown = env_example()
    assert not (set_names | shown) - known, f".env.example documents unknown variables: {sorted((set_names | shown) - known)}"
    referenced = set(_INTERPOLATED.findall(COMPOSE.read_text()))
    for name in APP_SERVICES:
        referenced.update(compose["services"][name].get("environment", {}))
    referenced.update(compose["services"]["postgres"]["environment"])
    assert not referenced - known, f"compose sets variables nothing reads: {sorted(referenced - known)}"


def test_env_example_documents_every_variable_the_app_reads() -> None:
    set_names, shown = env_example()
    missing = app_variables() - set_names - shown
    assert not missing, f"read by the app but not in .env.example: {sorted(missing)}"


def test_required_production_variables_are_given(compose: dict[str, Any]) -> None:
    set_names, _ = env_example()
    for name in settings.PRODUCTION_REQUIRED_ENV:
        assert name in set_names, f"{name} must be set (not commented) in .env.example"
    for service in APP_SERVICES:
        # Each app service gets .env, and compose itself supplies the database and broker.
        assert compose["services"][service]["env_file"] == ["../.env"]
    environment = compose["services"]["web"]["environment"]
    assert environment["EVOLAB_PRODUCTION"] == "1"
    assert environment["DATABASE_URL"].startswith("postgres://") and environment["REDIS_URL"].startswith("redis://")


def image_environment() -> dict[str, str]:
    """The runtime stage's ENV, as every container starts with it."""
    variables: dict[str, str] = {}
    for line in dockerfile_stages()[-1]:
        if line.startswith("ENV "):
            for word in shlex.split(line[4:]):
                key, _, value = word.partition("=")
                variables[key] = value
    return variables


# The image's own settings for pip and the interpreter: not the app's environment.
IMAGE_ONLY = {"PYTHONDONTWRITEBYTECODE", "PIP_NO_CACHE_DIR", "PIP_DISABLE_PIP_VERSION_CHECK"}
LONG_RUNNING = ("web", "worker", "scheduler")


def test_the_containers_and_the_native_runner_share_one_environment(compose: dict[str, Any]) -> None:
    """What CI runs natively is what the containers run: each long-running service's
    environment (the image's ENV with compose's `environment` over it) holds exactly the
    shared constants, the image's paths and the service addresses; the runner sets the
    same constants, its own paths and addresses, and what an operator's .env holds."""
    image = image_environment()
    assert {key: image[key] for key in STACK_PATHS} == STACK_PATHS
    for name in LONG_RUNNING:
        service = compose["services"][name]
        container = {**image, **service["environment"]}
        assert set(container) - IMAGE_ONLY == set(STACK_ENVIRONMENT) | set(STACK_PATHS) | set(STACK_SERVICE_VARIABLES), name
        assert {key: container[key] for key in STACK_ENVIRONMENT} == STACK_ENVIRONMENT, name
        # The rest comes from the operator's .env, as documented there.
        assert service["env_file"] == ["../.env"]
    set_names, _ = env_example()
    assert set(STACK_OPERATOR_VARIABLES) <= set_names
    assert set(settings.PRODUCTION_REQUIRED_ENV) <= set(STACK_OPERATOR_VARIABLES) | set(STACK_SERVICE_VARIABLES)

    native = native_environment(
        base={"PATH": "/usr/bin", "DEBUG": "1", "EVOLAB_LOG_FORMAT": "text"},
        var_dir=Path("/tmp/stack"),
        database_url="postgres://postgres@127.0.0.1:5432/evolab_stack",
        redis_url="redis://127.0.0.1:6379/11",
        simulator_url="http://127.0.0.1:4322/v1",
        web_url="http://127.0.0.1:4321",
    )
    assert {key: native[key] for key in STACK_ENVIRONMENT} == STACK_ENVIRONMENT
    wanted = set(STACK_ENVIRONMENT) | set(STACK_PATHS) | set(STACK_SERVICE_VARIABLES) | set(STACK_OPERATOR_VARIABLES)
    assert wanted <= set(native)
    assert "DEBUG" not in native and native["PATH"] == "/usr/bin"
    assert native["EVOLAB_VAR_DIR"] == "/tmp/stack" and native["EVOLAB_STATIC_ROOT"] == "/tmp/stack/staticfiles"
    assert native["CSRF_TRUSTED_ORIGINS"] == "http://127.0.0.1:4321"
    assert len(native["SECRET_KEY"]) >= 50


def test_static_files_are_collected_with_the_shared_command() -> None:
    """The image collects them at build time, the native runner as a setup step: the same
    command (collectstatic in production mode, into EVOLAB_STATIC_ROOT)."""
    runs = [line for line in dockerfile_stages()[-1] if line.startswith("RUN ") and "collectstatic" in line]
    assert len(runs) == 1
    assert shlex.split(runs[0])[-len(COLLECTSTATIC) :] == COLLECTSTATIC
