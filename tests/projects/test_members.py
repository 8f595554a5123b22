from __future__ import annotations

from evolab.core.models import AuditEvent
from evolab.projects.models import Membership, Role
from tests.conftest import Team


def _membership(team: Team, username: str) -> Membership:
    return team.project.memberships.get(user__username=username)


def test_owner_adds_a_member(team: Team) -> None:
    url = f"/p/{team.project.slug}/settings/members/add/"
    response = team.client_for("owner").post(url, {"username": "outsider", "role": "reviewer"}, HTTP_HX_REQUEST="true")
    assert response.status_code == 200
    assert b"<html" not in response.content  # the htmx answer is the members panel only
    assert _membership(team, "outsider").role == Role.REVIEWER
    assert AuditEvent.objects.filter(action="membership.add", object_label="outsider").exists()


def test_it_handles_an_unknown_username(team: Team) -> None:
    url = f"/p/{team.project.slug}/settings/members/add/"
    response = team.client_for("owner").post(url, {"username": "nobody", "role": "viewer"})
    assert response.status_code == 422
    assert b"No user is called" in response.content


def test_it_handles_an_existing_member(team: Team) -> None:
    url = f"/p/{team.project.slug}/settings/members/add/"
    response = team.client_for("owner").post(url, {"username": "viewer", "role": "owner"})
    assert response.status_code == 422
    assert _membership(team, "viewer").role == Role.VIEWER


def test_owner_changes_a_role(team: Team) -> None:
    membership = _membership(team, "viewer")
    url = f"/p/{team.project.slug}/settings/members/{membership.pk}/role/"
    assert team.client_for("owner").post(url, {"role": "maintainer"}).status_code == 200
    membership.refresh_from_db()
    assert membership.role == Role.MAINTAINER
    event = AuditEvent.objects.get(action="membership.role")
    assert (event.before, event.after) == ({"role": "viewer"}, {"role": "maintainer"})


def test_the_last_owner_cannot_step_down_or_leave(team: Team) -> None:
    owner = _membership(team, "owner")
    client = team.client_for("owner")
    response = client.post(f"/p/{team.project.slug}/settings/members/{owner.pk}/role/", {"role": "viewer"})
    assert response.status_code == 422
    response = client.post(f"/p/{team.project.slug}/settings/members/{owner.pk}/remove/")
    assert response.status_code == 422
    owner.refresh_from_db()
    assert owner.role == Role.OWNER


def test_owner_removes_a_member_who_then_sees_404(team: Team) -> None:
    membership = _membership(team, "reviewer")
    assert (
        team.client_for("owner").post(f"/p/{team.project.slug}/settings/members/{membership.pk}/remove/").status_code
        == 200
    )
    assert not Membership.objects.filter(pk=membership.pk).exists()
    assert team.client_for("reviewer").get(f"/p/{team.project.slug}/").status_code == 404


def test_a_member_id_from_another_project_is_404(team: Team) -> None:
    from tests.factories import MembershipFactory

    foreign = MembershipFactory(role=Role.VIEWER)
    url = f"/p/{team.project.slug}/settings/members/{foreign.pk}/remove/"
    assert team.client_for("owner").post(url).status_code == 404
    assert Membership.objects.filter(pk=foreign.pk).exists()
