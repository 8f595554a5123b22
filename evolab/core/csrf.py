"""What a refused CSRF check answers (settings.CSRF_FAILURE_VIEW).

A page gets templates/403_csrf.html. An htmx request gets a short plain-text message and
the `X-Evolab-Error: csrf` header instead: htmx does not swap error responses, so without
this the click would fail silently; static/js/csrf.js shows the message in a banner.
"""

from __future__ import annotations

from django.http import HttpRequest, HttpResponse, HttpResponseForbidden
from django.template import loader

HTMX_MESSAGE = "Your session or this form expired — reload the page and try again. Nothing was changed."
ERROR_HEADER = "X-Evolab-Error"


def csrf_failure(request: HttpRequest, reason: str = "") -> HttpResponse:
    if request.headers.get("HX-Request") == "true":
        response = HttpResponseForbidden(HTMX_MESSAGE, content_type="text/plain; charset=utf-8")
        response[ERROR_HEADER] = "csrf"
        return response
    # Rendered without the request: the failed request's session and token are suspect,
    # and the page only says to reload.
    return HttpResponseForbidden(loader.render_to_string("403_csrf.html", {"message": HTMX_MESSAGE}))
