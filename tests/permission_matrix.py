"""A declarative permission matrix: each app lists its endpoints with the least role
they need, and `check_endpoint` asserts what each persona gets.

Expected answers: an anonymous visitor is sent to the login page (pages) or gets 401
(API); a logged-in outsider gets 404, as if the project did not exist; a member below
the endpoint's role gets 403; a member at or above it gets neither 401, 403 nor 404,
and never a server error. `tests/test_permission_matrix.py` checks that every URL
pattern and API operation appears in some app's ENDPOINTS.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

from django.test import Client

from evolab.projects.models import Role

PERSONAS = ("owner", "maintainer", "reviewer", "viewer", "outsider", "anonymous")
PERSONA_ROLE = {
    "owner": Role.OWNER,
    "maintainer": Role.MAINTAINER,
    "reviewer": Role.REVIEWER,
    "viewer": Role.VIEWER,
}


@dataclass(frozen=True)
class Endpoint:
    method: str
    # A URL template formatted with the context built by the app's fixture, e.g.
    # "/p/{slug}/harness/v/{number}/".
    url: str
    min_role: Role
    # The URL pattern name ("harnesses:version") or the API route ("/projects/{slug}/harness/versions").
    route: str
    data: dict[str, Any] = field(default_factory=dict)
    api: bool = False

    def request(self, client: Client, context: dict[str, Any]) -> Any:
        url = self.url.format(**context)
        method = getattr(client, self.method.lower())
        if self.api and self.method in {"POST", "PUT", "PATCH"}:
            return method(url, data=json.dumps(self.data), content_type="application/json")
        if self.method == "GET":
            return method(url)
        return method(url, data=self.data)


def check_endpoint(endpoint: Endpoint, persona: str, client: Client, context: dict[str, Any]) -> None:
    response = endpoint.request(client, context)
    status = response.status_code
    where = f"{endpoint.method} {endpoint.url.format(**context)} as {persona}"
    assert status < 500, f"{where}: server error {status}"
    if persona == "anonymous":
        if endpoint.api:
            assert status == 401, f"{where}: expected 401, got {status}"
        else:
            assert status == 302 and "/accounts/login/" in response["Location"], (
                f"{where}: expected login redirect, got {status}"
            )
    elif persona == "outsider":
        assert status == 404, f"{where}: expected 404, got {status}"
    elif PERSONA_ROLE[persona] < endpoint.min_role:
        assert status == 403, f"{where}: expected 403, got {status}"
    else:
        assert status not in (401, 403, 404), f"{where}: expected access, got {status}"
