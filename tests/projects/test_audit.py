from __future__ import annotations

import pytest

from evolab.core.models import AppendOnlyError, AuditEvent
from evolab.projects import actions
from evolab.projects.models import Role
from tests.conftest import Team


def test_audit_events_cannot_be_changed_or_deleted(team: Team) -> None:
    actions.membership_change_role(
        actor=team.owner, membership=team.project.memberships.get(user=team.viewer), role=Role.REVIEWER
    )
    event = AuditEvent.objects.get(action="membership.role")
    assert event.before == {"role": "viewer"} and event.after == {"role": "reviewer"}
    event.action = "tampered"
    with pytest.raises(AppendOnlyError):
        event.save()
    with pytest.raises(AppendOnlyError):
        event.delete()
    with pytest.raises(AppendOnlyError):
        AuditEvent.objects.filter(pk=event.pk).update(action="tampered")
    with pytest.raises(AppendOnlyError):
        AuditEvent.objects.all().delete()
    assert AuditEvent.objects.get(pk=event.pk).action == "membership.role"


def test_audit_page_lists_events(team: Team) -> None:
    actions.membership_add(actor=team.owner, project=team.project, username="outsider", role=Role.VIEWER)
    response = team.client_for("viewer").get(f"/p/{team.project.slug}/audit/")
    assert response.status_code == 200
    assert b"membership.add" in response.content
    assert b"outsider" in response.content


def test_audit_page_paginates(team: Team, django_assert_max_num_queries: object) -> None:
    for i in range(120):
        actions.project_update(actor=team.owner, project=team.project, name=f"Name {i}", description="")
    response = team.client_for("viewer").get(f"/p/{team.project.slug}/audit/?page=2")
    assert response.status_code == 200
    assert len(response.context["page"].object_list) == 50


def test_audit_page_shows_changes_field_by_field(team: Team) -> None:
    actions.membership_change_role(
        actor=team.owner, membership=team.project.memberships.get(user=team.viewer), role=Role.MAINTAINER
    )
    html = team.client_for("viewer").get(f"/p/{team.project.slug}/audit/").content.decode()
    assert '<span class="mono">role</span>: <del>viewer</del> → <ins>maintainer</ins>' in html
    assert "{'role'" not in html
