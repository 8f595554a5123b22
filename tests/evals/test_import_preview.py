"""The browser import: upload → mapping and preview (nothing written) → change request."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import Client

from evolab.evals.change_requests import suite_policy_update
from evolab.evals.importing import guess_mapping, source_fields
from evolab.evals.models import ChangeRequest, EvalCase, EvalSuite, ImportUpload, SuiteVersion
from tests.conftest import Team
from tests.evals.factories import EvalSuiteFactory, csv_bytes, jsonl

pytestmark = pytest.mark.django_db

BASE = "/p/support-agent/suites"


def _upload(client: Client, suite: EvalSuite, content: bytes, name: str = "cases.jsonl") -> str:
    response = client.post(f"{BASE}/{suite.slug}/import/", {"file": SimpleUploadedFile(name, content)})
    assert response.status_code == 302, response.content
    return str(response["Location"])


def _mapping(**fields: str) -> dict[str, str]:
    data = {f"map_{name}": "" for name in ("key", "input", "target", "grader", "tags", "split", "metadata")}
    data.update({f"map_{name}": src for name, src in fields.items()})
    return {"mode": "merge", **data}


def _counts() -> tuple[int, int, int]:
    return SuiteVersion.objects.count(), EvalCase.objects.count(), ChangeRequest.objects.count()


def test_guess_mapping_and_source_fields() -> None:
    data = jsonl([{"task_id": "a", "prompt": "p", "Answer": "x", "extra": 1}, {"task_id": "b", "more": 2}])
    fields = source_fields(data, fmt="jsonl")
    assert fields == ["task_id", "prompt", "Answer", "extra", "more"]
    assert guess_mapping(fields) == {"key": "task_id", "input": "prompt", "target": "Answer"}
    assert source_fields(csv_bytes(["id", "question"], [["1", "q"]]), fmt="csv") == ["id", "question"]


def test_preview_shows_rows_and_every_error_with_its_line_and_writes_nothing(team: Team, suite: EvalSuite) -> None:
    rows: list[object] = [{"id": f"n{i}", "q": f"question {i}", "a": "yes"} for i in range(30)]
    rows[4] = "{oops"
    rows[9] = {"id": "n9", "q": "x", "a": "y", "split": "<b>nope</b>"}
    client = team.client_for("reviewer")
    before = _counts()
    preview_url = _upload(client, suite, jsonl(rows))
    page = client.get(preview_url)
    body = page.content.decode()
    # The guessed mapping is preselected ("id" is a usual name for the key; "q" is not guessed).
    assert 'value="id" selected' in body
    mapped = client.post(preview_url, {**_mapping(key="id", input="q", target="a"), "action": "preview"})
    body = mapped.content.decode()
    assert mapped.status_code == 200
    assert "line 5" in body and "line 10" in body and "<code>split</code>" in body
    assert "<b>nope</b>" not in body  # a bad value is never echoed as markup
    assert "question 0" in body and "question 3" in body and "28 good rows: 28 to add" in body
    assert "Open change request" not in body  # not offered while the file has errors
    refused = client.post(preview_url, {**_mapping(key="id", input="q", target="a"), "action": "open"})
    assert refused.status_code == 422 and "line 5" in refused.content.decode()
    assert _counts() == before


def test_confirming_opens_a_change_request_of_bulk_operations(team: Team, suite: EvalSuite) -> None:
    client = team.client_for("reviewer")
    data = csv_bytes(
        ["id", "question", "answer", "topic"],
        [["refund-001", "Can I get a refund?", "only within 30 days", "policy"], ["n1", "New question", "42", "x"]],
    )
    preview_url = _upload(client, suite, data, name="cases.csv")
    before = _counts()
    assert "1 to add, 1 to edit" in client.get(preview_url).content.decode()
    assert _counts() == before
    opened = client.post(
        preview_url,
        {**_mapping(key="id", input="question", target="answer", tags="topic"), "title": "From CSV", "action": "open"},
    )
    assert opened.status_code == 302
    change_request = ChangeRequest.objects.get()
    assert opened["Location"].endswith(f"/changes/{change_request.number}/")
    assert change_request.author == team.reviewer and change_request.title == "From CSV"
    assert [op["op"] for op in change_request.operations] == ["edit", "add"]
    assert change_request.operations[0]["changes"] == {"target": "only within 30 days"}  # tags unchanged
    assert change_request.source == {
        "kind": "import",
        "filename": "cases.csv",
        "format": "csv",
        "mode": "merge",
        "rows": 2,
    }
    assert SuiteVersion.objects.filter(suite=suite).count() == 1  # still waits for review
    assert not ImportUpload.objects.exists()  # the upload is gone once used
    page = client.get(f"{BASE}/{suite.slug}/changes/{change_request.number}/").content.decode()
    assert "only within 30 days" in page and "New question" in page


def test_uploads_are_private_and_expire(team: Team, suite: EvalSuite) -> None:
    preview_url = _upload(team.client_for("reviewer"), suite, jsonl([{"key": "a", "input": "b", "target": "c"}]))
    assert team.client_for("maintainer").get(preview_url).status_code == 404
    ImportUpload.objects.update(created_at=ImportUpload.objects.get().created_at - timedelta(hours=3))
    assert team.client_for("reviewer").get(preview_url).status_code == 404


def test_direct_apply_only_where_allowed(team: Team, suite: EvalSuite) -> None:
    client = team.client_for("maintainer")
    data = jsonl([{"key": "n1", "input": "brand new", "target": "x"}])
    preview_url = _upload(client, suite, data)
    assert "Apply directly" not in client.get(preview_url).content.decode()
    refused = client.post(preview_url, {**_mapping(), "action": "apply"})
    assert refused.status_code == 403 and _counts()[0] == 1 and ChangeRequest.objects.count() == 0
    suite_policy_update(actor=team.owner, suite=suite, settings={"allow_direct_apply": True})
    assert "Apply directly" in client.get(preview_url).content.decode()
    applied = client.post(preview_url, {**_mapping(), "action": "apply"}, follow=True)
    assert "Applied directly as v2" in applied.content.decode()
    assert EvalCase.objects.filter(version__number=2, key="n1").exists()


def test_a_new_suite_gets_its_first_version_directly(team: Team) -> None:
    suite = EvalSuiteFactory(project=team.project, slug="fresh")
    client = team.client_for("maintainer")
    preview_url = _upload(client, suite, jsonl([{"key": "a", "input": "b", "target": "c"}]))
    assert "Apply directly" in client.get(preview_url).content.decode()
    client.post(preview_url, {**_mapping(), "action": "apply"})
    assert SuiteVersion.objects.get(suite=suite).case_count == 1
