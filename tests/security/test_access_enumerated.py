"""Access control, enumerated: every URL pattern, every API operation.

Routes are discovered, not listed: the URL resolver is walked (included resolvers too)
and the API's operations come from its OpenAPI schema, so a route added later is checked
without editing this file. Placeholders are filled with real objects of project A (see
`world.py`), and a member must really reach each page (not 404), so an outsider's 404
means "refused", not "no such object". Websocket routes: test_socket_access.py.

- Anonymous: every page redirects to the login page (or answers 405 to a method it does
  not take) and every API operation answers 401, except the routes in PUBLIC.
- Outsider (member of project B only): every page, htmx fragment (HX-Request) and API
  operation of project A answers 404, exactly as for a project that does not exist;
  a per-user object of someone else (an API token) answers 404 too.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest
from django.test import Client

from tests.security.world import Operation, Page, Unfilled, World, fill, known_bodies, module_world, operations, pages

# Walks every route through the views' own access code, the same on any database:
# `make test` runs it in the SQLite pass only (see ONE_DATABASE_DIRS in tests/conftest.py).
pytestmark = [pytest.mark.django_db, pytest.mark.one_database]

# Reachable without logging in, on purpose:
PUBLIC_PAGES = {
    "login": "the login form itself",
    "logout": "logging out needs no session (POST only; it ends whatever session there is)",
    "": "'/' only redirects to the project list, which asks for a login",
    "healthz": "a liveness probe for orchestrators: says 'ok', reads no data",
    "readyz": "a readiness probe: names which service is down, no data",
}
# The API's description: the shape of the API, which is published with the source code
# anyway; it holds no data. The docs page is served from our static files.
PUBLIC_API_PAGES = {"api:openapi-json", "api:openapi-view"}
PUBLIC_OPERATIONS: set[tuple[str, str]] = set()
# Per-user pages: no project in the URL, they show the visitor's own things.
OWN_PAGES_WITHOUT_OBJECT = {"projects:list", "projects:tokens", "evolution:inbox", "evolution:notifications"}

PAGES = pages()
OPERATIONS = operations()
HTMX = {"HX-Request": "true"}
LOGIN = "/accounts/login/"


@pytest.fixture(scope="module")
def world(django_db_setup: None, django_db_blocker: Any) -> Iterator[World]:
    yield from module_world(django_db_blocker)


def _url(route: str, world: World, *, strict: bool = False) -> str:
    return "/" + fill(route, world.ids, strict=strict).lstrip("/")


def _is_login_redirect(response: Any) -> bool:
    return response.status_code == 302 and response["Location"].startswith(LOGIN)


def test_discovery_finds_pages_and_operations() -> None:
    names = {page.name for page in PAGES}
    assert {"dashboard", "runs:run", "evolution:proposal", "projects:audit"} <= names
    assert any(op.method == "POST" and op.path.endswith("/merge") for op in OPERATIONS)


@pytest.mark.parametrize("page", [p for p in PAGES if p.in_project], ids=lambda p: p.name or p.route)
def test_a_member_reaches_every_project_page(world: World, page: Page) -> None:
    """The fill is real: an owner gets the page (or a method refusal), never a 404 or 500."""
    try:
        url = _url(page.route, world, strict=True)
    except Unfilled as error:
        pytest.fail(str(error))
    response = world.client("owner").get(url)
    assert response.status_code not in (404,) and response.status_code < 500, f"GET {url}: {response.status_code}"


@pytest.mark.parametrize("page", PAGES, ids=lambda p: p.name or p.route)
def test_anonymous_visitors_are_sent_to_login(world: World, page: Page) -> None:
    if page.name in PUBLIC_PAGES or page.name in PUBLIC_API_PAGES:
        return
    url = _url(page.route, world)
    client = world.client("anonymous")
    answers = {method: getattr(client, method)(url) for method in ("get", "post")}
    for method, response in answers.items():
        assert _is_login_redirect(response) or response.status_code == 405, (
            f"{method.upper()} {url} answered {response.status_code} to an anonymous visitor"
        )
    assert any(_is_login_redirect(r) for r in answers.values()), f"{url}: no method leads to the login page"


@pytest.mark.parametrize("page", [p for p in PAGES if p.in_project], ids=lambda p: p.name or p.route)
def test_an_outsider_gets_404_on_every_project_page_and_fragment(world: World, page: Page) -> None:
    url = _url(page.route, world)
    missing = url.replace(f"/p/{world.project.slug}/", "/p/no-such-project/", 1)
    client = world.client("outsider")
    for method, headers in (("get", {}), ("get", HTMX), ("post", HTMX)):
        response = getattr(client, method)(url, headers=headers)
        assert response.status_code in (404, 405), (
            f"{method.upper()} {url} {'(htmx) ' if headers else ''}as an outsider: {response.status_code}"
        )
    # Indistinguishable from a project that does not exist.
    assert client.get(missing).status_code == client.get(url).status_code


def test_someone_elses_token_cannot_be_revoked(world: World) -> None:
    url = _url("account/tokens/<int:token_id>/revoke/", world, strict=True)
    assert world.client("outsider").post(url).status_code == 404
    assert world.users["owner"].api_tokens.get().revoked_at is None  # type: ignore[attr-defined]


def _call(client: Client, op: Operation, url: str, body: dict[str, Any] | None) -> Any:
    method = getattr(client, op.method.lower())
    if op.method == "GET":
        return method(url)
    return method(url, data=json.dumps(body or {}), content_type="application/json")


@pytest.mark.parametrize("op", OPERATIONS, ids=lambda op: f"{op.method} {op.path}")
def test_anonymous_api_calls_get_401(world: World, op: Operation) -> None:
    if (op.method, op.path) in PUBLIC_OPERATIONS:
        return
    url = _url(op.path, world) + op.query
    response = _call(world.client("anonymous"), op, url, known_bodies().get((op.method, op.path)))
    assert response.status_code == 401, f"{op.method} {url} as anonymous: {response.status_code}"
    bearer = Client(headers={"Authorization": "Bearer evl_not-a-token"})
    assert _call(bearer, op, url, None).status_code == 401, f"{op.method} {url} with a wrong token"


@pytest.mark.parametrize("op", [o for o in OPERATIONS if o.in_project], ids=lambda op: f"{op.method} {op.path}")
def test_an_outsider_gets_404_on_every_project_operation(world: World, op: Operation) -> None:
    url = _url(op.path, world) + op.query
    body = known_bodies().get((op.method, op.path))
    response = _call(world.client("outsider"), op, url, body)
    assert response.status_code == 404, f"{op.method} {url} as an outsider: {response.status_code} {response.content[:200]!r}"
    missing = url.replace(f"/projects/{world.project.slug}", "/projects/no-such-project", 1)
    assert _call(world.client("outsider"), op, missing, body).content == response.content


@pytest.mark.parametrize(
    "op", [o for o in OPERATIONS if o.in_project and o.method == "GET"], ids=lambda op: f"{op.method} {op.path}"
)
def test_a_member_reaches_every_project_operation(world: World, op: Operation) -> None:
    """The fill is real for the API too: the owner is not told "not found". (Writes are
    exercised per role by the apps' permission matrices.)"""
    try:
        url = _url(op.path, world, strict=True) + op.query
    except Unfilled as error:
        pytest.fail(str(error))
    response = world.client("owner").get(url)
    assert response.status_code not in (401, 403, 404) and response.status_code < 500, (
        f"GET {url} as owner: {response.status_code} {response.content[:200]!r}"
    )
