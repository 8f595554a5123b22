"""The REST API under /api/v1/: one NinjaAPI, one router per app, one error format.

Every error body is `{"code": <stable code>, "message": <text>}`, plus `field` (or
`errors`, one per field) when input was at fault.
"""

from __future__ import annotations

import hashlib
from typing import Any

from django.conf import settings
from django.contrib.auth.models import User
from django.core.exceptions import PermissionDenied, RequestDataTooBig
from django.http import Http404, HttpRequest, HttpResponse
from ninja import NinjaAPI
from ninja.errors import AuthenticationError, HttpError, ValidationError
from ninja.security import HttpBearer, django_auth

from evolab.core.errors import DomainError
from evolab.core.ratelimit import RateLimited, check_api_rate
from evolab.evals.api import router as evals_router
from evolab.evolution.api import router as evolution_router
from evolab.harnesses.api import router as harnesses_router
from evolab.labeling.api import router as labeling_router
from evolab.projects.actions import token_authenticate
from evolab.projects.api import router as projects_router
from evolab.runs.api import router as runs_router


class BearerTokenAuth(HttpBearer):
    """Personal API tokens (`Authorization: Bearer evl_…`) for scripts and CI; no CSRF needed.

    A request that carries a token is judged by it alone: a wrong or revoked token is
    refused even if the same browser also holds a session cookie.
    """

    def authenticate(self, request: HttpRequest, token: str) -> User:
        user = token_authenticate(token)
        if user is None:
            raise AuthenticationError()
        # Counted per token (by its digest, never the secret itself), once it is known good.
        check_api_rate("token:" + hashlib.sha256(token.encode()).hexdigest()[:40])
        request.user = user
        return user


api = NinjaAPI(
    title="evolab API",
    version="1",
    urls_namespace="api",
    # Bearer first; without an Authorization header the session (with CSRF) is used.
    auth=[BearerTokenAuth(), django_auth],
)
api.add_router("/projects", projects_router)
api.add_router("/projects", harnesses_router)
api.add_router("/projects", evals_router)
api.add_router("/projects", runs_router)
api.add_router("/projects", evolution_router)
api.add_router("/projects", labeling_router)


def _error(request: HttpRequest, status: int, body: dict[str, Any]) -> HttpResponse:
    return api.create_response(request, body, status=status)


@api.exception_handler(DomainError)
def on_domain_error(request: HttpRequest, exc: DomainError) -> HttpResponse:
    return _error(request, exc.status, exc.as_dict())


@api.exception_handler(RateLimited)
def on_rate_limited(request: HttpRequest, exc: RateLimited) -> HttpResponse:
    response = _error(request, exc.status, exc.as_dict())
    response["Retry-After"] = str(exc.retry_after_s)
    return response


@api.exception_handler(RequestDataTooBig)
def on_body_too_big(request: HttpRequest, exc: RequestDataTooBig) -> HttpResponse:
    limit_mb = settings.DATA_UPLOAD_MAX_MEMORY_SIZE / (1024 * 1024)
    message = f"The request body is over the limit of {limit_mb:.3g} MB; send files as multipart uploads."
    return _error(request, 413, {"code": "too_large", "message": message})


STATUS_CODES = {
    400: "bad_request",
    401: "unauthenticated",
    403: "forbidden",
    404: "not_found",
    405: "method_not_allowed",
}


@api.exception_handler(HttpError)
def on_http_error(request: HttpRequest, exc: HttpError) -> HttpResponse:
    """ninja's own refusals (a failed CSRF check among them) in our error format."""
    code = STATUS_CODES.get(exc.status_code, "error")
    message = str(exc)
    if code == "forbidden" and "CSRF" in message:
        code, message = "csrf_failed", "CSRF check failed: reload the page, or send a bearer token."
    return _error(request, exc.status_code, {"code": code, "message": message})


@api.exception_handler(Http404)
def on_not_found(request: HttpRequest, exc: Http404) -> HttpResponse:
    return _error(request, 404, {"code": "not_found", "message": str(exc) or "Not found"})


@api.exception_handler(PermissionDenied)
def on_forbidden(request: HttpRequest, exc: PermissionDenied) -> HttpResponse:
    return _error(request, 403, {"code": "forbidden", "message": str(exc) or "Forbidden"})


@api.exception_handler(AuthenticationError)
def on_unauthenticated(request: HttpRequest, exc: AuthenticationError) -> HttpResponse:
    return _error(request, 401, {"code": "unauthenticated", "message": "Log in or send a bearer token."})


@api.exception_handler(ValidationError)
def on_invalid(request: HttpRequest, exc: ValidationError) -> HttpResponse:
    errors = [
        {
            "field": ".".join(str(part) for part in error.get("loc", ()) if part not in ("body", "payload")),
            "message": error.get("msg", ""),
        }
        for error in exc.errors
    ]
    first = errors[0] if errors else {"field": "", "message": "invalid input"}
    return _error(
        request,
        422,
        {
            "code": "invalid",
            "message": f"{first['field']}: {first['message']}",
            "field": first["field"],
            "errors": errors,
        },
    )
