from __future__ import annotations

import pytest

from evolab.projects.models import Role
from tests.conftest import Team
from tests.factories import BackendFactory
from tests.permission_matrix import PERSONAS, Endpoint, check_endpoint

# The project, its members and the objects below are built once for the module
# (`context`, see `module_transaction`); what a request changes is rolled back after its test.
pytestmark = pytest.mark.django_db

BACKEND = {
    "name": "vllm-local",
    "kind": "openai_compat",
    "family": "generic",
    "base_url": "http://127.0.0.1:9000/v1",
    "model": "m",
    "max_concurrency": 4,
    "timeout_s": 60,
    "price_in_per_m": "0.1",
    "price_out_per_m": "0.2",
    "default_params": "{}",
}
API = "/api/v1/projects"

ENDPOINTS: list[Endpoint] = [
    Endpoint("GET", "/p/{slug}/", Role.VIEWER, "dashboard"),
    Endpoint("GET", "/p/{slug}/settings/", Role.OWNER, "projects:settings"),
    Endpoint("POST", "/p/{slug}/settings/", Role.OWNER, "projects:settings", {"name": "Renamed", "description": ""}),
    Endpoint(
        "POST",
        "/p/{slug}/settings/members/add/",
        Role.OWNER,
        "projects:member_add",
        {"username": "newcomer", "role": "viewer"},
    ),
    Endpoint(
        "POST",
        "/p/{slug}/settings/members/{viewer_membership}/role/",
        Role.OWNER,
        "projects:member_role",
        {"role": "reviewer"},
    ),
    Endpoint("POST", "/p/{slug}/settings/members/{reviewer_membership}/remove/", Role.OWNER, "projects:member_remove"),
    Endpoint("GET", "/p/{slug}/backends/", Role.VIEWER, "projects:backends"),
    Endpoint("GET", "/p/{slug}/backends/new/", Role.OWNER, "projects:backend_new"),
    Endpoint("POST", "/p/{slug}/backends/new/", Role.OWNER, "projects:backend_new", BACKEND),
    Endpoint("GET", "/p/{slug}/backends/{backend}/", Role.VIEWER, "projects:backend"),
    Endpoint("GET", "/p/{slug}/backends/{backend}/edit/", Role.OWNER, "projects:backend_edit"),
    Endpoint("POST", "/p/{slug}/backends/{backend}/edit/", Role.OWNER, "projects:backend_edit", BACKEND),
    Endpoint("POST", "/p/{slug}/backends/{backend}/probe/", Role.OWNER, "projects:backend_probe"),
    Endpoint("POST", "/p/{slug}/backends/{backend}/delete/", Role.OWNER, "projects:backend_delete"),
    Endpoint("GET", "/p/{slug}/audit/", Role.VIEWER, "projects:audit"),
    Endpoint("GET", API + "/{slug}", Role.VIEWER, "/api/v1/projects/{slug}", api=True),
    Endpoint("PUT", API + "/{slug}", Role.OWNER, "/api/v1/projects/{slug}", {"name": "Renamed"}, api=True),
    Endpoint("GET", API + "/{slug}/members", Role.VIEWER, "/api/v1/projects/{slug}/members", api=True),
    Endpoint(
        "POST",
        API + "/{slug}/members",
        Role.OWNER,
        "/api/v1/projects/{slug}/members",
        {"username": "newcomer", "role": "viewer"},
        api=True,
    ),
    Endpoint(
        "PUT",
        API + "/{slug}/members/viewer",
        Role.OWNER,
        "/api/v1/projects/{slug}/members/{username}",
        {"role": "reviewer"},
        api=True,
    ),
    Endpoint(
        "DELETE", API + "/{slug}/members/reviewer", Role.OWNER, "/api/v1/projects/{slug}/members/{username}", api=True
    ),
    Endpoint("GET", API + "/{slug}/backends", Role.VIEWER, "/api/v1/projects/{slug}/backends", api=True),
    Endpoint(
        "POST",
        API + "/{slug}/backends",
        Role.OWNER,
        "/api/v1/projects/{slug}/backends",
        {**BACKEND, "default_params": {}},
        api=True,
    ),
    Endpoint(
        "GET",
        API + "/{slug}/backends/{backend}",
        Role.VIEWER,
        "/api/v1/projects/{slug}/backends/{backend_id}",
        api=True,
    ),
    Endpoint(
        "PUT",
        API + "/{slug}/backends/{backend}",
        Role.OWNER,
        "/api/v1/projects/{slug}/backends/{backend_id}",
        {**BACKEND, "default_params": {}},
        api=True,
    ),
    Endpoint(
        "DELETE",
        API + "/{slug}/backends/{backend}",
        Role.OWNER,
        "/api/v1/projects/{slug}/backends/{backend_id}",
        api=True,
    ),
    Endpoint("GET", API + "/{slug}/audit", Role.VIEWER, "/api/v1/projects/{slug}/audit", api=True),
]


@pytest.fixture(scope="module")
def context(module_team: Team) -> dict[str, object]:
    from tests.factories import UserFactory

    UserFactory(username="newcomer")
    memberships = {m.user.username: m.pk for m in module_team.project.memberships.select_related("user")}
    return {
        "slug": module_team.project.slug,
        "backend": BackendFactory(project=module_team.project).pk,
        "viewer_membership": memberships["viewer"],
        "reviewer_membership": memberships["reviewer"],
    }


@pytest.mark.parametrize("persona", PERSONAS)
@pytest.mark.parametrize("endpoint", ENDPOINTS, ids=lambda e: f"{e.method} {e.url}")
def test_permission_matrix(module_team: Team, context: dict[str, object], endpoint: Endpoint, persona: str) -> None:
    check_endpoint(endpoint, persona, module_team.client_for(persona), context)
