"""Every URL pattern and every API operation must be listed in some app's permission
matrix (tests/<app>/test_permissions.py: ENDPOINTS), or on the allowlist below of
routes that are public on purpose. A new page without a permission test fails here."""

from __future__ import annotations

import importlib
from collections.abc import Iterator

from django.urls import URLPattern, URLResolver, get_resolver

from evolab.api import api
from tests.permission_matrix import Endpoint

MATRIX_MODULES = [
    "tests.projects.test_permissions",
    "tests.harnesses.test_permissions",
    "tests.evals.test_permissions",
    "tests.runs.test_permissions",
    "tests.evolution.test_permissions",
    "tests.charts.test_permissions",
    "tests.labeling.test_permissions",
    "tests.evolution.test_leakage_pages",
]

# Reachable without a project role, on purpose; each has its own tests.
PUBLIC_OR_ACCOUNT = {
    "login",
    "logout",
    "password_change",
    "password_change_done",  # accounts
    "projects:list",
    "projects:tokens",
    "projects:token_revoke",  # the user's own things
    "evolution:inbox",  # reviews across the user's projects (tests/evolution/test_inbox.py)
    "evolution:notifications",
    "evolution:notifications_read",  # the user's own notifications
    "api:openapi-json",
    "api:openapi-view",  # the API description and its docs page
    "",  # "/" redirects to the project list
    "healthz",
    "readyz",  # container probes, public on purpose (tests/deploy/test_health.py)
    "runs:operations",
    "runs:chunk_retry",  # instance-wide, staff only (tests/deploy/test_operations.py)
}
ACCOUNT_API = {("GET", "/api/v1/projects"), ("POST", "/api/v1/projects")}


def _endpoints() -> list[Endpoint]:
    endpoints: list[Endpoint] = []
    for name in MATRIX_MODULES:
        endpoints.extend(importlib.import_module(name).ENDPOINTS)
    return endpoints


def _url_names(resolver: URLResolver, namespace: str = "") -> Iterator[str]:
    for pattern in resolver.url_patterns:
        if isinstance(pattern, URLResolver):
            if pattern.namespace == "api":
                continue  # ninja operations are checked one by one below
            inner = f"{namespace}{pattern.namespace}:" if pattern.namespace else namespace
            yield from _url_names(pattern, inner)
        elif isinstance(pattern, URLPattern):
            yield f"{namespace}{pattern.name or ''}"


def test_every_page_is_in_a_permission_matrix() -> None:
    covered = {e.route for e in _endpoints() if not e.api}
    missing = sorted(set(_url_names(get_resolver())) - covered - PUBLIC_OR_ACCOUNT)
    assert not missing, f"pages without a permission matrix entry: {missing}"


def test_every_api_operation_is_in_a_permission_matrix() -> None:
    covered = {(e.method, e.route) for e in _endpoints() if e.api}
    schema = api.get_openapi_schema()
    operations = {(method.upper(), path.rstrip("/")) for path, item in schema["paths"].items() for method in item}
    missing = sorted(operations - covered - ACCOUNT_API)
    assert not missing, f"API operations without a permission matrix entry: {missing}"
