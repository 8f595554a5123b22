"""Who may reach each charts page and export; `ENDPOINTS` is also checked centrally
(tests/test_permission_matrix.py) for coverage of every URL name."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import pytest

from evolab.evolution.models import Campaign, Round
from evolab.projects.models import Role
from tests.charts.overview_fixture import add_run, build_lab
from tests.conftest import Team
from tests.factories import BackendFactory
from tests.permission_matrix import PERSONAS, Endpoint, check_endpoint

# The project, its members and the objects below are built once for the module
# (`context`, see `module_transaction`); what a request changes is rolled back after its test.
pytestmark = pytest.mark.django_db

CHARTS = "/p/{slug}/charts/"
RUN = "/p/{slug}/runs/{number}/"

ENDPOINTS: list[Endpoint] = [
    Endpoint("GET", CHARTS, Role.VIEWER, "charts:overview"),
    Endpoint("GET", "/p/{slug}/campaigns/{campaign}/chart/", Role.VIEWER, "charts:campaign"),
    Endpoint("GET", CHARTS + "cost/", Role.VIEWER, "charts:cost"),
    Endpoint("GET", RUN + "export.csv", Role.VIEWER, "charts:run_csv"),
    Endpoint("GET", RUN + "export.json", Role.VIEWER, "charts:run_json"),
    Endpoint("GET", "/p/{slug}/compare/", Role.VIEWER, "charts:compare"),
    Endpoint("GET", "/p/{slug}/compare/?baseline={number}&runs={number}", Role.VIEWER, "charts:compare"),
    Endpoint("GET", "/p/{slug}/compare/?baseline={number}&runs={number}&format=csv", Role.VIEWER, "charts:compare"),
    Endpoint("GET", "/p/{slug}/lineage/", Role.VIEWER, "charts:lineage"),
]


@pytest.fixture(scope="module")
def context(module_team: Team) -> dict[str, Any]:
    team = module_team
    lab = build_lab(team.project, team.owner)
    run = add_run(lab, lab.versions[0], {"dev-0": [1.0], "hold-0": [0.0]})
    v1 = lab.versions[0]
    campaign = Campaign.objects.create(
        project=team.project,
        number=1,
        name="c",
        base_version=v1,
        parent_version=v1,
        suite_version=lab.suite_version,
        runner_backend=BackendFactory(project=team.project),
        budget_usd=Decimal(1),
        budget_tokens=1,
        budget_wall_s=1,
    )
    Round.objects.create(campaign=campaign, number=1, parent_version=v1, parent_run=run)
    return {"slug": team.project.slug, "number": run.number, "campaign": campaign.number}


@pytest.mark.parametrize("persona", PERSONAS)
@pytest.mark.parametrize("endpoint", ENDPOINTS, ids=lambda e: f"{e.method} {e.route}")
def test_access(module_team: Team, context: dict[str, Any], endpoint: Endpoint, persona: str) -> None:
    check_endpoint(endpoint, persona, module_team.client_for(persona), context)
