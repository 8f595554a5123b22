"""Every upload path refuses a file over EVOLAB_MAX_UPLOAD_MB, says how big it is and what
the limit is, and changes nothing; a JSON body over DATA_UPLOAD_MAX_MEMORY_SIZE is a 413."""

from __future__ import annotations

import io
import json
import zipfile
from typing import Any

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import Client
from django.urls import reverse

from evolab.core.uploads import oversize_message
from evolab.demo import demo_harness_files, demo_suite_rows
from evolab.evals.actions import suite_create, suite_version_import
from evolab.evals.models import EvalSuite, ImportUpload, SuiteVersion
from evolab.harnesses.actions import version_create
from evolab.harnesses.models import HarnessVersion
from evolab.projects.actions import token_create
from evolab.runs.models import Run
from tests.conftest import Team

pytestmark = pytest.mark.django_db

LIMIT_MB = 0.01  # 10,485 bytes: small enough to build files over it quickly
MESSAGE = "is 0.02 MB; the limit is 0.01 MB."


@pytest.fixture(autouse=True)
def _small_limit(settings: Any) -> None:
    settings.EVOLAB_MAX_UPLOAD_MB = LIMIT_MB


@pytest.fixture
def suite(team: Team) -> EvalSuite:
    suite = suite_create(actor=team.owner, project=team.project, slug="demo", name="Demo")
    rows = [{**row, "split": "dev"} for row in demo_suite_rows()[:3]]
    suite_version_import(
        actor=team.owner, suite=suite, source="\n".join(json.dumps(r) for r in rows).encode(), fmt="jsonl"
    )
    version_create(actor=team.owner, project=team.project, files=demo_harness_files(), message="first")
    return suite


def _big_jsonl(rows: list[dict[str, Any]], size: int = 20_000) -> bytes:
    """Valid JSONL (so only its size can be wrong) of about `size` bytes."""
    lines, total, n = [], 0, 0
    while total < size:
        row = {**rows[n % len(rows)], "key": f"case-{n}", "split": "dev"}
        line = json.dumps(row)
        lines.append(line)
        total += len(line) + 1
        n += 1
    return "\n".join(lines).encode()


def _big_zip(size: int = 20_000) -> bytes:
    """A valid harness archive, incompressible enough to be `size` bytes."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_STORED) as archive:
        for path, text in demo_harness_files().items():
            archive.writestr(path, text)
        archive.writestr("notes.md", "x" * size)
    return buffer.getvalue()


def _counts() -> tuple[int, ...]:
    models = (SuiteVersion, ImportUpload, HarnessVersion, Run)
    return tuple(model.objects.count() for model in models)


def test_the_message_names_size_and_limit(settings: Any) -> None:
    settings.EVOLAB_MAX_UPLOAD_MB = 20
    over = SimpleUploadedFile("cases.jsonl", b"x" * (20 * 1024 * 1024 + 1))
    assert oversize_message(over) == "The file cases.jsonl is 20,971,521 bytes; the limit is 20 MB."
    over = SimpleUploadedFile("cases.jsonl", b"x" * (21 * 1024 * 1024))
    assert oversize_message(over) == "The file cases.jsonl is 21.0 MB; the limit is 20 MB."
    assert oversize_message(SimpleUploadedFile("ok.jsonl", b"x" * (20 * 1024 * 1024))) is None


def test_browser_suite_import_refuses_a_big_file(team: Team, suite: EvalSuite) -> None:
    before = _counts()
    upload = SimpleUploadedFile("cases.jsonl", _big_jsonl(demo_suite_rows()))
    response = team.client_for("maintainer").post(
        reverse("evals:import", kwargs={"slug": team.project.slug, "suite_slug": suite.slug}),
        {"file": upload, "format": "jsonl"},
    )
    assert response.status_code == 422
    assert f"The file cases.jsonl {MESSAGE}" in response.content.decode()
    assert _counts() == before


def test_browser_suite_import_still_takes_a_file_within_the_limit(team: Team, suite: EvalSuite) -> None:
    """(The browser import keeps the file aside for its preview step.)"""
    upload = SimpleUploadedFile("cases.jsonl", _big_jsonl(demo_suite_rows(), size=5_000))
    response = team.client_for("maintainer").post(
        reverse("evals:import", kwargs={"slug": team.project.slug, "suite_slug": suite.slug}),
        {"file": upload, "format": "jsonl"},
    )
    assert response.status_code == 302
    assert ImportUpload.objects.filter(suite=suite).count() == 1


def test_browser_harness_upload_refuses_a_big_zip(team: Team, suite: EvalSuite) -> None:
    before = _counts()
    response = team.client_for("maintainer").post(
        reverse("harnesses:upload", kwargs={"slug": team.project.slug}),
        {"file": SimpleUploadedFile("harness.zip", _big_zip()), "message": "too big"},
    )
    assert response.status_code == 422
    assert f"The file harness.zip {MESSAGE}" in response.content.decode()
    assert _counts() == before


@pytest.mark.parametrize(
    ("path", "name", "fields"),
    [
        ("suites/demo/import", "cases.jsonl", {"format": "jsonl"}),
        ("harness/versions/upload", "harness.zip", {"message": "too big"}),
        ("runs/outputs", "outputs.jsonl", {"suite": "demo", "splits": "dev"}),
    ],
)
def test_api_uploads_refuse_a_big_file_with_413(
    team: Team, suite: EvalSuite, path: str, name: str, fields: dict[str, str]
) -> None:
    _, raw = token_create(user=team.maintainer, name="ci")
    content = _big_zip() if name.endswith(".zip") else _big_jsonl(demo_suite_rows())
    before = _counts()
    response = Client().post(
        f"/api/v1/projects/{team.project.slug}/{path}",
        {"file": SimpleUploadedFile(name, content), **fields},
        HTTP_AUTHORIZATION=f"Bearer {raw}",
    )
    assert response.status_code == 413, response.content
    assert response.json() == {"code": "too_large", "message": f"The file {name} {MESSAGE}", "field": "file"}
    assert _counts() == before


def test_api_outputs_upload_within_the_limit_is_scored(team: Team, suite: EvalSuite) -> None:
    """The outputs path really takes a file that fits: the limit is not all it does."""
    _, raw = token_create(user=team.maintainer, name="ci")
    outputs = [{"key": row["key"], "sample": 0, "output": "ok"} for row in demo_suite_rows()[:3]]
    response = Client().post(
        f"/api/v1/projects/{team.project.slug}/runs/outputs",
        {"file": SimpleUploadedFile("o.jsonl", "\n".join(map(json.dumps, outputs)).encode()), "suite": "demo"},
        HTTP_AUTHORIZATION=f"Bearer {raw}",
    )
    assert response.status_code == 201, response.content
    assert Run.objects.count() == 1


def test_a_json_body_over_the_body_limit_is_a_413(team: Team, suite: EvalSuite, settings: Any) -> None:
    settings.DATA_UPLOAD_MAX_MEMORY_SIZE = 10_000
    _, raw = token_create(user=team.maintainer, name="ci")
    before = _counts()
    body = {"files": {"system.md": "x" * 20_000}, "message": "too big"}
    response = Client().post(
        f"/api/v1/projects/{team.project.slug}/harness/versions",
        body,
        content_type="application/json",
        HTTP_AUTHORIZATION=f"Bearer {raw}",
    )
    assert response.status_code == 413
    assert response.json()["code"] == "too_large"
    assert response.json()["message"] == (
        "The request body is over the limit of 0.00954 MB; send files as multipart uploads."
    )
    assert _counts() == before
