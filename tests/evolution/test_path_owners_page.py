"""Path owners on the policy page: owners add and remove them; others only read."""

from __future__ import annotations

import pytest
from django.contrib.auth.models import User

from evolab.core.models import AuditEvent
from evolab.evolution.assignment import path_owner_set
from evolab.evolution.models import PathOwner
from tests.conftest import Team

PAGE = "/p/{slug}/policy/"
URL = "/p/{slug}/policy/path-owners/"
REMOVE = URL + "{id}/remove/"


def _owner(team: Team, pattern: str = "skills/*") -> PathOwner:
    assert isinstance(team.owner, User) and isinstance(team.reviewer, User)
    return path_owner_set(actor=team.owner, project=team.project, pattern=pattern, user=team.reviewer)


def test_it_lists_path_owners_to_viewers_without_the_form(team: Team) -> None:
    _owner(team)
    body = team.client_for("viewer").get(PAGE.format(slug=team.project.slug)).content.decode()
    assert "<code>skills/*</code>" in body
    assert "Add path owner" not in body and "/remove/" not in body


def test_owner_adds_a_path_owner(team: Team) -> None:
    client = team.client_for("owner")
    response = client.post(URL.format(slug=team.project.slug), {"pattern": "harness.yaml", "user": team.reviewer.pk})
    assert response.status_code == 302
    assert PathOwner.objects.filter(project=team.project, pattern="harness.yaml", user=team.reviewer).exists()
    assert AuditEvent.objects.filter(action="path_owner.set").count() == 1
    page = client.get(response["Location"]).content.decode()
    assert "now reviews changes to harness.yaml" in page


def test_the_member_select_offers_only_reviewers_and_above(team: Team) -> None:
    body = team.client_for("owner").get(PAGE.format(slug=team.project.slug)).content.decode()
    start = body.index('name="user"')
    select = body[start : body.index("</select>", start)]
    for username in ("owner", "maintainer", "reviewer"):
        assert f">{username}</option>" in select
    assert ">viewer</option>" not in select and ">outsider</option>" not in select


def test_owner_removes_a_path_owner(team: Team) -> None:
    owner = _owner(team)
    response = team.client_for("owner").post(REMOVE.format(slug=team.project.slug, id=owner.pk))
    assert response.status_code == 302
    assert not PathOwner.objects.filter(pk=owner.pk).exists()
    assert AuditEvent.objects.filter(action="path_owner.remove").count() == 1


def test_it_handles_a_missing_path_owner(team: Team) -> None:
    response = team.client_for("owner").post(REMOVE.format(slug=team.project.slug, id=12345))
    assert response.status_code == 404


def test_a_bad_pattern_is_shown_on_its_field(team: Team) -> None:
    response = team.client_for("owner").post(
        URL.format(slug=team.project.slug), {"pattern": "../secrets", "user": team.reviewer.pk}
    )
    assert response.status_code == 422
    form = response.context["owner_form"]
    assert "contains '..'" in form.errors["pattern"][0]
    assert "contains &#x27;..&#x27;" in response.content.decode()
    assert not PathOwner.objects.exists()


def test_a_viewer_cannot_be_chosen(team: Team) -> None:
    response = team.client_for("owner").post(
        URL.format(slug=team.project.slug), {"pattern": "skills/*", "user": team.viewer.pk}
    )
    assert response.status_code == 422
    assert "user" in response.context["owner_form"].errors


@pytest.mark.parametrize("persona", ["maintainer", "reviewer", "viewer"])
def test_non_owners_are_refused(team: Team, persona: str) -> None:
    owner = _owner(team)
    client = team.client_for(persona)
    add = client.post(URL.format(slug=team.project.slug), {"pattern": "x.md", "user": team.reviewer.pk})
    remove = client.post(REMOVE.format(slug=team.project.slug, id=owner.pk))
    assert add.status_code == remove.status_code == 403
    assert list(PathOwner.objects.values_list("pattern", flat=True)) == ["skills/*"]


def test_outsiders_get_404(team: Team) -> None:
    owner = _owner(team)
    client = team.client_for("outsider")
    assert client.post(REMOVE.format(slug=team.project.slug, id=owner.pk)).status_code == 404
    assert client.get(PAGE.format(slug=team.project.slug)).status_code == 404
    assert PathOwner.objects.filter(pk=owner.pk).exists()
