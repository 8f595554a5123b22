"""Uploading a .zip in the browser: a bad archive is refused, named, and stores nothing."""

from __future__ import annotations

from typing import Any

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile

from evolab.harnesses.archive import MAX_ZIP_BYTES
from evolab.harnesses.models import HarnessVersion
from evolab.harnesses.selectors import head_of
from tests.harnesses.factories import make_version, make_zip

pytestmark = pytest.mark.django_db


def _upload(team: Any, data: bytes, **extra: str) -> Any:
    upload = SimpleUploadedFile("harness.zip", data, content_type="application/zip")
    return team.client_for("maintainer").post(
        f"/p/{team.project.slug}/harness/upload/", {"message": "from zip", "file": upload, **extra}
    )


def test_the_form_shows(team) -> None:
    response = team.client_for("maintainer").get(f"/p/{team.project.slug}/harness/upload/")
    assert response.status_code == 200
    assert 'enctype="multipart/form-data"' in response.content.decode()


def test_it_commits_the_archive(team) -> None:
    response = _upload(team, make_zip({"support/system.md": "s\n", "support/skills/a.md": "a\n"}))
    assert response.status_code == 302
    head = head_of(team.project)
    assert head.files == {"skills/a.md": "a\n", "system.md": "s\n"}
    assert head.message == "from zip"


def test_it_commits_on_top_of_head(team) -> None:
    make_version(team.project)
    assert _upload(team, make_zip({"system.md": "new\n"}), base="1").status_code == 302
    assert head_of(team.project).number == 2


@pytest.mark.parametrize(
    ("entries", "symlinks", "expected"),
    [
        ({"system.md": "s", "../evil.md": "x"}, None, "../evil.md"),
        ({"system.md": "s", "/etc/passwd": "x"}, None, "absolute"),
        ({"system.md": "s"}, {"link.md": "/etc/shadow"}, "symbolic link"),
        ({"system.md": "s", "img.png": b"\x89PNG\x00"}, None, "binary"),
        ({"harness.yaml": "sampling:\n  top_p: 7\n"}, None, "sampling.top_p"),
    ],
)
def test_a_bad_archive_is_refused_with_a_clear_error(team, entries: Any, symlinks: Any, expected: str) -> None:
    response = _upload(team, make_zip(entries, symlinks=symlinks))
    assert response.status_code == 422
    assert expected in response.content.decode()
    assert not HarnessVersion.objects.exists()


def test_a_too_big_archive_is_refused(team) -> None:
    response = _upload(team, b"PK" + b"\x00" * MAX_ZIP_BYTES)
    assert response.status_code == 422
    assert "MiB" in response.content.decode()
    assert not HarnessVersion.objects.exists()
