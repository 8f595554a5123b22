"""The history page: newest first, head marked, parents shown, paginated."""

from __future__ import annotations

import pytest

from evolab.harnesses.views import HISTORY_PAGE_SIZE
from tests.harnesses.factories import make_history

pytestmark = pytest.mark.django_db


def test_it_lists_versions_newest_first(team) -> None:
    make_history(team.project, 3, actor=team.maintainer)
    response = team.client_for("viewer").get(f"/p/{team.project.slug}/harness/")
    assert response.status_code == 200
    body = response.content.decode()
    assert body.index(">v3</a>") < body.index(">v2</a>") < body.index(">v1</a>")
    assert body.count('<span class="badge head">head</span>') == 1
    assert "Edit files" not in body  # a viewer is not offered the editor


def test_maintainers_get_the_editor_links(team) -> None:
    body = team.client_for("maintainer").get(f"/p/{team.project.slug}/harness/").content.decode()
    assert "Commit a first harness" in body
    assert "No harness version yet" in body


def test_it_paginates(team) -> None:
    make_history(team.project, HISTORY_PAGE_SIZE + 2)
    client = team.client_for("viewer")
    first = client.get(f"/p/{team.project.slug}/harness/").content.decode()
    second = client.get(f"/p/{team.project.slug}/harness/?page=2").content.decode()
    assert f">v{HISTORY_PAGE_SIZE + 2}</a>" in first and ">v1</a>" not in first
    assert ">v1</a>" in second and "Page 2 of 2" in second


def test_htmx_gets_the_table_only(team) -> None:
    make_history(team.project, 2)
    response = team.client_for("viewer").get(f"/p/{team.project.slug}/harness/", headers={"HX-Request": "true"})
    body = response.content.decode()
    assert body.lstrip().startswith('<div id="versions">')
