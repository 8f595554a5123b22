"""Fixed-window request limits on counters that several processes share atomically.

Why not ninja's throttles: they keep a list of timestamps in the cache and write it back
(read, modify, write), so concurrent requests of one token all read the same list and
all pass. Here each request bumps one counter per (key, window) with a single atomic
operation and is allowed when the value it got back is within the limit — so 50 requests
at once against a limit of 10 let exactly 10 through, whatever the number of processes.

Two stores: the cache, when it is Redis (INCR), and a database table (one
`INSERT … ON CONFLICT DO UPDATE … RETURNING` statement) for the embedded default, where
the cache is per process.
"""

from __future__ import annotations

import math
import re
import time
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from functools import lru_cache

from django.conf import settings
from django.core.cache import caches
from django.core.exceptions import ImproperlyConfigured
from django.db import connection

from evolab.core.errors import DomainError
from evolab.core.models import RateCounter

WINDOWS = {"s": 1, "sec": 1, "second": 1, "m": 60, "min": 60, "minute": 60, "h": 3600, "hour": 3600}
_RATE = re.compile(r"^\s*(\d+)\s*/\s*([a-z]+)\s*$")


@dataclass(frozen=True)
class Rate:
    limit: int
    window_s: int

    def __str__(self) -> str:
        unit = {1: "second", 60: "minute", 3600: "hour"}[self.window_s]
        return f"{self.limit} requests per {unit}"


@lru_cache(maxsize=8)
def parse_rate(text: str) -> Rate | None:
    """"600/min" → Rate(600, 60); "off" (or empty) → None. Anything else is a configuration error."""
    if text.strip().lower() in {"", "off", "none", "0"}:
        return None
    match = _RATE.match(text.lower())
    if match is None or match.group(2) not in WINDOWS or int(match.group(1)) < 1:
        raise ImproperlyConfigured(f"a rate limit is N/sec, N/min or N/hour (or 'off'), not {text!r}")
    return Rate(int(match.group(1)), WINDOWS[match.group(2)])


@dataclass(frozen=True)
class Decision:
    allowed: bool
    count: int
    rate: Rate
    retry_after_s: int


class RateLimited(DomainError):
    code = "rate_limited"
    status = 429

    def __init__(self, decision: Decision) -> None:
        super().__init__(
            f"Too many requests: the limit is {decision.rate}. Retry after {decision.retry_after_s} s.",
            details={
                "limit": decision.rate.limit,
                "window_s": decision.rate.window_s,
                "retry_after_s": decision.retry_after_s,
            },
        )
        self.retry_after_s = decision.retry_after_s


def _bump_in_cache(bucket: str, ttl_s: int) -> int:
    cache = caches["default"]
    for _ in range(2):
        cache.add(bucket, 0, timeout=ttl_s)  # SET NX: creates the window's counter once
        try:
            return int(cache.incr(bucket))
        except ValueError:  # evicted between the two calls: create it again
            continue
    raise RuntimeError(f"the cache keeps losing the rate counter {bucket!r}")


def _bump_in_database(bucket: str, expires_at: datetime, now: datetime) -> int:
    table = connection.ops.quote_name(RateCounter._meta.db_table)
    key, count, expires = (connection.ops.quote_name(name) for name in ("key", "count", "expires_at"))
    with connection.cursor() as cursor:
        cursor.execute(
            f"INSERT INTO {table} ({key}, {count}, {expires}) VALUES (%s, 1, %s) "
            f"ON CONFLICT ({key}) DO UPDATE SET {count} = {table}.{count} + 1 RETURNING {count}",
            [bucket, expires_at],
        )
        value = int(cursor.fetchone()[0])
    if value == 1:
        # The first request of a window clears windows that are over, so the table stays small.
        RateCounter.objects.filter(expires_at__lt=now).delete()
    return value


def hit(key: str, rate: Rate, *, now: float | None = None) -> Decision:
    """Count one request for `key` in the current window of `rate`."""
    now = time.time() if now is None else now
    window_start = int(now // rate.window_s) * rate.window_s
    window_end = window_start + rate.window_s
    bucket = f"ratelimit:{key}:{rate.window_s}:{window_start}"
    if settings.EVOLAB_API_RATE_STORE == "cache":
        count = _bump_in_cache(bucket, ttl_s=rate.window_s + 5)
    elif settings.EVOLAB_API_RATE_STORE == "database":
        expires_at = datetime.fromtimestamp(window_end, UTC) + timedelta(seconds=5)
        count = _bump_in_database(bucket, expires_at, datetime.fromtimestamp(now, UTC))
    else:
        raise ImproperlyConfigured(
            f"EVOLAB_API_RATE_STORE is 'cache' or 'database', not {settings.EVOLAB_API_RATE_STORE!r}"
        )
    retry_after = max(1, math.ceil(window_end - now))
    return Decision(allowed=count <= rate.limit, count=count, rate=rate, retry_after_s=retry_after)


def check_api_rate(key: str) -> None:
    """Raise RateLimited when `key` has used up EVOLAB_API_RATE_LIMIT in this window."""
    rate = parse_rate(settings.EVOLAB_API_RATE_LIMIT)
    if rate is None:
        return
    decision = hit(key, rate)
    if not decision.allowed:
        raise RateLimited(decision)
