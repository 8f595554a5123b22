"""Structured logging: who asked (request id), for what (run, chunk, campaign), and
never with a secret in it.

Context travels in context variables, so it follows the work into asyncio tasks and
`sync_to_async` threads without being passed around: the request id middleware sets
`request_id` for a request, the chunk task and the campaign step set `run_id`,
`chunk_id` and `campaign_id` (see `log_context`). `ContextFilter` copies them onto every
record; `JsonFormatter` writes one JSON object per line (EVOLAB_LOG_FORMAT=json) and
`TextFormatter` a readable line with the same fields.

`RedactingFilter` is defence in depth, not the guarantee: no code logs a key, and a test
runs a whole evaluation with every logger at DEBUG to prove it. The filter still scrubs
bearer tokens, Authorization headers, `sk-…` style keys and the values of the variables
that hold model keys from every message, argument and traceback before it is written.
"""

from __future__ import annotations

import contextvars
import json
import logging
import os
import re
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from typing import Any

CONTEXT_FIELDS = ("request_id", "run_id", "chunk_id", "campaign_id")
_context: dict[str, contextvars.ContextVar[str | None]] = {
    name: contextvars.ContextVar(f"evolab_log_{name}", default=None) for name in CONTEXT_FIELDS
}

REDACTED = "[REDACTED]"


def log_context_get() -> dict[str, str]:
    """The context fields set here and now (unset ones are left out)."""
    return {name: value for name, var in _context.items() if (value := var.get()) is not None}


def log_context_bind(**fields: object) -> None:
    """Set context fields for the rest of the current context (a task, a request)."""
    for name, value in fields.items():
        _context[name].set(None if value is None else str(value))


@contextmanager
def log_context(**fields: object) -> Iterator[None]:
    """Set context fields for the duration of a block, then restore what was there."""
    tokens = [
        (_context[name], _context[name].set(None if value is None else str(value))) for name, value in fields.items()
    ]
    try:
        yield
    finally:
        for var, token in reversed(tokens):
            var.reset(token)


class ContextFilter(logging.Filter):
    """Put the context fields on every record (None when unset), for the formatters."""

    def filter(self, record: logging.LogRecord) -> bool:
        for name, var in _context.items():
            if not hasattr(record, name):
                setattr(record, name, var.get())
        return True


# What a credential looks like in text: an Authorization header's value, a bearer
# token, an OpenAI-style `sk-…` key, and `api_key=…` / "api_key": "…" assignments.
_PATTERNS = [
    re.compile(r"(?i)(authorization['\"]?\s*[:=]\s*['\"]?)(?:bearer\s+|basic\s+)?[^\s'\",}]+"),
    re.compile(r"(?i)(bearer\s+)[A-Za-z0-9._~+/=-]{8,}"),
    re.compile(r"()\bsk-[A-Za-z0-9_-]{8,}"),
    re.compile(r"(?i)((?:api[_-]?key|x-api-key|token|secret|password)['\"]?\s*[:=]\s*['\"]?)[^\s'\",}]{6,}"),
]


def _secret_values() -> list[str]:
    """Values of the variables that hold model keys, and SECRET_KEY: never to be written.

    Read from the environment at each call (a cheap scan), so a key set after start-up
    is covered too. Values shorter than 8 characters are skipped: they would scrub
    ordinary words.
    """
    names = {"SECRET_KEY", "EMAIL_HOST_PASSWORD"}
    names.update(filter(None, os.environ.get("EVOLAB_BACKEND_KEY_VARS", "MINIMAX_API_KEY,OPENAI_API_KEY").split(",")))
    prefix = os.environ.get("EVOLAB_BACKEND_KEY_PREFIX", "EVOLAB_KEY_")
    values = []
    for name, value in os.environ.items():
        if (name in names or (prefix and name.startswith(prefix))) and len(value) >= 8:
            values.append(value)
    return sorted(values, key=len, reverse=True)


def redact(text: str) -> str:
    """`text` with every credential-looking part replaced by [REDACTED]."""
    for value in _secret_values():
        if value in text:
            text = text.replace(value, REDACTED)
    for pattern in _PATTERNS:
        text = pattern.sub(lambda match: match.group(1) + REDACTED, text)
    return text


class RedactingFilter(logging.Filter):
    """Scrub credentials from a record's message, arguments, traceback and stack."""

    _exception_formatter = logging.Formatter()

    def filter(self, record: logging.LogRecord) -> bool:
        try:
            message = record.getMessage()
        except Exception:  # a bad format string: keep the raw parts, scrubbed
            message = f"{record.msg} {record.args}"
        record.msg = redact(message)
        record.args = None
        if record.exc_info and not record.exc_text:
            record.exc_text = self._exception_formatter.formatException(record.exc_info)
        if record.exc_text:
            record.exc_text = redact(record.exc_text)
        if record.stack_info:
            record.stack_info = redact(record.stack_info)
        return True


_RESERVED = set(vars(logging.LogRecord("", 0, "", 0, "", None, None))) | {"message", "asctime", *CONTEXT_FIELDS}


class JsonFormatter(logging.Formatter):
    """One JSON object per line: time, level, logger, message, context fields that are
    set, extra fields passed with `extra=`, and the traceback when there is one."""

    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, Any] = {
            "time": datetime.fromtimestamp(record.created, tz=UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        for name in CONTEXT_FIELDS:
            value = getattr(record, name, None)
            if value is not None:
                entry[name] = value
        for key, value in vars(record).items():
            if key not in _RESERVED and not key.startswith("_"):
                entry[key] = value if isinstance(value, str | int | float | bool) or value is None else repr(value)
        if record.exc_info and not record.exc_text:
            record.exc_text = self.formatException(record.exc_info)
        if record.exc_text:
            entry["exception"] = record.exc_text
        if record.stack_info:
            entry["stack"] = record.stack_info
        return json.dumps(entry, ensure_ascii=False)


class TextFormatter(logging.Formatter):
    """`time level logger message [request_id=… run_id=…]` for people reading a terminal."""

    def __init__(self) -> None:
        super().__init__("%(asctime)s %(levelname)s %(name)s %(message)s")

    def formatMessage(self, record: logging.LogRecord) -> str:
        line = super().formatMessage(record)
        context = " ".join(f"{name}={value}" for name in CONTEXT_FIELDS if (value := getattr(record, name, None)))
        return f"{line} [{context}]" if context else line


def logging_config(*, log_format: str, level: str) -> dict[str, Any]:
    """The LOGGING dict of settings.py: one console handler, context and redaction on it
    (handler filters see records of every logger, unlike logger filters)."""
    if log_format not in {"json", "text"}:
        raise ValueError(f"EVOLAB_LOG_FORMAT must be json or text, not {log_format!r}")
    return {
        "version": 1,
        "disable_existing_loggers": False,
        "filters": {
            "context": {"()": "evolab.core.logging.ContextFilter"},
            "redact": {"()": "evolab.core.logging.RedactingFilter"},
        },
        "formatters": {
            "json": {"()": "evolab.core.logging.JsonFormatter"},
            "text": {"()": "evolab.core.logging.TextFormatter"},
        },
        "handlers": {
            "console": {
                "class": "logging.StreamHandler",
                "formatter": log_format,
                "filters": ["context", "redact"],
            }
        },
        "root": {"handlers": ["console"], "level": level},
        # One line per model request would drown everything else (and cost CPU per call).
        "loggers": {name: {"level": "WARNING"} for name in ("httpx", "httpx2", "httpcore", "openai")},
    }
