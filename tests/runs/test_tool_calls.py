"""Regression: tool calls of a real run reach their tools.

The backends client returns tool calls in parsed form (`name`, `arguments_raw`), while
the agent loop read only the OpenAI wire form (`function.name`), so against a real
endpoint every call ran as the unknown tool '' and the model had to answer without
its tools. The engine's scripted fake used the wire form and hid it.
"""

from __future__ import annotations

import pytest

from evolab.runs.models import CaseResult
from tests.runs.conftest import Lab
from tests.runs.helpers import drain, start

pytestmark = pytest.mark.django_db(transaction=True)


def test_tool_calls_of_a_run_against_the_simulator_are_executed(lab: Lab) -> None:
    run = drain(start(lab, use_cache=False))
    records = [
        record for calls in CaseResult.objects.filter(run=run).values_list("tool_calls", flat=True) for record in calls
    ]
    assert records, "the demo harness on the simulator makes tool calls"
    assert all(record["name"] in ("calculator", "submit_answer") for record in records)
    assert not any("unknown tool" in record["result"] for record in records)
    assert any(record["name"] == "calculator" and not record["error"] for record in records)
