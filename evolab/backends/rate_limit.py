"""Requests-per-minute and tokens-per-minute limits on the client side.

A pacing limiter, not a bucket: requests are spaced 60/rpm seconds apart, so no minute
window can see more than the limit, and every token used pushes the next request back
by tokens * 60/tpm. Several clients share one backend's limits by each taking a share
(`BackendConfig.rate_share`), which the runs layer sets from the concurrency slots a
chunk was granted — the shares of all chunks add up to at most one.
"""

from __future__ import annotations

import asyncio
import time


class RateLimiter:
    def __init__(self, *, requests_per_minute: float | None, tokens_per_minute: float | None) -> None:
        self.set_limits(requests_per_minute=requests_per_minute, tokens_per_minute=tokens_per_minute)
        self._next_request = 0.0
        self._next_tokens = 0.0
        self._lock = asyncio.Lock()

    def set_limits(self, *, requests_per_minute: float | None, tokens_per_minute: float | None) -> None:
        """Change the limits; the next request is paced by the new ones."""
        self.request_interval_s = 60.0 / requests_per_minute if requests_per_minute else 0.0
        self.token_interval_s = 60.0 / tokens_per_minute if tokens_per_minute else 0.0

    @property
    def active(self) -> bool:
        return bool(self.request_interval_s or self.token_interval_s)

    async def acquire(self) -> None:
        """Wait until one more request fits both limits."""
        if not self.active:
            return
        async with self._lock:
            now = time.monotonic()
            start = max(now, self._next_request, self._next_tokens)
            self._next_request = start + self.request_interval_s
        if start > now:
            await asyncio.sleep(start - now)

    def record_tokens(self, tokens: int) -> None:
        """Charge the tokens a finished request used against the tokens-per-minute limit."""
        if self.token_interval_s and tokens > 0:
            self._next_tokens = max(time.monotonic(), self._next_tokens) + tokens * self.token_interval_s
