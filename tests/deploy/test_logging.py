"""Structured logs: JSON lines with a request id (kept from a sane X-Request-ID, echoed),
run and chunk ids inside a chunk task, and no credential in any line — proven by a whole
evaluation against the simulator with every logger at DEBUG."""

from __future__ import annotations

import json
import logging
from collections.abc import Iterator

import pytest
from django.test import Client

from evolab.core.logging import ContextFilter, JsonFormatter, RedactingFilter, log_context, redact
from evolab.projects.models import Backend
from tests.runs.conftest import Lab
from tests.runs.helpers import drain, start

SECRET = "evolab-known-secret-Q7m2X9v4Lr"


class Capture(logging.Handler):
    """Every record, formatted twice: raw (what the code logged) and as production writes it."""

    def __init__(self) -> None:
        super().__init__(level=logging.DEBUG)
        self.raw: list[str] = []
        self.lines: list[str] = []
        self.names: set[str] = set()
        self.plain = logging.Formatter("%(name)s %(levelname)s %(message)s")
        self.json = JsonFormatter()

    def emit(self, record: logging.LogRecord) -> None:
        self.names.add(record.name)
        self.raw.append(self.plain.format(record))
        ContextFilter().filter(record)
        RedactingFilter().filter(record)
        self.lines.append(self.json.format(record))


@pytest.fixture
def capture() -> Iterator[Capture]:
    handler = Capture()
    root = logging.getLogger()
    noisy = [logging.getLogger(name) for name in ("httpx", "httpcore", "openai", "evolab", "celery")]
    levels = [root.level, *(logger.level for logger in noisy)]
    root.addHandler(handler)
    root.setLevel(logging.DEBUG)
    for logger in noisy:
        logger.setLevel(logging.DEBUG)
    yield handler
    root.removeHandler(handler)
    root.setLevel(levels[0])
    for logger, level in zip(noisy, levels[1:], strict=True):
        logger.setLevel(level)


@pytest.mark.django_db
def test_a_request_logs_one_json_line_with_its_id(capture: Capture) -> None:
    response = Client().get("/accounts/login/", HTTP_X_REQUEST_ID="proxy-abc-123456")
    assert response["X-Request-ID"] == "proxy-abc-123456"
    entries = [json.loads(line) for line in capture.lines]
    request = next(entry for entry in entries if entry["logger"] == "evolab.request")
    assert request["request_id"] == "proxy-abc-123456"
    assert request["status"] == 200 and request["path"] == "/accounts/login/" and request["method"] == "GET"


@pytest.mark.django_db
@pytest.mark.parametrize("incoming", ["", "short", "x" * 300, "id with spaces\n", 'a"b=c"' * 3])
def test_an_odd_incoming_request_id_is_replaced(incoming: str) -> None:
    response = Client().get("/accounts/login/", HTTP_X_REQUEST_ID=incoming)
    assert response["X-Request-ID"] != incoming
    assert len(response["X-Request-ID"]) == 32


def test_redaction_scrubs_credential_shapes(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("EVOLAB_KEY_TEAM", "plain-value-without-shape-1234")
    samples = {
        "headers {'Authorization': 'Bearer abcdefgh12345678'}": "abcdefgh12345678",
        "Authorization: Basic dXNlcjpwYXNzd29yZA==": "dXNlcjpwYXNzd29yZA==",
        "calling with bearer eyJhbGciOiJIUzI1NiJ9.payload.sig": "eyJhbGciOiJIUzI1NiJ9",
        "key sk-proj-AbCdEf0123456789xyz rejected": "sk-proj-AbCdEf0123456789xyz",
        '{"api_key": "k-1234567890"}': "k-1234567890",
        "the team key is plain-value-without-shape-1234": "plain-value-without-shape-1234",
    }
    for text, secret in samples.items():
        cleaned = redact(text)
        assert secret not in cleaned and "[REDACTED]" in cleaned, cleaned
    assert redact("run 12 finished: 40 of 40 scored") == "run 12 finished: 40 of 40 scored"


def test_redaction_covers_arguments_and_tracebacks() -> None:
    record = logging.LogRecord("x", logging.ERROR, __file__, 1, "sent %s", ("Bearer abcdefgh12345678",), None)
    try:
        raise RuntimeError("upstream refused sk-live-0123456789abcdef")
    except RuntimeError:
        import sys

        record.exc_info = sys.exc_info()
    RedactingFilter().filter(record)
    line = JsonFormatter().format(record)
    assert "abcdefgh12345678" not in line and "sk-live-0123456789abcdef" not in line
    assert "[REDACTED]" in json.loads(line)["exception"]


def test_context_fields_reach_the_json_line() -> None:
    record = logging.LogRecord("evolab.x", logging.INFO, __file__, 1, "hello", None, None)
    with log_context(run_id=7, campaign_id=3):
        ContextFilter().filter(record)
    entry = json.loads(JsonFormatter().format(record))
    assert (entry["run_id"], entry["campaign_id"], entry["message"]) == ("7", "3", "hello")
    assert "request_id" not in entry


@pytest.mark.django_db(transaction=True)
def test_a_whole_evaluation_logs_no_key(lab: Lab, capture: Capture, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("EVOLAB_KEY_SECRET_TEST", SECRET)
    Backend.objects.filter(pk=lab.backend.pk).update(api_key_env="EVOLAB_KEY_SECRET_TEST")
    lab.backend.refresh_from_db()
    run = drain(start(lab))
    assert run.status == "completed" and run.results.filter(status="done").count() == run.total_results

    # The capture saw the HTTP client's own DEBUG records, not only ours.
    assert any(name.startswith(("httpx", "httpcore", "openai")) for name in capture.names), capture.names
    assert capture.raw and capture.lines
    assert not [line for line in capture.raw if SECRET in line], "the code logged the key"
    assert not [line for line in capture.lines if SECRET in line]
    entries = [json.loads(line) for line in capture.lines]
    assert any(entry.get("run_id") == str(run.pk) and entry.get("chunk_id") for entry in entries)


@pytest.mark.django_db(transaction=True)
def test_each_chunk_logs_its_own_run_on_a_reused_event_loop(lab: Lab, capture: Capture) -> None:
    """A worker thread keeps its event loop from chunk to chunk; the second run's HTTP
    client records must carry the second run's id, not the first's."""
    first = drain(start(lab))
    capture.lines.clear()
    second = drain(start(lab, use_cache=False))  # the cache would answer without a request
    assert first.pk != second.pk
    client_entries = [
        entry for entry in map(json.loads, capture.lines) if entry["logger"].startswith(("httpx", "httpcore", "openai"))
    ]
    assert client_entries and {entry.get("run_id") for entry in client_entries} == {str(second.pk)}
