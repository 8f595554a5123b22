"""Small pure pieces of the client: Retry-After, backoff, think splitting, tool calls, params."""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime

import pytest

from evolab.backends.errors import BackendRequestRefused
from evolab.backends.params import prepare_params
from evolab.backends.reasoning import split_think
from evolab.backends.responses import StreamAssembler, parse_tool_call
from evolab.backends.retry import RetryPolicy, is_retryable_status, retry_after_seconds
from evolab.backends.types import BackendConfig

NOW = datetime(2025, 1, 1, 12, 0, tzinfo=UTC)


def test_retry_after_reads_seconds_milliseconds_and_dates() -> None:
    assert retry_after_seconds({"Retry-After": "0.2"}) == 0.2
    assert retry_after_seconds({"retry-after-ms": "150", "retry-after": "9"}) == 0.15
    date = format_datetime(NOW + timedelta(seconds=30), usegmt=True)
    assert retry_after_seconds({"Retry-After": date}, now=NOW) == 30
    assert retry_after_seconds({"Retry-After": "soon"}) is None
    assert retry_after_seconds({}) is None


def test_backoff_has_full_jitter_under_a_cap() -> None:
    policy = RetryPolicy(base_delay_s=0.5, max_delay_s=4.0, max_retry_after_s=10)
    rng = random.Random(1)
    delays = [policy.backoff_s(n, rng) for n in range(1, 10) for _ in range(20)]
    assert all(0 <= delay <= 4.0 for delay in delays)
    assert policy.wait_s(1, rng, 120.0) == 10
    assert policy.wait_s(1, rng, 0.2) == 0.2


@pytest.mark.parametrize(
    ("status", "retryable"),
    [(408, True), (409, True), (429, True), (500, True), (503, True), (400, False), (401, False), (404, False)],
)
def test_which_statuses_are_retried(status: int, retryable: bool) -> None:
    assert is_retryable_status(status) is retryable


def test_split_think() -> None:
    assert split_think("<think>\nplan\n</think>\n\nanswer") == ("answer", "plan")
    assert split_think("plain") == ("plain", None)
    assert split_think("<think>cut short") == ("", "cut short")


def test_tool_call_arguments_keep_raw_text_when_not_json() -> None:
    call = parse_tool_call({"id": "c1", "function": {"name": "calculator", "arguments": "{bad"}})
    assert call["arguments"] is None and call["arguments_raw"] == "{bad" and call["parse_error"]


def test_stream_assembler_merges_tool_call_pieces() -> None:
    assembler = StreamAssembler()
    assembler.feed(
        {
            "id": "r",
            "choices": [
                {
                    "index": 0,
                    "delta": {
                        "tool_calls": [
                            {
                                "index": 0,
                                "id": "c1",
                                "type": "function",
                                "function": {"name": "calculator", "arguments": '{"expr'},
                            }
                        ]
                    },
                }
            ],
        }
    )
    assembler.feed(
        {
            "choices": [
                {
                    "index": 0,
                    "delta": {"tool_calls": [{"index": 0, "function": {"arguments": 'ession": "1+1"}'}}]},
                    "finish_reason": "tool_calls",
                }
            ]
        }
    )
    turn = assembler.turn()
    assert turn.parsed_tool_calls()[0]["arguments"] == {"expression": "1+1"}
    assert turn.content is None and turn.finish_reason == "tool_calls"


def test_params_the_client_owns_are_refused() -> None:
    config = BackendConfig(name="b", kind="openai_compat", base_url="http://x/v1", model="m")
    with pytest.raises(BackendRequestRefused):
        prepare_params(config, {"stream": True})
    prepared = prepare_params(config, {"temperature": 0, "top_k": 5, "repetition_penalty": 1.1})
    assert prepared.kwargs == {"temperature": 0}
    assert prepared.extra_body == {"top_k": 5, "repetition_penalty": 1.1}
