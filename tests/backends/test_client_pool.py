"""Clients that share a worker's connection pool, over real HTTP against the simulator."""

from __future__ import annotations

import pytest

from evolab.backends.client import BackendClient, ConnectionPool
from evolab.backends.simulator.testing import RunningSimulator
from evolab.backends.types import ChatRequest

HELLO = ChatRequest(messages=[{"role": "user", "content": "Say hello."}], params={"seed": 7})


@pytest.mark.asyncio
async def test_a_closed_client_leaves_the_shared_pool_usable(sim: RunningSimulator) -> None:
    pool = ConnectionPool()
    try:
        async with BackendClient(sim.backend_config(), pool=pool) as first:
            answer = await first.chat(HELLO)
        assert answer.content
        assert not pool.http.is_closed
        # The next chunk's client: same SDK client, same connections.
        async with BackendClient(sim.backend_config(), pool=pool) as second:
            assert second._openai is first._openai
            again = await second.chat(HELLO)
        assert again.content == answer.content
    finally:
        await pool.aclose()
    assert pool.http.is_closed


@pytest.mark.asyncio
async def test_usage_and_finish_reason_are_read_from_the_answer(sim: RunningSimulator) -> None:
    async with BackendClient(sim.backend_config(stream=False)) as client:
        result = await client.chat(HELLO)
    assert result.finish_reason == "stop"
    assert result.usage.input_tokens > 0 and result.usage.output_tokens > 0
    assert result.attempts[-1].request_id


def test_a_client_takes_a_larger_share_of_the_rate_limits_as_its_slots_grow(sim: RunningSimulator) -> None:
    client = BackendClient(sim.backend_config(requests_per_minute=600, rate_share=0.1))
    assert client._rate.request_interval_s == pytest.approx(1.0)
    client.set_rate_share(0.5)
    assert client._rate.request_interval_s == pytest.approx(0.2)
