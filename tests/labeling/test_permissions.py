"""Who may reach each labeling page and API operation; `ENDPOINTS` is also checked
centrally (tests/test_permission_matrix.py). The queue gives every item to the owner,
the maintainer and the reviewer, so each of them may label item 1."""

from __future__ import annotations

from typing import Any

import pytest

from evolab.projects.models import Role
from tests.labeling.conftest import Bench
from tests.permission_matrix import PERSONAS, Endpoint, check_endpoint

QUEUE = "/p/{slug}/labeling/{number}/"
API = "/api/v1/projects/{slug}/labeling/queues"
NEW = {
    "name": "matrix",
    "run_number": "41",
    "rubric": "correct?",
    "scale": "pass_fail",
    "reviewers_per_item": "2",
    "assignees": ["owner", "maintainer"],
    "show_target": "on",
    "split": "dev",
}

ENDPOINTS: list[Endpoint] = [
    Endpoint("GET", "/p/{slug}/labeling/", Role.VIEWER, "labeling:list"),
    Endpoint("GET", "/p/{slug}/labeling/new/", Role.MAINTAINER, "labeling:new"),
    Endpoint("POST", "/p/{slug}/labeling/new/", Role.MAINTAINER, "labeling:new", data=NEW),
    Endpoint("GET", QUEUE, Role.VIEWER, "labeling:queue"),
    Endpoint("POST", QUEUE + "close/", Role.MAINTAINER, "labeling:close"),
    Endpoint("GET", QUEUE + "next/", Role.REVIEWER, "labeling:next"),
    Endpoint("GET", QUEUE + "items/1/", Role.REVIEWER, "labeling:item"),
    Endpoint("POST", QUEUE + "items/1/", Role.REVIEWER, "labeling:item", data={"verdict": "pass"}),
    Endpoint("GET", API, Role.VIEWER, "/api/v1/projects/{slug}/labeling/queues", api=True),
    Endpoint("GET", API + "/{number}/next", Role.REVIEWER, API + "/{number}/next", api=True),
    Endpoint(
        "POST",
        API + "/{number}/items/1/label",
        Role.REVIEWER,
        API + "/{number}/items/{position}/label",
        data={"passed": True, "rationale": "ok"},
        api=True,
    ),
    Endpoint("GET", API + "/{number}/agreement", Role.VIEWER, API + "/{number}/agreement", api=True),
]


@pytest.fixture
def context(bench: Bench) -> dict[str, Any]:
    queue = bench.queue(reviewers_per_item=3)
    return {"slug": bench.team.project.slug, "number": queue.number}


@pytest.mark.parametrize("persona", PERSONAS)
@pytest.mark.parametrize("endpoint", ENDPOINTS, ids=lambda e: f"{e.method} {e.url}")
def test_permissions(endpoint: Endpoint, persona: str, bench: Bench, context: dict[str, Any]) -> None:
    check_endpoint(endpoint, persona, bench.team.client_for(persona), context)


@pytest.mark.parametrize("endpoint", [e for e in ENDPOINTS if e.method == "POST"], ids=lambda e: f"{e.method} {e.url}")
def test_writes_succeed_for_a_reviewer_or_maintainer(endpoint: Endpoint, bench: Bench, context: dict[str, Any]) -> None:
    persona = "maintainer" if endpoint.min_role >= Role.MAINTAINER else "reviewer"
    response = endpoint.request(bench.team.client_for(persona), context)
    assert response.status_code in (200, 302), response.content[:500]
