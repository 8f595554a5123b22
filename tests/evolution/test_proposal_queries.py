"""The proposal page and every panel cost the same number of queries with 10 cases as
with 300 cases x 3 samples: nothing is read per case or per sample."""

from __future__ import annotations

from collections.abc import Callable
from contextlib import AbstractContextManager
from typing import Any

import pytest
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext

from evolab.evolution.benchmark import proposal_fixture
from evolab.projects.models import Role
from tests.conftest import Team
from tests.factories import MembershipFactory, ProjectFactory

QUERIES = [
    ("", False),
    ("?view=split&regressions=1&case=dev-00003&sample=1", False),
    ("?panel=header", True),
    ("?panel=scores", True),
    ("?panel=diff", True),
    ("?panel=diff&view=split", True),
    ("?panel=evidence", True),
    ("?panel=evidence&regressions=1&tag=critical&sort=key", True),
    ("?panel=evidence&page=2", True),
    ("?panel=evidence&split=holdout", True),
    ("?panel=pair&case=dev-00003&sample=2", True),
    ("?panel=pair&case=holdout-00001", True),
]


def count(client: Client, path: str, query: str, htmx: bool) -> int:
    with CaptureQueriesContext(connection) as queries:
        response = client.get(path + query, headers={"HX-Request": "true"} if htmx else {})
    assert response.status_code == 200, (query, response.status_code)
    return len(queries)


@pytest.mark.parametrize("persona", ["maintainer", "viewer"])
def test_queries_do_not_grow_with_cases(
    team: Team, persona: str, django_assert_num_queries: Callable[[int], AbstractContextManager[Any]]
) -> None:
    small = proposal_fixture(project=team.project, actor=team.owner, cases=10, samples=3, guard_cases=6, seed=1)
    other = ProjectFactory(slug="large")
    for user, role in ((team.maintainer, Role.MAINTAINER), (team.viewer, Role.VIEWER), (team.owner, Role.OWNER)):
        MembershipFactory(project=other, user=user, role=role)
    large = proposal_fixture(project=other, actor=team.owner, cases=300, samples=3, guard_cases=120, seed=2)
    client = team.client_for(persona)
    for query, htmx in QUERIES:
        if persona == "viewer" and "holdout" in query and "pair" in query:
            continue  # a sealed case is 404 below maintainer (tested with the page)
        expected = count(client, f"/p/{team.project.slug}/proposals/{small.proposal.number}/", query, htmx)
        with django_assert_num_queries(expected):
            response = client.get(
                f"/p/large/proposals/{large.proposal.number}/" + query, headers={"HX-Request": "true"} if htmx else {}
            )
        assert response.status_code == 200, query
