"""Errors raised by the backend client.

Every error carries the attempts made so far, so a failed case result can show what was
tried (status codes, request ids, durations) without re-running anything.
"""

from __future__ import annotations

from collections.abc import Sequence

from evolab.backends.types import Attempt


class BackendError(Exception):
    """The backend did not produce an answer (retries exhausted or a permanent failure)."""

    def __init__(
        self,
        message: str,
        *,
        attempts: Sequence[Attempt] = (),
        status_code: int | None = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.attempts: list[Attempt] = list(attempts)
        self.status_code = status_code


class BackendRequestRefused(BackendError):
    """Refused on our side before anything was sent (e.g. temperature 0 for MiniMax M2.7).

    `param` names the offending request parameter when there is one.
    """

    def __init__(self, message: str, *, param: str | None = None) -> None:
        super().__init__(message)
        self.param = param


class BackendRejected(BackendError):
    """The endpoint answered with a non-retryable 4xx; retrying the same request is pointless."""


class BackendRetriesExhausted(BackendError):
    """Every attempt failed with a retryable error (timeouts, 429, 5xx, broken streams)."""
