"""Retries, timeouts, broken streams and usage, over real HTTP against the simulator."""

from __future__ import annotations

import asyncio
import socket
import time
from dataclasses import replace

import pytest

from evolab.backends.client import BackendClient
from evolab.backends.errors import BackendRejected, BackendRetriesExhausted
from evolab.backends.simulator import FaultConfig
from evolab.backends.simulator.testing import RunningSimulator
from evolab.backends.types import BackendConfig, ChatRequest
from tests.backends.conftest import FAST_RETRIES

HELLO = ChatRequest(messages=[{"role": "user", "content": "Say hello."}], params={"seed": 7})


def client_for(sim: RunningSimulator, **overrides: object) -> BackendClient:
    return BackendClient(sim.backend_config(**overrides), retry_policy=FAST_RETRIES)


@pytest.mark.asyncio
async def test_it_waits_as_long_as_retry_after_says(sim: RunningSimulator) -> None:
    sim.configure(faults=FaultConfig(script=("429", "ok"), retry_after_s=0.2))
    async with client_for(sim) as client:
        started = time.monotonic()
        result = await client.chat(HELLO)
        elapsed = time.monotonic() - started
    assert [a.status_code for a in result.attempts] == [429, 200]
    assert "429" in (result.attempts[0].error or "")
    assert elapsed >= 0.2
    assert result.content


@pytest.mark.asyncio
async def test_it_retries_500s_then_succeeds(sim: RunningSimulator) -> None:
    sim.configure(faults=FaultConfig(script=("500", "500", "ok")))
    async with client_for(sim) as client:
        result = await client.chat(HELLO)
    assert [a.status_code for a in result.attempts] == [500, 500, 200]
    assert all(a.request_id for a in result.attempts)
    assert result.simulated


@pytest.mark.asyncio
async def test_it_gives_up_after_the_last_attempt(sim: RunningSimulator) -> None:
    sim.configure(faults=FaultConfig(rates=(("500", 1.0),)))
    async with client_for(sim, max_retries=2) as client:
        with pytest.raises(BackendRetriesExhausted) as raised:
            await client.chat(HELLO)
    assert [a.status_code for a in raised.value.attempts] == [500, 500, 500]
    assert sim.stats()["chat_requests"] == 3


@pytest.mark.asyncio
async def test_it_does_not_retry_a_400(generic_sim: RunningSimulator) -> None:
    async with client_for(generic_sim) as client:
        with pytest.raises(BackendRejected) as raised:
            await client.chat(replace(HELLO, params={"temperature": 3.5}))
    assert raised.value.status_code == 400
    assert len(raised.value.attempts) == 1
    assert "temperature" in raised.value.message
    assert generic_sim.stats()["chat_requests"] == 1


@pytest.mark.asyncio
async def test_a_dropped_stream_is_never_an_answer(sim: RunningSimulator) -> None:
    sim.configure(faults=FaultConfig(rates=(("drop", 1.0),)))
    async with client_for(sim, max_retries=2, stream=True) as client:
        with pytest.raises(BackendRetriesExhausted) as raised:
            await client.chat(HELLO)
    attempts = raised.value.attempts
    assert [a.number for a in attempts] == [1, 2, 3]
    assert all(a.error and "connection" in a.error for a in attempts)
    assert sim.stats()["faults_injected"] == {"drop": 3}


@pytest.mark.asyncio
async def test_a_cleanly_truncated_stream_is_retried(sim: RunningSimulator) -> None:
    sim.configure(faults=FaultConfig(script=("truncate", "ok")))
    async with client_for(sim, stream=True) as client:
        result = await client.chat(HELLO)
    assert "finish_reason" in (result.attempts[0].error or "")
    assert result.finish_reason == "stop"


@pytest.mark.asyncio
async def test_seeded_stream_drops_are_retried_into_complete_answers(sim: RunningSimulator) -> None:
    requests = [
        ChatRequest(messages=[{"role": "user", "content": f"Say hello, number {i}."}], params={"seed": 3})
        for i in range(8)
    ]
    sim.configure(seed=11)
    async with client_for(sim, stream=True, max_retries=8) as client:
        clean = [await client.chat(request) for request in requests]
        sim.configure(faults=FaultConfig(rates=(("drop", 0.5),)))
        faulty = [await client.chat(request) for request in requests]
    assert sim.stats()["faults_injected"].get("drop", 0) > 0
    assert any(len(result.attempts) > 1 for result in faulty)
    for expected, got in zip(clean, faulty, strict=True):
        assert got.message == expected.message
        assert got.finish_reason == "stop"


@pytest.mark.asyncio
async def test_a_dropped_non_streaming_body_is_retried(sim: RunningSimulator) -> None:
    sim.configure(faults=FaultConfig(script=("drop", "ok")))
    async with client_for(sim) as client:
        result = await client.chat(HELLO)
    assert len(result.attempts) == 2
    assert result.attempts[0].status_code is None
    # A broken connection is named as one, never as a timeout (the aiohttp transport
    # reports some of them as connect timeouts).
    error = result.attempts[0].error or ""
    assert error.startswith("connection failed: ") and "timed out" not in error


@pytest.mark.asyncio
async def test_a_server_that_closes_the_connection_is_a_connection_failure() -> None:
    async def close_at_once(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await reader.read(1024)
        writer.close()

    server = await asyncio.start_server(close_at_once, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    config = BackendConfig(name="closer", kind="openai_compat", base_url=f"http://127.0.0.1:{port}/v1", model="m")
    try:
        async with BackendClient(replace(config, max_retries=0)) as client:
            with pytest.raises(BackendRetriesExhausted) as raised:
                await client.chat(HELLO)
    finally:
        server.close()
    assert raised.value.attempts[0].error == "connection failed: ServerDisconnectedError: Server disconnected"


@pytest.mark.asyncio
async def test_an_answer_that_is_not_http_is_a_retried_connection_failure() -> None:
    async def not_http(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await reader.read(1024)
        writer.write(b"this is not an HTTP response\r\n\r\n")
        await writer.drain()
        writer.close()

    server = await asyncio.start_server(not_http, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    config = BackendConfig(name="garbled", kind="openai_compat", base_url=f"http://127.0.0.1:{port}/v1", model="m")
    try:
        async with BackendClient(replace(config, max_retries=1), retry_policy=FAST_RETRIES) as client:
            with pytest.raises(BackendRetriesExhausted) as raised:
                await client.chat(HELLO)
    finally:
        server.close()
    # Both attempts are on record as broken connections: retried, never a crash.
    errors = [attempt.error or "" for attempt in raised.value.attempts]
    assert len(errors) == 2 and all(error.startswith("connection failed: ") for error in errors), errors


@pytest.mark.asyncio
async def test_a_connect_timeout_is_named_a_timeout() -> None:
    # A listening socket that never accepts: with its backlog full, connects hang.
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(0)
    port = listener.getsockname()[1]
    fillers = []
    try:
        for _ in range(8):
            filler = socket.socket()
            filler.setblocking(False)
            filler.connect_ex(("127.0.0.1", port))
            fillers.append(filler)
        config = BackendConfig(name="full", kind="openai_compat", base_url=f"http://127.0.0.1:{port}/v1", model="m")
        async with BackendClient(replace(config, max_retries=0, connect_timeout_s=0.3)) as client:
            with pytest.raises(BackendRetriesExhausted) as raised:
                await client.chat(HELLO)
    finally:
        for each in [*fillers, listener]:
            each.close()
    assert (raised.value.attempts[0].error or "").startswith("timed out"), raised.value.attempts[0].error


@pytest.mark.asyncio
async def test_a_hang_times_out_and_is_retried(sim: RunningSimulator) -> None:
    # The limit is per attempt: far below the 5 s hang, and long enough for the retry's
    # answer to arrive in time while the rest of the suite loads both cores (0.3 s was not).
    sim.configure(faults=FaultConfig(script=("hang", "ok"), hang_s=5.0))
    async with client_for(sim, total_timeout_s=1.0) as client:
        result = await client.chat(HELLO)
    first = result.attempts[0]
    assert first.error and "timed out" in first.error
    assert first.duration_s >= 1.0
    assert result.attempts[1].status_code == 200


@pytest.mark.asyncio
async def test_the_rate_limit_answers_429_with_retry_after(sim: RunningSimulator) -> None:
    sim.configure(rpm=2)
    async with client_for(sim, max_retries=0) as client:
        await client.chat(HELLO)
        await client.chat(HELLO)
        with pytest.raises(BackendRetriesExhausted) as raised:
            await client.chat(HELLO)
    assert raised.value.attempts[0].status_code == 429


@pytest.mark.asyncio
@pytest.mark.parametrize("stream", [False, True])
async def test_usage_and_cost_add_up(sim: RunningSimulator, stream: bool) -> None:
    config = sim.backend_config(price_in_per_m=0.3, price_out_per_m=1.2, stream=stream)
    request = ChatRequest(
        messages=[{"role": "user", "content": "What is 56012 \u00d7 5298? Reply with the number only."}],
        params={"seed": 1},
    )
    async with BackendClient(config) as client:
        result = await client.chat(request)
    usage = result.usage
    assert usage.input_tokens > 0 and usage.output_tokens > 0
    assert 0 < usage.reasoning_tokens < usage.output_tokens
    assert result.cost_usd == pytest.approx((usage.input_tokens * 0.3 + usage.output_tokens * 1.2) / 1e6)
    total = result.usage + result.usage
    assert total.output_tokens == 2 * usage.output_tokens
