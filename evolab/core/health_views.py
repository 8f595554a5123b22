"""`/healthz` (the process answers) and `/readyz` (it can reach what it needs).

Both are answered by `HealthCheckMiddleware`, first in the chain, before host
validation, the HTTPS redirect, sessions or the database: a container's health probe
calls `http://127.0.0.1:8000/healthz` from inside the container, with a Host header no
ALLOWED_HOSTS lists and over plain HTTP, and must get the truth, not a 400 or a redirect.
The same views are also routed in `evolab/urls.py` (named `healthz` and `readyz`).
"""

from __future__ import annotations

from collections.abc import Callable

from django.conf import settings
from django.http import HttpRequest, HttpResponse, JsonResponse

from evolab.core.health import READINESS_CHECKS, run_checks


def _no_store(response: HttpResponse) -> HttpResponse:
    response["Cache-Control"] = "no-store"
    return response


def healthz(request: HttpRequest) -> HttpResponse:
    """Alive: the process serves requests. Touches nothing else (no database)."""
    return _no_store(JsonResponse({"status": "ok"}))


def readyz(request: HttpRequest) -> HttpResponse:
    """Ready: database, broker and channel layer each answered within the timeout;
    503 naming the ones that did not."""
    results = run_checks(READINESS_CHECKS, timeout_s=settings.EVOLAB_READY_TIMEOUT_S)
    failed = [result.name for result in results if not result.ok]
    body = {
        "status": "not ready" if failed else "ready",
        "failed": failed,
        "checks": {
            result.name: {"ok": result.ok, "detail": result.detail, "ms": result.duration_ms} for result in results
        },
    }
    return _no_store(JsonResponse(body, status=503 if failed else 200))


PROBES: dict[str, Callable[[HttpRequest], HttpResponse]] = {"/healthz": healthz, "/readyz": readyz}


class HealthCheckMiddleware:
    """Answer the probes before any other middleware can refuse or redirect them."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        probe = PROBES.get(request.path_info)
        if probe is not None and request.method in ("GET", "HEAD"):
            return probe(request)
        return self.get_response(request)
