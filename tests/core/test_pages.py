from __future__ import annotations

from django.test import Client

from tests.conftest import Team


def test_pages_vary_on_hx_request(team: Team) -> None:
    response = team.client_for("viewer").get("/p/")
    assert "HX-Request" in response["Vary"]


def test_htmx_sends_the_csrf_token_and_is_served_locally(team: Team) -> None:
    response = team.client_for("viewer").get("/p/")
    html = response.content.decode()
    assert 'hx-headers=\'{"X-CSRFToken": "' in html
    assert "htmx" in html and "https://" not in html.split("<body")[0]


def test_static_assets_are_served_by_the_app(team: Team) -> None:
    client = Client()
    assert client.get("/static/css/evolab.css").status_code == 200
    assert client.get("/static/js/evolab.js").status_code == 200


def test_root_redirects_to_projects(db: None) -> None:
    response = Client().get("/")
    assert response.status_code == 302


def test_an_empty_project_dashboard_teaches_the_first_steps(team: Team) -> None:
    response = team.client_for("viewer").get(f"/p/{team.project.slug}/")
    assert response.status_code == 200
    assert b"Three steps to a first evaluation" in response.content


def test_a_csrf_failure_says_to_reload(team: Team) -> None:
    client = Client(enforce_csrf_checks=True)
    client.force_login(team.owner)
    response = client.post(f"/p/{team.project.slug}/settings/", {"name": "x"})
    assert response.status_code == 403
    assert b"reload the page" in response.content.lower()
