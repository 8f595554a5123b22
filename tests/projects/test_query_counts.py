"""List pages and API lists answer in a number of queries that does not grow with rows."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from evolab.evals.actions import suite_create
from evolab.harnesses.actions import version_create
from evolab.projects import actions
from evolab.projects.models import Role
from tests.conftest import Team
from tests.factories import BackendFactory, MembershipFactory, ProjectFactory


def _queries(call: Callable[[], object]) -> int:
    with CaptureQueriesContext(connection) as ctx:
        call()
    return len(ctx.captured_queries)


def _grow(team: Team, n: int) -> None:
    start = team.project.memberships.count()
    for i in range(n):
        actions.token_create(user=team.owner, name=f"token {start + i}")
        version_create(
            actor=team.owner, project=team.project, files={"system.md": f"prompt {start + i}"}, message=f"v {start + i}"
        )
        suite_create(actor=team.owner, project=team.project, slug=f"suite-{start + i}", name=f"Suite {start + i}")
        MembershipFactory(project=ProjectFactory(), user=team.owner, role=Role.VIEWER)
        MembershipFactory(project=team.project, role=Role.VIEWER)
        BackendFactory(project=team.project)
        actions.project_update(actor=team.owner, project=team.project, name="x", description="")


@pytest.mark.parametrize(
    "url",
    [
        "/p/",
        "/p/{slug}/",
        "/p/{slug}/settings/",
        "/account/tokens/",
        "/p/{slug}/backends/",
        "/p/{slug}/audit/",
        "/api/v1/projects",
        "/api/v1/projects/{slug}/members",
        "/api/v1/projects/{slug}/backends",
        "/api/v1/projects/{slug}/audit",
    ],
)
def test_query_count_does_not_grow_with_rows(team: Team, url: str) -> None:
    client = team.client_for("owner")
    MembershipFactory(project=ProjectFactory(), user=team.owner, role=Role.VIEWER)
    target = url.format(slug=team.project.slug)
    _grow(team, 2)
    small = _queries(lambda: client.get(target))
    _grow(team, 20)
    large = _queries(lambda: client.get(target))
    assert large == small, f"{target}: {small} queries with few rows, {large} with many"
