"""Five failed logins lock that username from that address (django-axes), with a message
on the login page; the right password does not get through while locked."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from axes.models import AccessAttempt
from django.test import Client
from django.urls import reverse

from tests.factories import UserFactory

pytestmark = pytest.mark.django_db

PASSWORD = "correct horse battery staple"


def _login(client: Client, username: str, password: str, ip: str = "10.0.0.1") -> Any:
    return client.post(reverse("login"), {"username": username, "password": password}, REMOTE_ADDR=ip)


@pytest.fixture
def alice() -> Any:
    user = UserFactory(username="alice")
    user.set_password(PASSWORD)
    user.save()
    return user


def test_five_failures_lock_the_username_from_that_address(alice: Any) -> None:
    client = Client()
    for _ in range(4):
        response = _login(client, "alice", "wrong")
        assert response.status_code == 200
        assert b"lockout" not in response.content
    # The fifth failure locks; from then on even the right password is refused.
    fifth = _login(client, "alice", "wrong")
    assert fifth.status_code == 429
    locked = _login(client, "alice", PASSWORD)
    assert locked.status_code == 429
    assert "_auth_user_id" not in client.session
    page = locked.content.decode()
    assert 'id="lockout"' in page
    assert "Too many failed logins for this username from your address. Try again in 15 minutes." in page
    assert 'name="username"' in page and 'value="alice"' in page  # the login form is still there
    assert PASSWORD not in page


def test_the_lock_is_for_the_pair_of_username_and_address(alice: Any) -> None:
    for _ in range(5):
        _login(Client(), "alice", "wrong", ip="10.0.0.1")
    assert _login(Client(), "alice", PASSWORD, ip="10.0.0.1").status_code == 429
    # Someone failing elsewhere cannot lock alice out from her own address.
    from_home = Client()
    assert _login(from_home, "alice", PASSWORD, ip="10.0.0.2").status_code == 302
    assert from_home.session["_auth_user_id"] == str(alice.pk)


def test_a_success_resets_the_count(alice: Any) -> None:
    for _ in range(4):
        _login(Client(), "alice", "wrong")
    assert _login(Client(), "alice", PASSWORD).status_code == 302
    for _ in range(4):
        assert _login(Client(), "alice", "wrong").status_code == 200
    assert _login(Client(), "alice", PASSWORD).status_code == 302


def test_the_lock_lifts_after_the_cool_off(alice: Any) -> None:
    for _ in range(5):
        _login(Client(), "alice", "wrong")
    assert _login(Client(), "alice", PASSWORD).status_code == 429
    # Age the recorded failures past the cool-off (15 minutes by default).
    attempt = AccessAttempt.objects.get(username="alice")
    AccessAttempt.objects.filter(pk=attempt.pk).update(attempt_time=attempt.attempt_time - timedelta(minutes=16))
    assert _login(Client(), "alice", PASSWORD).status_code == 302


def test_the_limit_and_cool_off_come_from_settings(alice: Any, settings: Any) -> None:
    settings.AXES_FAILURE_LIMIT = 2
    settings.AXES_COOLOFF_TIME = 1 / 60  # one minute, in axes' hours
    _login(Client(), "alice", "wrong")
    locked = _login(Client(), "alice", "wrong")
    assert locked.status_code == 429
    assert "Try again in 1 minute." in locked.content.decode()


def test_logins_without_a_request_are_not_counted(alice: Any) -> None:
    """Management commands and the test client authenticate without a request."""
    for _ in range(6):
        assert not Client().login(username="alice", password="wrong")
    assert Client().login(username="alice", password=PASSWORD)
