"""Login lockout after repeated failures, with django-axes doing the counting.

Axes records failed logins per (username, address) in its own tables, so every web
process sees the same count. Two things are ours: the backend lets authentication that
does not come from an HTTP request through (management commands and Django's test
client call `authenticate()` without one, and no attacker can reach that path), and a
locked-out login answers with the login page itself, saying why and for how long.
"""

from __future__ import annotations

from typing import Any

from axes.backends import AxesStandaloneBackend
from axes.helpers import get_cool_off
from django.contrib.auth.forms import AuthenticationForm
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render


class LoginLockoutBackend(AxesStandaloneBackend):
    """Refuses logins of a locked-out (username, address); checks nothing without a request."""

    def authenticate(  # type: ignore[override]
        self,
        request: HttpRequest | None,
        username: str | None = None,
        password: str | None = None,
        **kwargs: Any,
    ) -> None:
        if request is None:
            return None
        return super().authenticate(request, username=username, password=password, **kwargs)


def lockout_message(request: HttpRequest) -> str:
    cool_off = get_cool_off(request)
    if cool_off is None:
        return "Too many failed logins for this username from your address. Ask an administrator to unlock it."
    minutes = max(1, round(cool_off.total_seconds() / 60))
    unit = "minute" if minutes == 1 else "minutes"
    return f"Too many failed logins for this username from your address. Try again in {minutes} {unit}."


def lockout_response(
    request: HttpRequest, original_response: HttpResponse | None = None, credentials: Any = None
) -> HttpResponse:
    """The login page, status 429, with the lockout message in place of the form errors.

    Axes calls this with varying arguments (its async middleware passes the credentials
    second), so only the request is relied on."""
    # An unbound form, so the password typed is never echoed back into the page.
    form = AuthenticationForm(request, initial={"username": request.POST.get("username", "")})
    context = {"form": form, "next": request.POST.get("next", ""), "lockout_message": lockout_message(request)}
    return render(request, "registration/login.html", context, status=429)
