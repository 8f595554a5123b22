"""The harness version page's leakage panel (evolab.leakage.views): who may read it, what
it says by role, and that it checks once per (version, suite version). `ENDPOINTS` is
checked centrally too (tests/test_permission_matrix.py)."""

from __future__ import annotations

from typing import Any

import pytest

from evolab.harnesses.actions import version_create
from evolab.leakage.actions import harness_version_check
from evolab.leakage.models import LeakageCheck, Subject
from evolab.projects.models import Role
from tests.evolution.leakage_fixture import DEV_TEXT, HOLDOUT_TEXT, Leaky, leaky, words
from tests.permission_matrix import PERSONAS, Endpoint, check_endpoint

__all__ = ["leaky"]

PANEL = "/p/{slug}/harness/v/{number}/leakage/"
ENDPOINTS: list[Endpoint] = [Endpoint("GET", PANEL, Role.VIEWER, "leakage:harness_version")]


def _leaking_version(leaky: Leaky) -> Any:
    base = leaky.campaign.parent_version
    files = {**base.files, "skills/warranty.md": f"Quote: {words(HOLDOUT_TEXT, 2, 20)}\n{words(DEV_TEXT, 0, 12)}\n"}
    return version_create(actor=leaky.team.owner, project=leaky.team.project, files=files, message="leaky")


@pytest.fixture
def context(leaky: Leaky) -> dict[str, Any]:
    return {"slug": leaky.team.project.slug, "number": _leaking_version(leaky).number}


@pytest.mark.parametrize("persona", PERSONAS)
@pytest.mark.parametrize("endpoint", ENDPOINTS, ids=lambda e: f"{e.method} {e.url}")
def test_permissions(endpoint: Endpoint, persona: str, leaky: Leaky, context: dict[str, Any]) -> None:
    check_endpoint(endpoint, persona, leaky.team.client_for(persona), context)


def test_the_version_page_loads_the_panel(leaky: Leaky, context: dict[str, Any]) -> None:
    html = leaky.team.client_for("viewer").get("/p/{slug}/harness/v/{number}/".format(**context)).content.decode()
    assert f'hx-get="{PANEL.format(**context)}"' in html


def test_the_panel_warns_by_role(leaky: Leaky, context: dict[str, Any]) -> None:
    url = PANEL.format(**context)
    maintainer = leaky.team.client_for("maintainer").get(url, HTTP_HX_REQUEST="true").content.decode()
    assert "Quotes eval cases" in maintainer and "hold-blender" in maintainer and "20 normalised words" in maintainer
    viewer = leaky.team.client_for("viewer").get(url, HTTP_HX_REQUEST="true").content.decode()
    assert "1 holdout case" in viewer and "1 dev case" in viewer and "dev-printer" in viewer
    assert "hold-blender" not in viewer and "premium blender" not in viewer
    assert "<html" not in viewer  # the htmx answer is the panel alone


def test_a_clean_version_says_so_and_is_checked_once(leaky: Leaky) -> None:
    version = leaky.campaign.parent_version
    url = PANEL.format(slug=leaky.team.project.slug, number=version.number)
    html = leaky.team.client_for("viewer").get(url).content.decode()
    assert "no file quotes a dev or holdout case" in html
    harness_version_check(version)
    assert LeakageCheck.objects.filter(subject_type=Subject.HARNESS_VERSION, subject_id=version.pk).count() == 1
