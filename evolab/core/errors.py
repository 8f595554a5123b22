"""Domain errors raised by actions and selectors, mapped to HTTP once for views and API.

Each error has a stable `code` that API clients can rely on, a human message, and
optionally the `field` at fault so forms and JSON responses can point at it.
"""

from __future__ import annotations

from typing import Any


class DomainError(Exception):
    code = "error"
    status = 400

    def __init__(self, message: str, *, field: str | None = None, details: Any = None) -> None:
        super().__init__(message)
        self.message = message
        self.field = field
        self.details = details

    def as_dict(self) -> dict[str, Any]:
        body: dict[str, Any] = {"code": self.code, "message": self.message}
        if self.field is not None:
            body["field"] = self.field
        if self.details is not None:
            body["details"] = self.details
        return body


class ValidationFailed(DomainError):
    code = "invalid"
    status = 422


class Conflict(DomainError):
    code = "conflict"
    status = 409
