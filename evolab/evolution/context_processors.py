"""The counts in the navigation: reviews waiting for me, unread notifications.

Each count is read when a template first asks for it, so a page without the navigation
(an htmx fragment, a CSV download) pays nothing, a full page pays one query per count,
and an anonymous visitor none.
"""

from __future__ import annotations

from functools import cached_property
from typing import cast

from django.contrib.auth.models import User
from django.http import HttpRequest

from evolab.evolution import assignment, notifications


class NavCounts:
    def __init__(self, user: User) -> None:
        self._user = user

    @cached_property
    def reviews_by_project(self) -> dict[int, int]:
        """Proposals assigned to me and waiting, per project id."""
        return assignment.review_counts(self._user)

    @property
    def reviews(self) -> int:
        return sum(self.reviews_by_project.values())

    @cached_property
    def unread(self) -> int:
        return notifications.unread_count(self._user)


def nav_counts(request: HttpRequest) -> dict[str, NavCounts]:
    user = getattr(request, "user", None)
    if user is None or not user.is_authenticated:
        return {}
    return {"nav_counts": NavCounts(cast(User, user))}
