from __future__ import annotations

from collections.abc import Callable

from django.http import HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import render
from django.utils.cache import patch_vary_headers

from evolab.core.errors import DomainError


class VaryOnHtmxMiddleware:
    """One URL serves a page and its htmx fragment, so caches must key on HX-Request."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        response = self.get_response(request)
        patch_vary_headers(response, ("HX-Request",))
        return response


class ApiErrorFormatMiddleware:
    """Answers under /api/ that did not come from an API operation (an unknown path, a
    method the route does not have) still get the API's JSON error format."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        response = self.get_response(request)
        is_json = response.get("Content-Type", "").startswith("application/json")
        if request.path.startswith("/api/") and response.status_code >= 400 and not is_json:
            code = {404: "not_found", 405: "method_not_allowed"}.get(response.status_code, "error")
            message = {404: "No such API route.", 405: f"{request.method} is not allowed here."}.get(
                response.status_code, response.reason_phrase
            )
            return JsonResponse({"code": code, "message": message}, status=response.status_code)
        return response


class DomainErrorMiddleware:
    """A domain error that escapes a view becomes a page naming what went wrong."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        return self.get_response(request)

    def process_exception(self, request: HttpRequest, exception: Exception) -> HttpResponse | None:
        if isinstance(exception, DomainError):
            return render(request, "error.html", {"error": exception}, status=exception.status)
        return None
