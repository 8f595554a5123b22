from __future__ import annotations

import pytest
from django.contrib.auth import get_user_model
from django.core.management import call_command
from django.test import Client

from tests.conftest import Team
from tests.factories import UserFactory


def test_login_page_renders(db: None) -> None:
    response = Client().get("/accounts/login/")
    assert response.status_code == 200
    assert b'name="password"' in response.content


def test_it_logs_in_and_out(db: None) -> None:
    UserFactory(username="ada")
    client = Client()
    response = client.post("/accounts/login/", {"username": "ada", "password": "correct horse battery staple"})
    assert response.status_code == 302
    assert client.get("/p/").status_code == 200
    assert client.post("/accounts/logout/").status_code == 302
    assert client.get("/p/").status_code == 302


def test_it_refuses_a_wrong_password(db: None) -> None:
    UserFactory(username="ada")
    response = Client().post("/accounts/login/", {"username": "ada", "password": "nope"})
    assert response.status_code == 200
    assert b"correct username and password" in response.content


def test_it_changes_the_password(team: Team) -> None:
    client = team.client_for("viewer")
    response = client.post(
        "/accounts/password/",
        {
            "old_password": "correct horse battery staple",
            "new_password1": "a much longer new secret 42",
            "new_password2": "a much longer new secret 42",
        },
    )
    assert response.status_code == 302
    team.viewer.refresh_from_db()
    assert team.viewer.check_password("a much longer new secret 42")


def test_passwords_are_hashed_with_argon2(db: None, settings: object) -> None:
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.Argon2PasswordHasher"]  # type: ignore[attr-defined]
    user = get_user_model().objects.create_user("grace", password="pw-for-argon2")
    assert user.password.startswith("argon2$")


def test_createsuperuser_works(db: None, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DJANGO_SUPERUSER_PASSWORD", "super secret pw 1")
    call_command("createsuperuser", "--noinput", "--username", "root", "--email", "root@example.org")
    user = get_user_model().objects.get(username="root")
    assert user.is_superuser and user.check_password("super secret pw 1")
