"""Who may reach each evals page and API operation; `ENDPOINTS` is also checked centrally
for coverage of every URL name and API route."""

from __future__ import annotations

from typing import Any

import pytest

from evolab.projects.models import Role
from tests.conftest import Team
from tests.permission_matrix import PERSONAS, Endpoint, check_endpoint

SUITE = "/p/{slug}/suites/{suite_slug}"
API = "/api/v1/projects/{slug}/suites"

ENDPOINTS: list[Endpoint] = [
    Endpoint("GET", "/p/{slug}/suites/", Role.VIEWER, "evals:suites"),
    Endpoint("POST", "/p/{slug}/suites/", Role.MAINTAINER, "evals:suites", data={"name": "New suite"}),
    Endpoint("GET", SUITE + "/", Role.VIEWER, "evals:suite"),
    Endpoint("GET", SUITE + "/v/{number}/cases/{key}/", Role.VIEWER, "evals:case"),
    Endpoint("GET", SUITE + "/import/", Role.MAINTAINER, "evals:import"),
    Endpoint("POST", SUITE + "/import/", Role.MAINTAINER, "evals:import"),
    Endpoint("GET", SUITE + "/export/?version={number}", Role.VIEWER, "evals:export"),
    Endpoint("GET", API, Role.VIEWER, "/api/v1/projects/{slug}/suites", api=True),
    Endpoint("POST", API, Role.MAINTAINER, "/api/v1/projects/{slug}/suites", data={"name": "New suite"}, api=True),
    Endpoint("GET", API + "/{suite_slug}", Role.VIEWER, "/api/v1/projects/{slug}/suites/{suite_slug}", api=True),
    Endpoint(
        "GET",
        API + "/{suite_slug}/versions",
        Role.VIEWER,
        "/api/v1/projects/{slug}/suites/{suite_slug}/versions",
        api=True,
    ),
    Endpoint(
        "GET", API + "/{suite_slug}/cases", Role.VIEWER, "/api/v1/projects/{slug}/suites/{suite_slug}/cases", api=True
    ),
    Endpoint(
        "POST",
        API + "/{suite_slug}/import",
        Role.MAINTAINER,
        "/api/v1/projects/{slug}/suites/{suite_slug}/import",
        api=True,
    ),
    Endpoint(
        "GET", API + "/{suite_slug}/export", Role.VIEWER, "/api/v1/projects/{slug}/suites/{suite_slug}/export", api=True
    ),
]


@pytest.mark.parametrize("persona", PERSONAS)
@pytest.mark.parametrize("endpoint", ENDPOINTS, ids=lambda e: f"{e.method} {e.route}")
def test_access(team: Team, context: dict[str, Any], endpoint: Endpoint, persona: str) -> None:
    check_endpoint(endpoint, persona, team.client_for(persona), context)
