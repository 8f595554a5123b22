"""CSRF, enumerated: with a logged-in session cookie and no token, every page route and
every API operation that changes state is refused (403), and nothing is written.

Routes are walked, not listed (see world.py). A page route answers POST/PUT/PATCH/DELETE
with 403 before its view runs (CsrfViewMiddleware checks before the view's own method
check), whatever the view does with the method. API operations with a write method are
taken from the OpenAPI schema: the session path (django_auth) checks CSRF, a bearer
token needs none, and a cookie plus a bad bearer token is judged by the token (401).
An htmx request refused for CSRF gets a short message and a marker header that
static/js/csrf.js turns into a banner (the browser half: tests/e2e/test_csrf_banner.py).
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest
from django.test import Client

from evolab.core.csrf import ERROR_HEADER, HTMX_MESSAGE
from evolab.core.models import AuditEvent, OutboxEvent
from evolab.projects.actions import token_create
from tests.security.world import Operation, Page, World, fill, known_bodies, module_world, operations, pages

# Walks every route through the views' own access code, the same on any database:
# `make test` runs it in the SQLite pass only (see ONE_DATABASE_DIRS in tests/conftest.py).
pytestmark = [pytest.mark.django_db, pytest.mark.one_database]

WRITE_METHODS = ("post", "put", "patch", "delete")
PAGES = pages()
WRITE_OPERATIONS = [op for op in operations() if op.method != "GET"]


@pytest.fixture(scope="module")
def world(django_db_setup: None, django_db_blocker: Any) -> Iterator[World]:
    yield from module_world(django_db_blocker)


@pytest.fixture(scope="module")
def browser(world: World, django_db_blocker: Any) -> Client:
    """The owner's browser: a session cookie, and a CSRF cookie it never sends back."""
    client = Client(enforce_csrf_checks=True)
    with django_db_blocker.unblock():
        client.force_login(world.users["owner"])
    client.get("/p/")  # sets the csrftoken cookie, as a real page load does
    return client


def _written() -> tuple[int, int]:
    return AuditEvent.objects.count(), OutboxEvent.objects.count()


def _url(route: str, world: World) -> str:
    return "/" + fill(route, world.ids, strict=False).lstrip("/")


@pytest.mark.parametrize("page", PAGES, ids=lambda p: p.name or p.route)
def test_every_page_route_refuses_writes_without_a_token(world: World, browser: Client, page: Page) -> None:
    url = _url(page.route, world)
    before = _written()
    for method in WRITE_METHODS:
        for headers in ({}, {"HX-Request": "true"}):
            response = getattr(browser, method)(url, headers=headers)
            assert response.status_code == 403, f"{method.upper()} {url} without a CSRF token: {response.status_code}"
    assert _written() == before


@pytest.mark.parametrize("op", WRITE_OPERATIONS, ids=lambda op: f"{op.method} {op.path}")
def test_every_api_write_refuses_a_cookie_without_a_token(world: World, browser: Client, op: Operation) -> None:
    url = _url(op.path, world) + op.query
    body = json.dumps(known_bodies().get((op.method, op.path), {}))
    before = _written()
    response = getattr(browser, op.method.lower())(url, data=body, content_type="application/json")
    assert response.status_code == 403, f"{op.method} {url} with a cookie and no CSRF token: {response.status_code}"
    assert response.json()["code"] == "csrf_failed"
    # A bad bearer token beside the cookie is judged by the token, not let through by the cookie.
    response = getattr(browser, op.method.lower())(
        url, data=body, content_type="application/json", headers={"Authorization": "Bearer evl_wrong"}
    )
    assert response.status_code == 401, f"{op.method} {url} with a cookie and a wrong bearer token"
    assert _written() == before


def test_the_token_lets_the_same_request_through(world: World, browser: Client) -> None:
    """The refusals above are the missing token's doing: with it, the same browser writes."""
    url = f"/p/{world.project.slug}/settings/"
    data = {"name": "Renamed", "description": ""}
    assert browser.post(url, data).status_code == 403
    token = browser.cookies["csrftoken"].value
    response = browser.post(url, data, headers={"X-CSRFToken": token})
    assert response.status_code in (200, 302)
    api = browser.put(
        f"/api/v1/projects/{world.project.slug}",
        data=json.dumps({"name": "Again"}),
        content_type="application/json",
        headers={"X-CSRFToken": token},
    )
    assert api.status_code == 200


def test_a_bearer_token_needs_no_csrf_token(world: World, django_db_blocker: Any) -> None:
    _, raw = token_create(user=world.users["owner"], name="script")
    client = Client(enforce_csrf_checks=True, headers={"Authorization": f"Bearer {raw}"})
    response = client.put(
        f"/api/v1/projects/{world.project.slug}", data=json.dumps({"name": "By script"}), content_type="application/json"
    )
    assert response.status_code == 200


def test_an_htmx_request_refused_for_csrf_says_to_reload(world: World, browser: Client) -> None:
    url = f"/p/{world.project.slug}/proposals/{world.ids['proposal_number']}/vote/"
    response = browser.post(url, {"value": "2"}, headers={"HX-Request": "true"})
    assert response.status_code == 403
    assert response[ERROR_HEADER] == "csrf"
    assert response["Content-Type"].startswith("text/plain")
    assert response.content.decode() == HTMX_MESSAGE
    assert "reload the page" in HTMX_MESSAGE


def test_a_page_refused_for_csrf_explains_itself(world: World, browser: Client) -> None:
    response = browser.post(f"/p/{world.project.slug}/settings/", {"name": "x"})
    assert response.status_code == 403
    assert ERROR_HEADER not in response
    html = response.content.decode()
    assert ("<h1>Your session changed</h1>" in html and HTMX_MESSAGE.replace("—", "&mdash;") in html) or HTMX_MESSAGE in html


def test_pages_send_the_token_with_every_htmx_request(world: World) -> None:
    """base.html puts the token in hx-headers; the refusals above are what a page without
    it, or with an expired one, runs into."""
    html = world.client("owner").get(f"/p/{world.project.slug}/").content.decode()
    assert '"X-CSRFToken": "' in html
    assert "/static/js/csrf.js" in html
