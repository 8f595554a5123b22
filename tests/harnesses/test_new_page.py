"""The browser editor: one row per file, remove boxes, blank rows for new files."""

from __future__ import annotations

from typing import Any

import pytest

from evolab.harnesses.models import HarnessVersion
from evolab.harnesses.selectors import head_of
from tests.harnesses.factories import BASE_FILES, make_version

pytestmark = pytest.mark.django_db


def _post_data(rows: list[dict[str, Any]], *, message: str = "edit", base: int | None = None) -> dict[str, str]:
    data = {"f-TOTAL_FORMS": str(len(rows)), "f-INITIAL_FORMS": "0", "message": message, "base": str(base or "")}
    for index, row in enumerate(rows):
        data[f"f-{index}-path"] = row.get("path", "")
        data[f"f-{index}-text"] = row.get("text", "")
        if row.get("remove"):
            data[f"f-{index}-remove"] = "on"
    return data


def _url(team: Any) -> str:
    return f"/p/{team.project.slug}/harness/new/"


def test_it_prefills_the_head_files(team) -> None:
    make_version(team.project, {**BASE_FILES, "skills/refunds.md": "Refund within 30 days.\n"})
    response = team.client_for("maintainer").get(_url(team))
    assert response.status_code == 200
    body = response.content.decode()
    assert 'value="skills/refunds.md"' in body
    assert "Refund within 30 days." in body
    assert 'name="base" value="1"' in body
    assert 'id="file-row-template"' in body and "js/harness_edit.js" in body


def test_a_first_commit_starts_from_starter_files(team) -> None:
    body = team.client_for("maintainer").get(_url(team)).content.decode()
    assert 'value="harness.yaml"' in body and 'value="system.md"' in body


def test_it_commits_edits_additions_and_removals(team) -> None:
    make_version(team.project)
    rows = [
        {"path": "harness.yaml", "text": BASE_FILES["harness.yaml"]},
        {"path": "system.md", "text": BASE_FILES["system.md"], "remove": True},
        {"path": "workflow.md", "text": "Step 1\r\nStep 2\r\n"},
        {"path": "", "text": ""},
    ]
    response = team.client_for("maintainer").post(_url(team), _post_data(rows, message="Add workflow", base=1))
    assert response.status_code == 302
    assert response["Location"] == f"/p/{team.project.slug}/harness/v/2/"
    head = head_of(team.project)
    assert head.number == 2
    assert head.files == {"harness.yaml": BASE_FILES["harness.yaml"], "workflow.md": "Step 1\nStep 2\n"}
    assert head.author == team.maintainer and head.message == "Add workflow"


def test_textarea_line_endings_do_not_count_as_a_change(team) -> None:
    make_version(team.project)
    rows = [{"path": path, "text": text.replace("\n", "\r\n")} for path, text in BASE_FILES.items()]
    response = team.client_for("maintainer").post(_url(team), _post_data(rows, base=1))
    assert response.status_code == 409
    assert "Nothing changed" in response.content.decode()


def test_a_file_without_a_name_is_refused_on_its_row(team) -> None:
    rows = [{"path": "system.md", "text": "s"}, {"path": "", "text": "orphan text"}]
    response = team.client_for("maintainer").post(_url(team), _post_data(rows))
    assert response.status_code == 422
    assert "Give this file a name" in response.content.decode()
    assert not HarnessVersion.objects.exists()


def test_the_same_path_twice_is_refused(team) -> None:
    rows = [{"path": "a.md", "text": "1"}, {"path": "a.md", "text": "2"}]
    response = team.client_for("maintainer").post(_url(team), _post_data(rows))
    assert response.status_code == 422
    assert "listed twice" in response.content.decode()


@pytest.mark.parametrize("path", ["../x", "/etc/x", "a/../../x"])
def test_an_unsafe_path_is_refused_and_the_edits_are_kept(team, path: str) -> None:
    rows = [{"path": "system.md", "text": "my careful edit"}, {"path": path, "text": "x"}]
    response = team.client_for("maintainer").post(_url(team), _post_data(rows))
    assert response.status_code == 422
    body = response.content.decode()
    assert "my careful edit" in body
    assert "refused" in body
    assert not HarnessVersion.objects.exists()


def test_a_bad_harness_yaml_names_the_field(team) -> None:
    rows = [{"path": "harness.yaml", "text": "sampling:\n  temperature: 9\n"}]
    response = team.client_for("maintainer").post(_url(team), _post_data(rows))
    assert response.status_code == 422
    assert "sampling.temperature" in response.content.decode()
    assert not HarnessVersion.objects.exists()


def test_a_message_is_required(team) -> None:
    response = team.client_for("maintainer").post(_url(team), _post_data([{"path": "a.md", "text": "a"}], message=""))
    assert response.status_code == 422
    assert not HarnessVersion.objects.exists()


def test_head_moved_while_editing(team) -> None:
    make_version(team.project)
    make_version(team.project, {"system.md": "someone else's change\n"})
    rows = [{"path": "system.md", "text": "my change\n"}]
    client = team.client_for("maintainer")
    response = client.post(_url(team), _post_data(rows, base=1))
    assert response.status_code == 409
    body = response.content.decode()
    assert "Head moved: it is v2 now, not v1" in body
    assert "my change" in body
    assert "?from=1&amp;to=2" in body
    assert 'name="base" value="2"' in body
    assert head_of(team.project).number == 2
    # Having looked at v1 → v2, the person commits on top of v2.
    assert client.post(_url(team), _post_data(rows, base=2)).status_code == 302
    assert head_of(team.project).number == 3
