"""The runs API: start, estimate, progress, sealed results, cancel and resume, outputs upload."""

from __future__ import annotations

import json
from typing import Any

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import Client

from evolab.runs.models import Run, RunSource, RunStatus
from tests.runs.conftest import Lab
from tests.runs.helpers import SECRET_OUTPUT, drain, sealed_run, start, targets


def _api(lab: Lab, path: str = "") -> str:
    return f"/api/v1/projects/{lab.team.project.slug}/runs{path}"


def _post(client: Client, url: str, body: dict[str, Any]) -> Any:
    return client.post(url, data=json.dumps(body), content_type="application/json")


def _body(lab: Lab, **changes: Any) -> dict[str, Any]:
    return {"suite": "demo", "backend": lab.backend.name, **changes}


@pytest.mark.django_db
class TestStart:
    def test_it_starts_a_run_and_answers_with_its_estimate(self, lab: Lab) -> None:
        response = _post(lab.team.client_for("maintainer"), _api(lab), _body(lab, samples=2, cost_cap_usd="0.5"))
        assert response.status_code == 201, response.content
        body = response.json()
        run = Run.objects.get()
        assert body["number"] == run.number and body["status"] == "queued" and body["harness"] == lab.harness.number
        assert body["suite"] == "demo" and body["suite_version"] == 1 and body["splits"] == ["dev"]
        assert body["backend_simulated"] is True and body["cost_cap_usd"] == 0.5
        assert (
            body["estimate"]["requests"] == 24
            and body["estimate"]["usd"] > 0
            and "assuming" in body["estimate"]["basis"]
        )
        assert body["estimate_usd"] == pytest.approx(body["estimate"]["usd"])
        assert (
            body["progress"]["total"] == 24 and body["progress"]["pending"] == 24 and body["progress"]["score"] is None
        )

    def test_it_names_the_field_at_fault(self, lab: Lab) -> None:
        client = lab.team.client_for("maintainer")
        for changes, field in [
            ({"backend": "nope"}, "backend"),
            ({"suite": "nope"}, "suite"),
            ({"suite_version": 7}, "suite_version"),
            ({"harness": 9}, "harness"),
            ({"splits": ["test"]}, "splits.0"),
            ({"samples": 21}, "samples"),
            ({"splits": ["train"]}, "splits"),
        ]:
            response = _post(client, _api(lab), _body(lab, **changes))
            assert response.status_code == 422 and response.json()["field"] == field, (changes, response.json())
        assert not Run.objects.exists()

    def test_the_estimate_starts_nothing(self, lab: Lab) -> None:
        response = _post(lab.team.client_for("maintainer"), _api(lab, "/estimate"), _body(lab, samples=3))
        assert response.status_code == 200
        assert response.json()["requests"] == 36 and response.json()["input_tokens"] > 0
        assert not Run.objects.exists()


@pytest.mark.django_db(transaction=True)
def test_progress_and_score_after_the_run(lab: Lab) -> None:
    client = lab.team.client_for("maintainer")
    number = _post(client, _api(lab), _body(lab)).json()["number"]
    drain(Run.objects.get(number=number))
    body = lab.team.client_for("viewer").get(_api(lab, f"/{number}")).json()
    assert body["status"] == "completed" and body["finished_at"] is not None
    progress = body["progress"]
    assert progress["done"] == progress["finished"] == 12 and progress["errors"] == 0 and progress["pending"] == 0
    assert progress["input_tokens"] > 0 and progress["spend_usd"] > 0 and progress["eta_s"] is None
    score = progress["score"]
    assert 0 <= score["low"] <= score["mean"] <= score["high"] <= 1 and score["n"] == 12 and score["k"] == 1
    listed = lab.team.client_for("viewer").get(_api(lab)).json()
    assert listed["count"] == 1 and listed["items"][0]["progress"]["score"] == score


@pytest.mark.django_db
def test_results_are_paginated_and_sealed_below_maintainer(lab: Lab) -> None:
    run = sealed_run(lab)
    viewer = lab.team.client_for("viewer").get(_api(lab, f"/{run.number}/results")).json()
    assert viewer["count"] == 4
    sealed = [row for row in viewer["items"] if row["split"] == "holdout"]
    assert len(sealed) == 2 and all(row["sealed"] and row["output"] is None for row in sealed)
    assert all(row["grade_details"] is None and row["score"] == 1.0 for row in sealed)
    assert SECRET_OUTPUT not in json.dumps(viewer)
    opened = [row for row in viewer["items"] if row["split"] == "dev"]
    assert all(not row["sealed"] and row["output"] == "open output" for row in opened)
    maintainer = lab.team.client_for("maintainer").get(_api(lab, f"/{run.number}/results?split=holdout&limit=1"))
    assert maintainer.json()["count"] == 2 and maintainer.json()["items"][0]["output"] == SECRET_OUTPUT


@pytest.mark.django_db
def test_cancel_and_resume(lab: Lab) -> None:
    run = start(lab, backend=None, outputs={(key, 0): "x" for key in targets(lab)})
    client = lab.team.client_for("maintainer")
    response = client.post(_api(lab, f"/{run.number}/cancel"))
    assert response.status_code == 200 and response.json()["status"] == "cancelled"
    assert response.json()["stop_reason"] == "cancelled by maintainer"
    again = client.post(_api(lab, f"/{run.number}/cancel"))
    assert again.status_code == 409 and again.json()["code"] == "conflict"
    resumed = _post(client, _api(lab, f"/{run.number}/resume"), {"cost_cap_usd": "2"})
    assert resumed.status_code == 200 and resumed.json()["status"] == "running"
    assert resumed.json()["cost_cap_usd"] == 2.0
    bare = client.generic("POST", _api(lab, f"/{run.number}/resume"))  # no body at all
    assert bare.status_code == 409 and bare.json()["message"] == "Only a cancelled or stopped run can be resumed."


@pytest.mark.django_db(transaction=True)
def test_pre_recorded_outputs_are_scored(lab: Lab) -> None:
    answers = targets(lab)
    lines = [json.dumps({"key": key, "output": target}) for key, target in sorted(answers.items())]
    upload = SimpleUploadedFile("outputs.jsonl", "\n".join(lines).encode())
    client = lab.team.client_for("maintainer")
    response = client.post(_api(lab, "/outputs"), {"file": upload, "suite": "demo", "splits": "dev"})
    assert response.status_code == 201, response.content
    body = response.json()
    assert body["source"] == RunSource.OUTPUTS and body["backend"] == "pre-recorded outputs"
    assert body["estimate"]["usd"] == 0 and body["samples"] == 1
    run = drain(Run.objects.get(number=body["number"]))
    assert run.status == RunStatus.COMPLETED
    progress = client.get(_api(lab, f"/{run.number}")).json()["progress"]
    assert progress["done"] == 12 and progress["score"]["mean"] > 0.9
    assert lab.simulator.stats()["chat_requests"] == 0


@pytest.mark.django_db
def test_a_bad_outputs_line_is_named(lab: Lab) -> None:
    client = lab.team.client_for("maintainer")
    upload = SimpleUploadedFile("outputs.jsonl", b'{"key": "a", "output": "x"}\n{"key": "b", "output": \n')
    response = client.post(_api(lab, "/outputs"), {"file": upload, "suite": "demo"})
    assert response.status_code == 422
    assert response.json()["message"].startswith("line 2: not valid JSON") and response.json()["details"] == {"line": 2}
    upload = SimpleUploadedFile("outputs.jsonl", b'{"key": "nope", "output": "x"}\n')
    response = client.post(_api(lab, "/outputs"), {"file": upload, "suite": "demo"})
    assert response.status_code == 422 and "not in the chosen splits: nope" in response.json()["message"]
    upload = SimpleUploadedFile("outputs.jsonl", b'{"key": "a", "sample": 2, "output": "x"}\n')
    response = client.post(_api(lab, "/outputs"), {"file": upload, "suite": "demo", "samples": "1"})
    assert response.status_code == 422 and response.json()["field"] == "samples"
    assert client.post(_api(lab, "/outputs"), {"suite": "demo"}).json()["field"] == "file"
    assert not Run.objects.exists()
