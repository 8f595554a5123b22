"""Every harness page and API operation, checked for every persona."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import Client

from evolab.projects.models import Role
from tests.harnesses.factories import BASE_FILES, make_version, make_zip
from tests.permission_matrix import PERSONAS, Endpoint, check_endpoint

# The project, its members and the objects below are built once for the module
# (`context`, see `module_transaction`); what a request changes is rolled back after its test.
pytestmark = pytest.mark.django_db

API = "/api/v1/projects"
ZIP = {"system.md": "from a zip\n", "harness.yaml": "sampling:\n  temperature: 0.5\n"}


@dataclass(frozen=True)
class ZipEndpoint(Endpoint):
    """Posts a fresh multipart .zip each time (a file object can be read only once)."""

    def request(self, client: Client, context: dict[str, Any]) -> Any:
        upload = SimpleUploadedFile("harness.zip", make_zip(ZIP), content_type="application/zip")
        return client.post(self.url.format(**context), data={**self.data, "file": upload})


ENDPOINTS: list[Endpoint] = [
    # Pages
    Endpoint("GET", "/p/{slug}/harness/", Role.VIEWER, route="harnesses:history"),
    Endpoint("GET", "/p/{slug}/harness/v/{number}/", Role.VIEWER, route="harnesses:version"),
    Endpoint("GET", "/p/{slug}/harness/diff/?from=1&to={number}", Role.VIEWER, route="harnesses:diff"),
    Endpoint("GET", "/p/{slug}/harness/new/", Role.MAINTAINER, route="harnesses:new"),
    Endpoint(
        "POST",
        "/p/{slug}/harness/new/",
        Role.MAINTAINER,
        route="harnesses:new",
        data={
            "f-TOTAL_FORMS": "1",
            "f-INITIAL_FORMS": "0",
            "f-0-path": "system.md",
            "f-0-text": "changed\n",
            "message": "edit",
            "base": "2",
        },
    ),
    Endpoint("GET", "/p/{slug}/harness/upload/", Role.MAINTAINER, route="harnesses:upload"),
    ZipEndpoint(
        "POST",
        "/p/{slug}/harness/upload/",
        Role.MAINTAINER,
        route="harnesses:upload",
        data={"message": "zip", "base": "2"},
    ),
    Endpoint(
        "POST", "/p/{slug}/harness/v/1/revert/", Role.MAINTAINER, route="harnesses:revert", data={"reason": "go back"}
    ),
    # API
    Endpoint(
        "GET", API + "/{slug}/harness/versions", Role.VIEWER, route="/api/v1/projects/{slug}/harness/versions", api=True
    ),
    Endpoint(
        "POST",
        API + "/{slug}/harness/versions",
        Role.MAINTAINER,
        route="/api/v1/projects/{slug}/harness/versions",
        data={"files": {**BASE_FILES, "system.md": "via api\n"}, "message": "api"},
        api=True,
    ),
    ZipEndpoint(
        "POST",
        API + "/{slug}/harness/versions/upload",
        Role.MAINTAINER,
        route="/api/v1/projects/{slug}/harness/versions/upload",
        data={"message": "zip"},
        api=True,
    ),
    Endpoint(
        "GET",
        API + "/{slug}/harness/versions/{number}",
        Role.VIEWER,
        route="/api/v1/projects/{slug}/harness/versions/{number}",
        api=True,
    ),
    Endpoint(
        "POST",
        API + "/{slug}/harness/versions/1/revert",
        Role.MAINTAINER,
        route="/api/v1/projects/{slug}/harness/versions/{number}/revert",
        data={"reason": "go back"},
        api=True,
    ),
    Endpoint("GET", API + "/{slug}/harness/head", Role.VIEWER, route="/api/v1/projects/{slug}/harness/head", api=True),
    Endpoint(
        "GET",
        API + "/{slug}/harness/diff?from=1&to=2",
        Role.VIEWER,
        route="/api/v1/projects/{slug}/harness/diff",
        api=True,
    ),
]


@pytest.fixture(scope="module")
def context(module_team: Any) -> dict[str, Any]:
    make_version(module_team.project, actor=module_team.owner)
    v2 = make_version(module_team.project, {**BASE_FILES, "system.md": "second\n"}, actor=module_team.owner)
    return {"slug": module_team.project.slug, "number": v2.number}


@pytest.mark.parametrize("persona", PERSONAS)
@pytest.mark.parametrize("endpoint", ENDPOINTS, ids=lambda e: f"{e.method} {e.url}")
def test_permissions(endpoint: Endpoint, persona: str, module_team: Any, context: dict[str, Any]) -> None:
    check_endpoint(endpoint, persona, module_team.client_for(persona), context)


@pytest.mark.parametrize("endpoint", [e for e in ENDPOINTS if e.method == "POST"], ids=lambda e: f"{e.method} {e.url}")
def test_writes_succeed_for_a_maintainer(endpoint: Endpoint, module_team: Any, context: dict[str, Any]) -> None:
    # The matrix only says "not refused"; a write the maintainer may do must also work.
    response = endpoint.request(module_team.client_for("maintainer"), context)
    assert response.status_code in (201, 302), response.content[:500]
