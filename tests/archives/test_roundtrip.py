"""A project exported and imported elsewhere holds the same rows, linked the same way."""

from __future__ import annotations

import io
from typing import Any

import pytest
from django.contrib.auth.models import User
from django.core.management import CommandError, call_command

from evolab.archives.exporting import project_export
from evolab.archives.importing import project_import
from evolab.archives.scope import ID_REFERENCES, archived_models
from evolab.core.models import AuditEvent
from evolab.evolution import actions
from evolab.evolution.models import Comment, Proposal, Vote
from evolab.projects.models import Project
from tests.evolution.conftest import Evo, drive

pytestmark = pytest.mark.django_db(transaction=True)


def _project_with_history(evo: Evo) -> Project:
    actions.policy_set(actor=evo.team.owner, project=evo.team.project, rules={"allow_auto_merge": False})
    drive(evo.start(budget_rounds=1))
    proposal = Proposal.objects.filter(project=evo.team.project).first()
    assert proposal is not None
    # Rows, not review actions: the archive must carry whatever state a review left.
    Vote.objects.create(
        proposal=proposal, voter=evo.team.reviewer, value=1, diff_hash=proposal.diff_hash, base_version=evo.harness
    )
    later = Comment.objects.create(proposal=proposal, author=evo.team.reviewer, text="Why this wording?")
    reply = Comment.objects.create(proposal=proposal, author=evo.team.maintainer, text="It names the rule.")
    # A reference to a row written after it: the import must fill it in a second pass.
    Comment.objects.filter(pk=later.pk).update(parent=reply)
    return evo.team.project


def _canonical(project: Project) -> dict[str, list[dict[str, Any]]]:
    """Every archived row of a project with ids replaced by positions: a row's own id
    drops out, and a reference becomes the position of its target among that model's rows
    of the project (ordered by id, which an import preserves), or a username."""
    entries = archived_models()
    rows: dict[str, list[dict[str, Any]]] = {}
    positions: dict[str, dict[Any, int]] = {}
    for entry in entries:
        values = list(entry.model._default_manager.filter(**{entry.project_lookup: project.pk}).order_by("pk").values())
        positions[entry.label] = {row["id"]: i for i, row in enumerate(values)}
        rows[entry.label] = values
    names = dict(User.objects.values_list("pk", "username"))
    canonical: dict[str, list[dict[str, Any]]] = {}
    for entry in entries:
        out = []
        for row in rows[entry.label]:
            row = dict(row)
            row.pop("id")
            for column, target in entry.links.items():
                if row[column] is not None:
                    row[column] = positions[target][row[column]]
            for column in entry.user_links:
                row[column] = names.get(row[column])
            for (label, column), target in ID_REFERENCES.items():
                if label == entry.label and row[column] is not None:
                    model = target if isinstance(target, str) else target[1][row[target[0]]]
                    row[column] = positions[model][row[column]]
            if entry.label == "projects.Project":
                row.pop("slug"), row.pop("name")
            out.append(row)
        canonical[entry.label] = out
    return canonical


def test_it_round_trips_every_row_and_link(evo: Evo) -> None:
    project = _project_with_history(evo)
    buffer = io.BytesIO()
    manifest = project_export(project, buffer)
    before = _canonical(project)
    assert manifest["counts"]["runs.CaseResult"] > 0 and manifest["counts"]["evolution.Comment"] == 2

    buffer.seek(0)
    report = project_import(buffer, slug="support-agent-copy", name="Copy")

    after = _canonical(report.project)
    imported_event = after["core.AuditEvent"].pop()
    assert imported_event["action"] == "project.imported"
    assert after == before
    assert report.users_created == []
    assert report.project.name == "Copy"


def test_the_commands_check_the_file_and_create_unknown_people_inactive(evo: Evo, tmp_path: Any) -> None:
    project = _project_with_history(evo)
    archive = tmp_path / "project.zip"
    out = io.StringIO()
    call_command("export_project", project.slug, str(archive), stdout=out)
    digest = out.getvalue().split("SHA-256 ")[1].split()[0]
    name = evo.team.reviewer.username
    User.objects.filter(username=name).update(username="someone-else")

    with pytest.raises(CommandError, match="SHA-256"):
        call_command("import_project", str(archive), "--slug", "copy", "--sha256", "0" * 64)
    assert not Project.objects.filter(slug="copy").exists()

    call_command("import_project", str(archive), "--slug", "copy", "--sha256", digest, stdout=out)

    assert "Imported copy" in out.getvalue() and f"created inactive, without a password: {name}" in out.getvalue()
    newcomer = User.objects.get(username=name)
    assert not newcomer.is_active and not newcomer.has_usable_password()
    copy = Project.objects.get(slug="copy")
    assert copy.memberships.filter(user=newcomer).exists()
    assert AuditEvent.objects.filter(action="project.imported", object_label="copy").count() == 1
