"""Who may reach each evolution page and API operation; `ENDPOINTS` is also checked
centrally (tests/test_permission_matrix.py) for coverage of every URL name and API route.

Starting a campaign here calls no model: its first step is enqueued on commit, which
never comes inside a test transaction."""

from __future__ import annotations

from typing import Any

import pytest

from evolab.projects.models import Role
from tests.conftest import Team
from tests.evolution.conftest import Evo
from tests.permission_matrix import PERSONAS, Endpoint, check_endpoint

LIST = "/p/{slug}/campaigns"
PAGE = LIST + "/{number}"
API = "/api/v1/projects/{slug}/campaigns"
ROUTE = "/api/v1/projects/{slug}/campaigns"
START = {"name": "api", "suite": "demo", "runner_backend": "m27-sim", "proposer_backend": "m27-sim", "budget_rounds": 1}
FORM = {
    "name": "form",
    "base": "1",
    "suite_version": "demo@1",
    "feedback_split": "train",
    "selection_split": "dev",
    "guard_split": "holdout",
    "runner_backend": "m27-sim",
    "proposer": "reflect",
    "proposer_backend": "m27-sim",
    "candidates_per_round": "1",
    "samples": "1",
    "seed": "0",
    "budget_rounds": "1",
    "budget_usd": "1",
    "budget_tokens": "100000",
    "budget_minutes": "10",
    "plateau_rounds": "3",
    "action": "estimate",
}
POLICY_FORM = {
    "critical_tag": "critical",
    "max_cost_increase_pct": "20",
    "max_latency_increase_pct": "25",
    "max_diff_lines": "80",
    "min_effect": "0.02",
    "safe_ranges": "sampling.temperature: 0.1..1",
}
HUMAN = {"path": "workflow.md", "text": "Answer in one sentence.\n", "hypothesis": "shorter answers"}

ENDPOINTS: list[Endpoint] = [
    Endpoint("GET", LIST + "/", Role.VIEWER, "evolution:list"),
    Endpoint("GET", LIST + "/new/", Role.MAINTAINER, "evolution:new"),
    Endpoint("POST", LIST + "/new/", Role.MAINTAINER, "evolution:new", data=FORM),
    Endpoint("GET", LIST + "/new/estimate/?name=x&base=1", Role.MAINTAINER, "evolution:estimate"),
    Endpoint("GET", PAGE + "/", Role.VIEWER, "evolution:campaign"),
    Endpoint("POST", PAGE + "/pause/", Role.MAINTAINER, "evolution:pause"),
    Endpoint("POST", PAGE + "/resume/", Role.MAINTAINER, "evolution:resume"),
    Endpoint("POST", PAGE + "/stop/", Role.MAINTAINER, "evolution:stop"),
    Endpoint("POST", PAGE + "/guidance/", Role.MAINTAINER, "evolution:guidance", data={"text": "new direction"}),
    Endpoint("POST", PAGE + "/proposals/new/", Role.MAINTAINER, "evolution:proposal_new", data=HUMAN),
    Endpoint("GET", "/p/{slug}/policy/", Role.VIEWER, "evolution:policy"),
    Endpoint("POST", "/p/{slug}/policy/", Role.OWNER, "evolution:policy", data=POLICY_FORM),
    Endpoint("GET", API, Role.VIEWER, ROUTE, api=True),
    Endpoint("POST", API, Role.MAINTAINER, ROUTE, data=START, api=True),
    Endpoint("POST", API + "/estimate", Role.MAINTAINER, ROUTE + "/estimate", data=START, api=True),
    Endpoint("GET", API + "/{number}", Role.VIEWER, ROUTE + "/{number}", api=True),
    Endpoint("POST", API + "/{number}/pause", Role.MAINTAINER, ROUTE + "/{number}/pause", api=True),
    Endpoint("POST", API + "/{number}/resume", Role.MAINTAINER, ROUTE + "/{number}/resume", api=True),
    Endpoint("POST", API + "/{number}/stop", Role.MAINTAINER, ROUTE + "/{number}/stop", api=True),
    Endpoint("GET", API + "/{number}/guidance", Role.VIEWER, ROUTE + "/{number}/guidance", api=True),
    Endpoint(
        "POST", API + "/{number}/guidance", Role.MAINTAINER, ROUTE + "/{number}/guidance", data={"text": "x"}, api=True
    ),
    Endpoint("GET", API + "/{number}/proposals", Role.VIEWER, ROUTE + "/{number}/proposals", api=True),
    Endpoint("GET", "/api/v1/projects/{slug}/policy", Role.VIEWER, "/api/v1/projects/{slug}/policy", api=True),
    Endpoint(
        "PUT",
        "/api/v1/projects/{slug}/policy",
        Role.OWNER,
        "/api/v1/projects/{slug}/policy",
        data={"rules": {"allow_auto_merge": True}},
        api=True,
    ),
]


@pytest.fixture
def context(evo: Evo) -> dict[str, Any]:
    campaign = evo.start()
    return {"slug": evo.team.project.slug, "number": campaign.number}


@pytest.mark.parametrize("persona", PERSONAS)
@pytest.mark.parametrize("endpoint", ENDPOINTS, ids=lambda e: f"{e.method} {e.route}")
def test_access(team: Team, context: dict[str, Any], endpoint: Endpoint, persona: str) -> None:
    check_endpoint(endpoint, persona, team.client_for(persona), context)
