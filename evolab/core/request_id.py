"""A request id on every log line of a request, and on its response.

An id sent by the proxy in front (X-Request-ID) is kept when it looks like an id, so one
request can be followed from the proxy's log into ours; anything else (too long, odd
characters that could forge log fields) is replaced by a fresh one.
"""

from __future__ import annotations

import logging
import re
import time
import uuid
from collections.abc import Callable

from django.http import HttpRequest, HttpResponse

from evolab.core.logging import log_context

HEADER = "X-Request-ID"
_SANE = re.compile(r"[A-Za-z0-9._:-]{8,128}")

logger = logging.getLogger("evolab.request")


def request_id_for(incoming: str | None) -> str:
    """The incoming id when it is sane, else a new one."""
    if incoming and _SANE.fullmatch(incoming):
        return incoming
    return uuid.uuid4().hex


class RequestIdMiddleware:
    """Set `request.request_id` and the log context, echo the id, log one line per request."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        request_id = request_id_for(request.headers.get(HEADER))
        request.request_id = request_id  # type: ignore[attr-defined]
        started = time.monotonic()
        with log_context(request_id=request_id):
            response = self.get_response(request)
            user = getattr(request, "user", None)
            logger.info(
                "%s %s %s",
                request.method,
                request.path,
                response.status_code,
                extra={
                    "method": request.method,
                    "path": request.path,
                    "status": response.status_code,
                    "duration_ms": round((time.monotonic() - started) * 1000, 1),
                    "user_id": user.pk if user is not None and user.is_authenticated else None,
                },
            )
        response[HEADER] = request_id
        return response
