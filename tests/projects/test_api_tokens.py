from __future__ import annotations

import hashlib

from django.test import Client

from evolab.projects.actions import token_create
from evolab.projects.models import ApiToken
from tests.conftest import Team


def test_it_creates_a_token_shown_once_and_stored_hashed(team: Team) -> None:
    client = team.client_for("viewer")
    response = client.post("/account/tokens/", {"name": "CI gate"})
    assert response.status_code == 200
    token = ApiToken.objects.get(user=team.viewer)
    raw = response.context["created"]
    assert raw.startswith("evl_")
    assert token.token_hash == hashlib.sha256(raw.encode()).hexdigest()
    assert raw not in token.token_hash and raw not in token.prefix + "…"
    again = client.get("/account/tokens/")
    assert raw not in again.content.decode()


def test_bearer_token_acts_as_its_user(team: Team) -> None:
    _, raw = token_create(user=team.viewer, name="script")
    response = Client().get(f"/api/v1/projects/{team.project.slug}", HTTP_AUTHORIZATION=f"Bearer {raw}")
    assert response.status_code == 200
    assert response.json()["role"] == "viewer"
    assert ApiToken.objects.get(user=team.viewer).last_used_at is not None


def test_bearer_token_may_write_without_csrf(team: Team) -> None:
    _, raw = token_create(user=team.owner, name="script")
    client = Client(enforce_csrf_checks=True)
    response = client.post(
        "/api/v1/projects",
        data={"name": "From CI"},
        content_type="application/json",
        HTTP_AUTHORIZATION=f"Bearer {raw}",
    )
    assert response.status_code == 201, response.content


def test_revoked_token_is_refused(team: Team) -> None:
    token, raw = token_create(user=team.viewer, name="old")
    client = team.client_for("viewer")
    assert client.post(f"/account/tokens/{token.pk}/revoke/").status_code == 302
    response = Client().get(f"/api/v1/projects/{team.project.slug}", HTTP_AUTHORIZATION=f"Bearer {raw}")
    assert response.status_code == 401
    assert response.json()["code"] == "unauthenticated"


def test_it_handles_someone_elses_token(team: Team) -> None:
    token, _ = token_create(user=team.owner, name="mine")
    response = team.client_for("viewer").post(f"/account/tokens/{token.pk}/revoke/")
    assert response.status_code == 404
    token.refresh_from_db()
    assert token.is_active


def test_wrong_token_is_refused(db: None) -> None:
    response = Client().get("/api/v1/projects", HTTP_AUTHORIZATION="Bearer evl_nope")
    assert response.status_code == 401


def test_cookie_session_without_csrf_token_cannot_write(team: Team) -> None:
    client = Client(enforce_csrf_checks=True)
    client.force_login(team.owner)
    response = client.post("/api/v1/projects", data={"name": "Sneaky"}, content_type="application/json")
    assert response.status_code in (401, 403)
    assert not team.owner.memberships.filter(project__name="Sneaky").exists()


def test_anonymous_token_page_redirects_to_login(db: None) -> None:
    response = Client().get("/account/tokens/")
    assert response.status_code == 302
    assert "/accounts/login/" in response["Location"]
