"""The harness API: list, get, create (JSON and .zip), head, diff, revert."""

from __future__ import annotations

import json
from typing import Any

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import Client

from evolab.harnesses.models import HarnessVersion
from evolab.harnesses.selectors import head_of
from evolab.projects.actions import token_create
from tests.harnesses.factories import BASE_FILES, make_version, make_zip

pytestmark = pytest.mark.django_db


def _url(team: Any, tail: str) -> str:
    return f"/api/v1/projects/{team.project.slug}/harness/{tail}"


def _post(team: Any, tail: str, body: dict[str, Any], persona: str = "maintainer") -> Any:
    return team.client_for(persona).post(_url(team, tail), json.dumps(body), content_type="application/json")


def test_list_is_newest_first_without_files(team) -> None:
    make_version(team.project, actor=team.owner)
    make_version(team.project, {"system.md": "two\n"}, actor=team.owner)
    response = team.client_for("viewer").get(_url(team, "versions"))
    assert response.status_code == 200
    body = response.json()
    assert body["count"] == 2
    first = body["items"][0]
    assert (first["number"], first["parents"], first["is_head"], first["author"]) == (2, [1], True, "owner")
    assert body["items"][1]["is_head"] is False
    assert "files" not in first
    assert len(first["digest"]) == 64 and first["short_digest"] == first["digest"][:7]


def test_get_one_version_with_files(team) -> None:
    make_version(team.project)
    body = team.client_for("viewer").get(_url(team, "versions/1")).json()
    assert body["files"] == BASE_FILES
    assert body["is_head"] is True


def test_get_a_missing_version(team) -> None:
    response = team.client_for("viewer").get(_url(team, "versions/4"))
    assert response.status_code == 404
    assert response.json()["code"] == "not_found"


def test_create(team) -> None:
    response = _post(team, "versions", {"files": BASE_FILES, "message": "first via API"})
    assert response.status_code == 201
    body = response.json()
    assert (body["number"], body["parents"], body["is_head"], body["author"]) == (1, [], True, "maintainer")
    assert body["files"] == BASE_FILES


def test_create_with_a_bearer_token(team) -> None:
    _, raw = token_create(user=team.maintainer, name="ci")
    response = Client().post(
        _url(team, "versions"),
        json.dumps({"files": BASE_FILES, "message": "from CI"}),
        content_type="application/json",
        headers={"Authorization": f"Bearer {raw}"},
    )
    assert response.status_code == 201
    assert head_of(team.project).author == team.maintainer


def test_create_with_a_stale_parent_is_a_conflict(team) -> None:
    make_version(team.project)
    make_version(team.project, {"system.md": "two\n"})
    response = _post(team, "versions", {"files": {"system.md": "three\n"}, "message": "m", "parents": [1]})
    assert response.status_code == 409
    assert response.json()["code"] == "conflict"
    assert response.json()["field"] == "head"
    assert head_of(team.project).number == 2


def test_create_with_an_unknown_parent(team) -> None:
    response = _post(team, "versions", {"files": BASE_FILES, "message": "m", "parents": [5]})
    assert response.status_code == 404


@pytest.mark.parametrize("path", ["../x", "/etc/x", "a/../../x", ""])
def test_create_refuses_unsafe_paths(team, path: str) -> None:
    response = _post(team, "versions", {"files": {path: "x"}, "message": "m"})
    assert response.status_code == 422
    assert response.json()["field"] == f"files[{path!r}]"
    assert not HarnessVersion.objects.exists()


def test_create_names_the_bad_config_field(team) -> None:
    response = _post(team, "versions", {"files": {"harness.yaml": "sampling:\n  temperature: -1\n"}, "message": "m"})
    assert response.status_code == 422
    body = response.json()
    assert body["field"] == "files['harness.yaml'].sampling.temperature"
    assert "sampling.temperature" in body["message"]
    assert body["details"] == {"path": "harness.yaml", "key": "sampling.temperature"}


def test_create_refuses_non_text_values(team) -> None:
    response = _post(team, "versions", {"files": {"a.md": 3}, "message": "m"})
    assert response.status_code == 422
    assert response.json()["field"].startswith("files")


def test_upload_a_zip(team) -> None:
    upload = SimpleUploadedFile("h.zip", make_zip({"h/system.md": "z\n"}), content_type="application/zip")
    response = team.client_for("maintainer").post(_url(team, "versions/upload"), {"file": upload, "message": "zip"})
    assert response.status_code == 201
    assert response.json()["files"] == {"system.md": "z\n"}


def test_upload_with_parents(team) -> None:
    make_version(team.project)
    upload = SimpleUploadedFile("h.zip", make_zip({"system.md": "z\n"}), content_type="application/zip")
    response = team.client_for("maintainer").post(
        _url(team, "versions/upload"), {"file": upload, "message": "zip", "parents": "1"}
    )
    assert response.status_code == 201
    assert response.json()["parents"] == [1]


def test_upload_refuses_zip_slip(team) -> None:
    upload = SimpleUploadedFile("h.zip", make_zip({"../evil.md": "x"}), content_type="application/zip")
    response = team.client_for("maintainer").post(_url(team, "versions/upload"), {"file": upload, "message": "zip"})
    assert response.status_code == 422
    assert response.json()["field"] == "files['../evil.md']"
    assert not HarnessVersion.objects.exists()


def test_upload_without_a_file(team) -> None:
    response = team.client_for("maintainer").post(_url(team, "versions/upload"), {"message": "zip"})
    assert response.status_code == 422
    assert response.json()["field"] == "file"


def test_head(team) -> None:
    assert team.client_for("viewer").get(_url(team, "head")).status_code == 404
    make_version(team.project)
    body = team.client_for("viewer").get(_url(team, "head")).json()
    assert body["number"] == 1 and body["version"]["is_head"] is True


def test_diff(team) -> None:
    make_version(team.project)
    make_version(team.project, {**BASE_FILES, "system.md": "changed\n", "new.md": "n\n"})
    body = team.client_for("viewer").get(_url(team, "diff?from=1&to=2")).json()
    assert body["from_version"]["number"] == 1 and body["to_version"]["number"] == 2
    statuses = {f["new_path"] or f["old_path"]: f["status"] for f in body["files"]}
    assert statuses == {"new.md": "added", "system.md": "modified"}
    system = next(f for f in body["files"] if f["new_path"] == "system.md")
    assert system["unified"].startswith("--- a/system.md\n+++ b/system.md\n@@")
    assert "+changed" in system["unified"]
    assert body["unchanged"] == 1


def test_diff_defaults_to_the_first_parent(team) -> None:
    make_version(team.project)
    make_version(team.project, {"system.md": "two\n"})
    body = team.client_for("viewer").get(_url(team, "diff?to=2")).json()
    assert body["from_version"]["number"] == 1
    first = team.client_for("viewer").get(_url(team, "diff?to=1")).json()
    assert first["from_version"] is None
    assert {f["status"] for f in first["files"]} == {"added"}


def test_revert(team) -> None:
    make_version(team.project)
    make_version(team.project, {"system.md": "worse\n"})
    response = _post(team, "versions/1/revert", {"reason": "regression"})
    assert response.status_code == 201
    body = response.json()
    assert (body["number"], body["parents"], body["message"]) == (3, [2], "Revert to v1: regression")
    assert body["files"] == BASE_FILES


def test_revert_needs_a_reason(team) -> None:
    make_version(team.project)
    make_version(team.project, {"system.md": "worse\n"})
    response = _post(team, "versions/1/revert", {"reason": ""})
    assert response.status_code == 422
    assert response.json()["field"] == "reason"
