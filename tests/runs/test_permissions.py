"""Who may reach each runs page and API operation; `ENDPOINTS` is also checked centrally
(tests/test_permission_matrix.py) for coverage of every URL name and API route.

Starting a run here calls no model: the backend points at the session simulator, and
the enqueue happens on commit, which never comes inside a test transaction."""

from __future__ import annotations

from typing import Any

import pytest

from evolab.projects.models import Role
from tests.conftest import Team
from tests.factories import BackendFactory
from tests.permission_matrix import PERSONAS, Endpoint, check_endpoint
from tests.runs.conftest import Lab
from tests.runs.helpers import start, targets

RUNS = "/p/{slug}/runs"
RUN = RUNS + "/{number}"
API = "/api/v1/projects/{slug}/runs"
START = {"harness": 1, "suite": "demo", "splits": ["dev"], "backend": "sim", "samples": 1}
FORM = {"harness": "1", "suite_version": "demo@1", "splits": "dev", "backend": "sim", "samples": "1", "seed": "0"}

ENDPOINTS: list[Endpoint] = [
    Endpoint("GET", RUNS + "/", Role.VIEWER, "runs:list"),
    Endpoint("GET", RUNS + "/new/", Role.MAINTAINER, "runs:new"),
    Endpoint("POST", RUNS + "/new/", Role.MAINTAINER, "runs:new", data=FORM),
    Endpoint(
        "GET",
        RUNS + "/new/estimate/?harness=1&suite_version=demo@1&splits=dev&backend=sim&samples=1&seed=0",
        Role.MAINTAINER,
        "runs:estimate",
    ),
    Endpoint("GET", RUN + "/", Role.VIEWER, "runs:run"),
    Endpoint("GET", RUN + "/progress/", Role.VIEWER, "runs:progress"),
    Endpoint("GET", RUN + "/results/{result_id}/", Role.VIEWER, "runs:result"),
    Endpoint("GET", RUN + "/results/{result_id}/curate/target/", Role.REVIEWER, "runs:curate"),
    Endpoint("POST", RUN + "/results/{result_id}/curate/target/", Role.REVIEWER, "runs:curate", data={"title": ""}),
    Endpoint("GET", "/p/{slug}/suites/demo/case-runs/{case_key}/", Role.VIEWER, "runs:case_runs"),
    Endpoint("POST", RUN + "/cancel/", Role.MAINTAINER, "runs:cancel"),
    Endpoint("POST", RUN + "/resume/", Role.MAINTAINER, "runs:resume"),
    Endpoint("GET", API, Role.VIEWER, "/api/v1/projects/{slug}/runs", api=True),
    Endpoint("POST", API, Role.MAINTAINER, "/api/v1/projects/{slug}/runs", data=START, api=True),
    Endpoint("POST", API + "/estimate", Role.MAINTAINER, "/api/v1/projects/{slug}/runs/estimate", data=START, api=True),
    Endpoint("POST", API + "/outputs", Role.MAINTAINER, "/api/v1/projects/{slug}/runs/outputs", api=True),
    Endpoint("GET", API + "/{number}", Role.VIEWER, "/api/v1/projects/{slug}/runs/{number}", api=True),
    Endpoint("GET", API + "/{number}/results", Role.VIEWER, "/api/v1/projects/{slug}/runs/{number}/results", api=True),
    Endpoint(
        "POST", API + "/{number}/cancel", Role.MAINTAINER, "/api/v1/projects/{slug}/runs/{number}/cancel", api=True
    ),
    Endpoint(
        "POST", API + "/{number}/resume", Role.MAINTAINER, "/api/v1/projects/{slug}/runs/{number}/resume", api=True
    ),
]


@pytest.fixture
def context(lab: Lab) -> dict[str, Any]:
    """A queued run of pre-recorded outputs (no model call) and a backend named "sim"."""
    BackendFactory(project=lab.team.project, name="sim", base_url=lab.simulator.base_url)
    outputs = {(key, 0): target for key, target in targets(lab).items()}
    run = start(lab, backend=None, outputs=outputs)
    result = run.results.order_by("pk").first()
    assert result is not None
    return {"slug": lab.team.project.slug, "number": run.number, "result_id": result.pk, "case_key": result.case.key}


@pytest.mark.parametrize("persona", PERSONAS)
@pytest.mark.parametrize("endpoint", ENDPOINTS, ids=lambda e: f"{e.method} {e.route}")
def test_access(team: Team, context: dict[str, Any], endpoint: Endpoint, persona: str) -> None:
    check_endpoint(endpoint, persona, team.client_for(persona), context)
