"""Retry policy: which failures are worth another attempt and how long to wait."""

from __future__ import annotations

import random
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime

# 408 request timeout, 409 conflict (some gateways use it for transient lock contention),
# 429 rate limited; every 5xx is assumed transient.
RETRYABLE_STATUS = frozenset({408, 409, 429})


def is_retryable_status(status_code: int) -> bool:
    return status_code in RETRYABLE_STATUS or 500 <= status_code <= 599


@dataclass(frozen=True)
class RetryPolicy:
    # Full-jitter exponential backoff: sleep uniform(0, min(max_delay, base * 2**n)).
    base_delay_s: float = 0.5
    max_delay_s: float = 8.0
    # A server asking us to wait longer than this is treated as if it said this much; the
    # total deadline of the caller still applies.
    max_retry_after_s: float = 60.0

    def backoff_s(self, retry_number: int, rng: random.Random) -> float:
        """Delay before retry `retry_number` (1 for the first retry) when the server gave no hint."""
        ceiling = min(self.max_delay_s, self.base_delay_s * (2 ** (retry_number - 1)))
        return rng.uniform(0.0, ceiling)

    def wait_s(self, retry_number: int, rng: random.Random, retry_after_s: float | None) -> float:
        if retry_after_s is not None:
            return min(max(retry_after_s, 0.0), self.max_retry_after_s)
        return self.backoff_s(retry_number, rng)


def retry_after_seconds(headers: Mapping[str, str], *, now: datetime | None = None) -> float | None:
    """Read `retry-after-ms`, then `Retry-After` (seconds or an HTTP date); None if absent or unreadable."""
    lowered = {key.lower(): value for key, value in headers.items()}
    millis = lowered.get("retry-after-ms")
    if millis is not None:
        try:
            return max(float(millis) / 1000.0, 0.0)
        except ValueError:
            pass
    value = lowered.get("retry-after")
    if value is None:
        return None
    try:
        return max(float(value), 0.0)
    except ValueError:
        pass
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    current = now or datetime.now(UTC)
    return max((when - current).total_seconds(), 0.0)
