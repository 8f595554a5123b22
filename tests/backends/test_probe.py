"""The parameter probe against both simulator profiles."""

from __future__ import annotations

import json
import random
from typing import Any

import httpx
import pytest

from evolab.backends.client import BackendClient
from evolab.backends.probe import probe_parameters
from evolab.backends.simulator import FaultConfig
from evolab.backends.simulator.testing import RunningSimulator
from evolab.backends.types import BackendConfig


@pytest.mark.asyncio
async def test_it_finds_what_m27_ignores_and_refuses(sim: RunningSimulator) -> None:
    results = await probe_parameters(sim.backend_config())
    assert results["presence_penalty"].status == "ignored"
    assert results["frequency_penalty"].status == "ignored"
    temperature = results["temperature"]
    assert temperature.status == "rejected"
    assert temperature.rejected_values == [0.0]
    assert temperature.accepted_values == [0.01, 1.0]
    assert "400" in temperature.evidence
    assert results["top_k"].status == "accepted"
    assert results["top_p"].status == "accepted"
    assert results["seed"].status == "accepted"
    assert results["max_tokens"].status == "accepted"
    assert all("\n" not in result.evidence for result in results.values())
    assert sim.stats()["chat_requests"] <= 16


@pytest.mark.asyncio
async def test_generic_backends_honour_penalties_and_temperature_zero(generic_sim: RunningSimulator) -> None:
    results = await probe_parameters(generic_sim.backend_config())
    assert results["presence_penalty"].status == "accepted"
    assert results["frequency_penalty"].status == "accepted"
    assert results["temperature"].status == "accepted"
    assert results["temperature"].rejected_values == []


@pytest.mark.asyncio
async def test_it_says_unknown_when_the_endpoint_fails(sim: RunningSimulator) -> None:
    sim.configure(faults=FaultConfig(rates=(("500", 1.0),)))
    results = await probe_parameters(sim.backend_config())
    assert {result.status for result in results.values()} == {"unknown"}
    assert "baseline request failed" in results["top_p"].evidence


async def _random_answers(scope: dict[str, Any], receive: Any, send: Any) -> None:
    """An endpoint that answers every request differently, seed or not."""
    while (await receive()).get("more_body"):
        pass
    words = " ".join(random.choice(["alpha", "beta", "gamma", "delta"]) for _ in range(6))
    body = json.dumps(
        {
            "id": "x",
            "object": "chat.completion",
            "created": 0,
            "model": "m",
            "choices": [{"index": 0, "message": {"role": "assistant", "content": words}, "finish_reason": "stop"}],
            "usage": {"prompt_tokens": 5, "completion_tokens": 6, "total_tokens": 11},
        }
    ).encode()
    await send({"type": "http.response.start", "status": 200, "headers": [(b"content-type", b"application/json")]})
    await send({"type": "http.response.body", "body": body})


@pytest.mark.asyncio
async def test_it_does_not_claim_ignored_without_determinism() -> None:
    config = BackendConfig(name="random", kind="openai_compat", base_url="http://random.test/v1", model="m")
    http_client = httpx.AsyncClient(transport=httpx.ASGITransport(app=_random_answers))
    async with BackendClient(config, http_client=http_client) as client:
        results = await probe_parameters(config, client=client)
    assert results["seed"].status == "ignored"
    assert results["presence_penalty"].status == "accepted"
    assert "unknown" in results["presence_penalty"].evidence
    # max_tokens=5 but six tokens came back: the endpoint did not honour it.
    assert results["max_tokens"].status == "ignored"
