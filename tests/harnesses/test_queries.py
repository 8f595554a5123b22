"""List pages and API lists cost a fixed number of queries, however many versions exist."""

from __future__ import annotations

from typing import Any

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from tests.harnesses.factories import BASE_FILES, make_history, make_version

pytestmark = pytest.mark.django_db


def _queries(client: Any, url: str) -> int:
    with CaptureQueriesContext(connection) as captured:
        assert client.get(url).status_code == 200
    return len(captured)


@pytest.mark.parametrize("rows", [3, 30])
def test_history_page(team, rows: int, django_assert_num_queries: Any) -> None:
    make_history(team.project, rows)
    client = team.client_for("viewer")
    url = f"/p/{team.project.slug}/harness/"
    client.get(url)  # warm the session
    # session, user, membership+project, count, head, page of versions, their parents,
    # the two nav counts
    with django_assert_num_queries(9):
        client.get(url)


@pytest.mark.parametrize("rows", [3, 30])
def test_api_list(team, rows: int, django_assert_num_queries: Any) -> None:
    make_history(team.project, rows)
    client = team.client_for("viewer")
    url = f"/api/v1/projects/{team.project.slug}/harness/versions"
    client.get(url)
    # session, user, membership+project, count, page of versions, their parents
    with django_assert_num_queries(6):
        client.get(url)


def test_merges_do_not_add_queries(team) -> None:
    v1 = make_version(team.project)
    side = make_version(team.project, {"system.md": "side\n"}, move_head=False)
    client = team.client_for("viewer")
    url = f"/p/{team.project.slug}/harness/"
    before = _queries(client, url)
    make_version(team.project, {**BASE_FILES, "system.md": "merged\n"}, parents=[v1, side])
    assert _queries(client, url) == before


def test_version_and_diff_pages_are_bounded(team, django_assert_max_num_queries: Any) -> None:
    make_history(team.project, 5)
    client = team.client_for("viewer")
    client.get(f"/p/{team.project.slug}/harness/v/3/")
    # both bounds include the two nav counts
    with django_assert_max_num_queries(10):
        client.get(f"/p/{team.project.slug}/harness/v/3/")
    with django_assert_max_num_queries(11):
        client.get(f"/p/{team.project.slug}/harness/diff/?from=1&to=5")
