"""Reverting from the browser: a new version on top of head, with a reason."""

from __future__ import annotations

import pytest

from evolab.harnesses.selectors import head_of
from tests.harnesses.factories import make_version

pytestmark = pytest.mark.django_db


def test_it_reverts(team) -> None:
    v1 = make_version(team.project)
    make_version(team.project, {"system.md": "worse\n"})
    response = team.client_for("maintainer").post(
        f"/p/{team.project.slug}/harness/v/1/revert/", {"reason": "dev score fell 4 points"}
    )
    assert response.status_code == 302
    head = head_of(team.project)
    assert head.number == 3 and head.files == v1.files
    assert head.message == "Revert to v1: dev score fell 4 points"
    assert response["Location"] == f"/p/{team.project.slug}/harness/v/3/"


def test_a_reason_is_required(team) -> None:
    make_version(team.project)
    make_version(team.project, {"system.md": "worse\n"})
    response = team.client_for("maintainer").post(f"/p/{team.project.slug}/harness/v/1/revert/", {"reason": ""})
    assert response.status_code == 422
    assert head_of(team.project).number == 2


def test_reverting_to_the_head_tree_says_why_not(team) -> None:
    make_version(team.project)
    make_version(team.project, {"system.md": "two\n"})
    make_version(team.project)
    response = team.client_for("maintainer").post(f"/p/{team.project.slug}/harness/v/1/revert/", {"reason": "r"})
    assert response.status_code == 409
    assert "Nothing to revert" in response.content.decode()
    assert head_of(team.project).number == 3


def test_get_is_not_allowed(team) -> None:
    make_version(team.project)
    assert team.client_for("maintainer").get(f"/p/{team.project.slug}/harness/v/1/revert/").status_code == 405
