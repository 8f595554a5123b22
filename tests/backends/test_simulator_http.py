"""The simulator's wire protocol, read with plain httpx (no client wrapper in between)."""

from __future__ import annotations

import json
import subprocess
import sys
import time

import httpx
import pytest

from evolab.backends.simulator.server import free_loopback_socket
from evolab.backends.simulator.testing import RunningSimulator

TASK = "Convert 37 miles to kilometres. Round to 2 decimal places and reply with the number only."


def test_models_are_labelled_simulated(sim: RunningSimulator) -> None:
    response = httpx.get(f"{sim.base_url}/models")
    assert response.headers["x-evolab-simulated"] == "true"
    assert [model["id"] for model in response.json()["data"]] == ["MiniMax-M2.7-sim"]


def test_completions_are_labelled_simulated(sim: RunningSimulator) -> None:
    response = httpx.post(
        f"{sim.base_url}/chat/completions", json={"model": "x", "messages": [{"role": "user", "content": TASK}]}
    )
    body = response.json()
    assert response.headers["x-evolab-simulated"] == "true"
    assert body["system_fingerprint"] == "evolab-simulator"
    assert body["model"].endswith("-sim")
    assert body["usage"]["total_tokens"] == body["usage"]["prompt_tokens"] + body["usage"]["completion_tokens"]


def test_stream_sends_usage_in_a_final_chunk(sim: RunningSimulator) -> None:
    payload = {
        "model": "x",
        "messages": [{"role": "user", "content": TASK}],
        "stream": True,
        "stream_options": {"include_usage": True},
    }
    with httpx.stream("POST", f"{sim.base_url}/chat/completions", json=payload) as response:
        lines = [line for line in response.iter_lines() if line.startswith("data: ")]
    assert lines[-1] == "data: [DONE]"
    chunks = [json.loads(line[6:]) for line in lines[:-1]]
    assert chunks[-1]["choices"] == [] and chunks[-1]["usage"]["completion_tokens"] > 0
    assert chunks[-2]["choices"][0]["finish_reason"] == "stop"
    content = "".join(c["choices"][0]["delta"].get("content") or "" for c in chunks[:-1])
    assert content.startswith("<think>")


def test_generic_profile_has_no_think_block(generic_sim: RunningSimulator) -> None:
    response = httpx.post(
        f"{generic_sim.base_url}/chat/completions",
        json={"model": "x", "messages": [{"role": "user", "content": TASK}], "temperature": 0},
    )
    content = response.json()["choices"][0]["message"]["content"]
    assert "<think>" not in content and content


def test_temperature_zero_is_a_400_naming_it(sim: RunningSimulator) -> None:
    response = httpx.post(
        f"{sim.base_url}/chat/completions",
        json={"model": "x", "messages": [{"role": "user", "content": "hi"}], "temperature": 0},
    )
    assert response.status_code == 400
    assert response.json()["error"]["param"] == "temperature"


def test_a_tool_answer_without_its_call_is_refused(sim: RunningSimulator) -> None:
    messages = [{"role": "user", "content": "hi"}, {"role": "tool", "tool_call_id": "nope", "content": "1"}]
    response = httpx.post(f"{sim.base_url}/chat/completions", json={"model": "x", "messages": messages})
    assert response.status_code == 400
    assert "tool_call_id" in response.json()["error"]["message"]


def test_a_small_max_tokens_truncates_the_answer(sim: RunningSimulator) -> None:
    response = httpx.post(
        f"{sim.base_url}/chat/completions",
        json={"model": "x", "messages": [{"role": "user", "content": TASK}], "max_tokens": 8},
    )
    choice = response.json()["choices"][0]
    assert choice["finish_reason"] == "length"
    assert "</think>" not in choice["message"]["content"]
    assert response.json()["usage"]["completion_tokens"] == 8


def test_the_same_request_without_seed_gives_new_samples(sim: RunningSimulator) -> None:
    payload = {"model": "x", "messages": [{"role": "user", "content": "Tell me something."}]}
    contents = {
        httpx.post(f"{sim.base_url}/chat/completions", json=payload).json()["choices"][0]["message"]["content"]
        for _ in range(4)
    }
    assert len(contents) > 1


def test_the_command_line_serves_until_stopped() -> None:
    sock = free_loopback_socket()
    port = sock.getsockname()[1]
    sock.close()
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "evolab.backends.simulator",
            "--port",
            str(port),
            "--profile",
            "generic",
            "--log-level",
            "warning",
        ],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert process.stdout is not None
        assert "SIMULATED" in process.stdout.readline()
        deadline = time.monotonic() + 10
        while True:
            try:
                response = httpx.get(f"http://127.0.0.1:{port}/v1/models")
                break
            except httpx.ConnectError:
                if time.monotonic() > deadline:
                    pytest.fail("the simulator did not come up")
                time.sleep(0.05)
        assert response.json()["data"][0]["id"] == "generic-chat-sim"
    finally:
        process.terminate()
        process.wait(timeout=10)
