from __future__ import annotations

from django.contrib.auth.models import User
from django.http import HttpRequest


class AuthedRequest(HttpRequest):
    """The request of a view behind @login_required (or an authenticated API operation):
    its user is a real account, which lets type-checking follow `request.user` into actions."""

    user: User
