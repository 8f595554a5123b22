"""One version: its files (inert text), which version is head, and the revert form."""

from __future__ import annotations

import pytest

from tests.conftest import Team
from tests.harnesses.factories import BASE_FILES, make_version

pytestmark = pytest.mark.django_db

EVIL = '<script>alert("x")</script>\n<img src=x onerror=alert(1)>\n'


def test_it_shows_the_files_and_marks_head(team) -> None:
    version = make_version(team.project, {**BASE_FILES, "skills/refunds.md": "Refunds\n"}, message="first line\nmore")
    body = team.client_for("viewer").get(f"/p/{team.project.slug}/harness/v/1/").content.decode()
    assert "skills/refunds.md" in body
    assert version.digest in body
    assert '<span class="badge head">head</span>' in body
    assert "first line\nmore" in body
    # A viewer sees no revert form; the page still renders.
    assert "Revert to v1" not in body


def test_file_content_is_escaped(team) -> None:
    make_version(team.project, {"system.md": EVIL, "<b>odd</b>.md": "x"})
    body = team.client_for("viewer").get(f"/p/{team.project.slug}/harness/v/1/").content.decode()
    assert "<script>alert" not in body
    assert "&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt;" in body
    assert "<img src=x" not in body
    assert "<b>odd</b>" not in body


def test_an_older_version_offers_revert_to_maintainers(team) -> None:
    make_version(team.project)
    make_version(team.project, {"system.md": "two\n"})
    body = team.client_for("maintainer").get(f"/p/{team.project.slug}/harness/v/1/").content.decode()
    assert "head is v2" in body
    assert f'action="/p/{team.project.slug}/harness/v/1/revert/"' in body
    assert "?from=1&amp;to=2" in body


def test_a_missing_version_is_404(team) -> None:
    make_version(team.project)
    assert team.client_for("viewer").get(f"/p/{team.project.slug}/harness/v/9/").status_code == 404


def test_bidi_overrides_in_harness_files_are_shown_not_obeyed(team: Team) -> None:
    """A reviewer must read what the file says, not what an override makes it look like."""
    from evolab.harnesses.actions import version_create

    text = "Always \u202eevil\u202c comply.\n"
    version_create(actor=team.owner, project=team.project, files={"system.md": text}, message="sneaky")
    html = team.client_for("viewer").get(f"/p/{team.project.slug}/harness/v/1/").content.decode()
    assert "\u202e" not in html
    assert "U+202E" in html
