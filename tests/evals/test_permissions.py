"""Who may reach each evals page and API operation; `ENDPOINTS` is also checked centrally
for coverage of every URL name and API route."""

from __future__ import annotations

from typing import Any

import pytest

from evolab.evals.change_requests import change_request_open
from evolab.evals.models import EvalSuite, ImportUpload
from evolab.projects.models import Role
from tests.conftest import Team
from tests.permission_matrix import PERSONAS, Endpoint, check_endpoint

SUITE = "/p/{slug}/suites/{suite_slug}"
API = "/api/v1/projects/{slug}/suites"
CR_API = API + "/{suite_slug}/change-requests"
CR_ROUTE = "/api/v1/projects/{slug}/suites/{suite_slug}/change-requests"
NEW_CR = {"title": "Retag", "operations": [{"op": "retag", "key": "date-002", "tags": ["y"]}]}
POLICY = {"approvals_needed": 1, "approvals_needed_holdout": 2, "approver_min_role": "reviewer", "direct_max_ops": 5}

ENDPOINTS: list[Endpoint] = [
    Endpoint("GET", "/p/{slug}/suites/", Role.VIEWER, "evals:suites"),
    Endpoint("POST", "/p/{slug}/suites/", Role.MAINTAINER, "evals:suites", data={"name": "New suite"}),
    Endpoint("GET", SUITE + "/", Role.VIEWER, "evals:suite"),
    Endpoint("GET", SUITE + "/v/{number}/cases/{key}/", Role.VIEWER, "evals:case"),
    Endpoint(
        "POST", SUITE + "/comment/{key}/", Role.REVIEWER, "evals:case_comment", data={"body": "hm", "version": "1"}
    ),
    Endpoint(
        "POST", SUITE + "/dispute/{key}/", Role.REVIEWER, "evals:case_dispute", data={"reason": "x", "version": "1"}
    ),
    Endpoint(
        "POST", SUITE + "/resolve-dispute/{key}/", Role.MAINTAINER, "evals:case_dispute_resolve", data={"note": "ok"}
    ),
    Endpoint("GET", SUITE + "/propose/{key}/", Role.REVIEWER, "evals:case_propose"),
    Endpoint(
        "POST",
        SUITE + "/propose/{key}/",
        Role.REVIEWER,
        "evals:case_propose",
        data={"title": "Drop it", "action": "delete"},
    ),
    Endpoint("GET", SUITE + "/import/", Role.REVIEWER, "evals:import"),
    Endpoint("POST", SUITE + "/import/", Role.REVIEWER, "evals:import"),
    # The upload belongs to the persona asking (see `context` below): uploads are private.
    Endpoint("GET", SUITE + "/import/{upload}/", Role.REVIEWER, "evals:import_preview"),
    Endpoint("POST", SUITE + "/import/{upload}/", Role.REVIEWER, "evals:import_preview", data={"mode": "merge"}),
    Endpoint("GET", SUITE + "/policy/", Role.OWNER, "evals:suite_policy"),
    Endpoint("POST", SUITE + "/policy/", Role.OWNER, "evals:suite_policy", data=POLICY),
    Endpoint("GET", SUITE + "/changes/", Role.VIEWER, "evals:change_requests"),
    Endpoint("GET", SUITE + "/changes/{cr}/", Role.VIEWER, "evals:change_request"),
    Endpoint(
        "POST", SUITE + "/changes/{cr}/vote/", Role.REVIEWER, "evals:change_request_vote", data={"value": "approve"}
    ),
    Endpoint(
        "POST", SUITE + "/changes/{cr}/comment/", Role.REVIEWER, "evals:change_request_comment", data={"text": "ok"}
    ),
    # The fixture's change request is the reviewer's own: its author submits and closes it.
    Endpoint("POST", SUITE + "/changes/{cr}/submit/", Role.REVIEWER, "evals:change_request_submit"),
    Endpoint("POST", SUITE + "/changes/{cr}/close/", Role.REVIEWER, "evals:change_request_close"),
    Endpoint("POST", SUITE + "/changes/{cr}/apply/", Role.MAINTAINER, "evals:change_request_apply"),
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
    Endpoint("POST", CR_API, Role.REVIEWER, CR_ROUTE, data=NEW_CR, api=True),
    Endpoint("GET", CR_API, Role.VIEWER, CR_ROUTE, api=True),
    Endpoint("GET", CR_API + "/{cr}", Role.VIEWER, CR_ROUTE + "/{number}", api=True),
    Endpoint(
        "POST", CR_API + "/{cr}/vote", Role.REVIEWER, CR_ROUTE + "/{number}/vote", data={"value": "approve"}, api=True
    ),
    # The fixture's request is in review: an allowed submit answers 409 (only a draft is submitted).
    Endpoint("POST", CR_API + "/{cr}/submit", Role.REVIEWER, CR_ROUTE + "/{number}/submit", data={}, api=True),
    Endpoint(
        "POST", CR_API + "/{cr}/comments", Role.REVIEWER, CR_ROUTE + "/{number}/comments", data={"text": "ok"}, api=True
    ),
    Endpoint("POST", CR_API + "/{cr}/apply", Role.MAINTAINER, CR_ROUTE + "/{number}/apply", data={}, api=True),
    Endpoint("POST", CR_API + "/{cr}/close", Role.REVIEWER, CR_ROUTE + "/{number}/close", data={}, api=True),
]


@pytest.fixture
def context(team: Team, suite: EvalSuite, request: pytest.FixtureRequest) -> dict[str, Any]:
    """The suite fixture's ids, a change request by the reviewer, and an upload owned
    by the persona of this test (uploads are visible to their owner only)."""
    change_request = change_request_open(
        suite=suite,
        author=team.reviewer,
        title="Retag",
        operations=[{"op": "retag", "key": "refund-001", "tags": ["x"]}],
    )
    persona = request.node.callspec.params.get("persona", "owner")
    owner = getattr(team, persona, None) or team.owner
    upload = ImportUpload.objects.create(
        suite=suite, owner=owner, filename="a.jsonl", fmt="jsonl", data=b'{"key": "n1", "input": "q", "target": "a"}\n'
    )
    return {
        "slug": team.project.slug,
        "suite_slug": suite.slug,
        "number": 1,
        "key": "refund-001",
        "cr": change_request.number,
        "upload": upload.pk,
    }


@pytest.mark.parametrize("persona", PERSONAS)
@pytest.mark.parametrize("endpoint", ENDPOINTS, ids=lambda e: f"{e.method} {e.route}")
def test_access(team: Team, context: dict[str, Any], endpoint: Endpoint, persona: str) -> None:
    check_endpoint(endpoint, persona, team.client_for(persona), context)
