"""Client-side pacing against the simulator: a backend's requests-per-minute and
tokens-per-minute limits hold without any 429 from the endpoint."""

from __future__ import annotations

import asyncio
import time
from dataclasses import replace

import pytest

from evolab.backends.client import BackendClient
from evolab.backends.rate_limit import RateLimiter
from evolab.backends.simulator.testing import running_simulator
from evolab.backends.types import ChatRequest

REQUEST = ChatRequest(messages=[{"role": "user", "content": "What is 2 + 2?"}], params={"temperature": 0.5})


@pytest.mark.asyncio
async def test_requests_per_minute_spaces_requests() -> None:
    with running_simulator(profile="generic") as sim:
        # 600 rpm shared half-and-half: this client may send one request every 0.2 s.
        config = replace(sim.backend_config(), requests_per_minute=600, rate_share=0.5)
        async with BackendClient(config) as client:
            started = time.monotonic()
            await asyncio.gather(*(client.chat(REQUEST) for _ in range(4)))
            elapsed = time.monotonic() - started
    assert elapsed >= 3 * 0.2
    assert sim.stats()["chat_requests"] == 4


@pytest.mark.asyncio
async def test_tokens_per_minute_charges_what_each_answer_used() -> None:
    limiter = RateLimiter(requests_per_minute=None, tokens_per_minute=6000)  # 100 tokens a second
    await limiter.acquire()
    limiter.record_tokens(30)
    started = time.monotonic()
    await limiter.acquire()
    assert time.monotonic() - started >= 0.29


def test_no_limits_schedule_nothing() -> None:
    limiter = RateLimiter(requests_per_minute=None, tokens_per_minute=None)
    limiter.record_tokens(10_000)
    assert not limiter.active
    assert limiter.request_interval_s == limiter.token_interval_s == 0
