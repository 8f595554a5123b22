"""Seeded fault injection, latency and a requests-per-minute limit."""

from __future__ import annotations

import hashlib
import math
import random
import time
from collections import deque
from dataclasses import dataclass

FAULT_KINDS = ("500", "429", "hang", "drop", "truncate")


@dataclass(frozen=True)
class FaultConfig:
    """Probabilities per request of each injected fault, plus a scripted prefix.

    500: an internal error. 429: rate limited with `Retry-After: retry_after_s`. hang: no
    answer for `hang_s` (longer than a client's timeout). drop: the connection is cut
    mid-body (mid-SSE for streams). truncate: a stream ends cleanly without its final
    chunk. `script` forces faults for the first requests in arrival order ("ok" = none),
    which makes a "429 then success" test exact.
    """

    rates: tuple[tuple[str, float], ...] = ()
    script: tuple[str, ...] = ()
    hang_s: float = 30.0
    retry_after_s: float = 1.0

    @classmethod
    def parse(cls, spec: str, *, hang_s: float = 30.0, retry_after_s: float = 1.0) -> FaultConfig:
        """Read "500=0.05,drop=0.1" (the CLI form)."""
        rates = []
        for item in filter(None, (part.strip() for part in spec.split(","))):
            kind, _, value = item.partition("=")
            if kind not in FAULT_KINDS:
                raise ValueError(f"unknown fault {kind!r}; expected one of {', '.join(FAULT_KINDS)}")
            rates.append((kind, float(value)))
        return cls(rates=tuple(rates), hang_s=hang_s, retry_after_s=retry_after_s)

    def draw(self, uniform: float) -> str | None:
        cumulative = 0.0
        for kind, rate in self.rates:
            cumulative += rate
            if uniform < cumulative:
                return kind
        return None


@dataclass(frozen=True)
class LatencyConfig:
    """Lognormal latency given its median and 95th percentile in milliseconds (0: none)."""

    median_ms: float = 0.0
    p95_ms: float = 0.0

    @classmethod
    def parse(cls, spec: str) -> LatencyConfig:
        """Read "MEDIAN,P95" in milliseconds, e.g. "800,2500"; "0" disables latency."""
        parts = [float(part) for part in spec.split(",") if part.strip()]
        if len(parts) == 1:
            return cls(parts[0], parts[0])
        return cls(parts[0], parts[1])

    def sample_s(self, rng: random.Random) -> float:
        if self.median_ms <= 0:
            return 0.0
        sigma = math.log(max(self.p95_ms, self.median_ms) / self.median_ms) / 1.6449
        return rng.lognormvariate(math.log(self.median_ms), sigma) / 1000.0


class RateLimiter:
    """Sliding one-minute window; `check` returns seconds to wait, or None if admitted."""

    def __init__(self, rpm: int | None) -> None:
        self.rpm = rpm
        self._times: deque[float] = deque()

    def check(self, now: float | None = None) -> float | None:
        if not self.rpm:
            return None
        now = time.monotonic() if now is None else now
        while self._times and now - self._times[0] >= 60.0:
            self._times.popleft()
        if len(self._times) >= self.rpm:
            return 60.0 - (now - self._times[0])
        self._times.append(now)
        return None


def seeded_rng(*parts: object) -> random.Random:
    """A Random seeded from a stable hash of `parts` (Python's hash() is salted per process)."""
    digest = hashlib.sha256("\x1f".join(repr(part) for part in parts).encode()).digest()
    return random.Random(int.from_bytes(digest[:8], "big"))
