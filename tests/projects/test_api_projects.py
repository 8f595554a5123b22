from __future__ import annotations

from tests.conftest import Team


def test_it_lists_only_my_projects(team: Team) -> None:
    response = team.client_for("viewer").get("/api/v1/projects")
    assert response.status_code == 200
    body = response.json()
    assert [p["slug"] for p in body["items"]] == ["support-agent"]
    assert team.client_for("outsider").get("/api/v1/projects").json()["items"] == []


def test_it_creates_a_project_owned_by_me(team: Team) -> None:
    response = team.client_for("outsider").post(
        "/api/v1/projects", data={"name": "New Thing"}, content_type="application/json"
    )
    assert response.status_code == 201
    assert response.json() == {**response.json(), "slug": "new-thing", "role": "owner"}


def test_validation_errors_name_the_field(team: Team) -> None:
    response = team.client_for("owner").post(
        f"/api/v1/projects/{team.project.slug}/members",
        data={"username": "viewer", "role": "emperor"},
        content_type="application/json",
    )
    assert response.status_code == 422
    body = response.json()
    assert body["code"] == "invalid"
    assert body["field"] == "role"


def test_domain_errors_have_a_stable_code(team: Team) -> None:
    response = team.client_for("owner").post(
        "/api/v1/projects", data={"name": "x", "slug": team.project.slug}, content_type="application/json"
    )
    assert response.status_code == 409
    assert response.json() == {"code": "conflict", "message": "The slug 'support-agent' is taken.", "field": "slug"}


def test_unknown_project_is_404_json(team: Team) -> None:
    response = team.client_for("owner").get("/api/v1/projects/nope")
    assert response.status_code == 404
    assert response.json()["code"] == "not_found"


def test_openapi_and_docs_are_served_locally(db: None) -> None:
    from django.test import Client

    client = Client()
    schema = client.get("/api/v1/openapi.json")
    assert schema.status_code == 200
    assert "/api/v1/projects" in schema.json()["paths"]
    docs = client.get("/api/v1/docs")
    assert docs.status_code == 200
    assert b"cdn" not in docs.content.lower()


def test_every_api_error_has_the_json_format(team: Team) -> None:
    from django.test import Client

    client = team.client_for("owner")
    unknown = client.get("/api/v1/no-such-thing")
    assert unknown.status_code == 404 and unknown.json()["code"] == "not_found"
    wrong_method = client.patch(f"/api/v1/projects/{team.project.slug}/audit")
    assert wrong_method.status_code == 405 and wrong_method.json()["code"] == "method_not_allowed"
    csrf = Client(enforce_csrf_checks=True)
    csrf.force_login(team.owner)
    refused = csrf.post("/api/v1/projects", data={"name": "x"}, content_type="application/json")
    assert refused.status_code == 403 and refused.json()["code"] == "csrf_failed"


def test_a_wrong_token_is_refused_even_with_a_session(team: Team) -> None:
    client = team.client_for("owner")
    response = client.get(f"/api/v1/projects/{team.project.slug}", HTTP_AUTHORIZATION="Bearer evl_wrong")
    assert response.status_code == 401
