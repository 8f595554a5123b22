"""Reverting a merged proposal: a new head without its change, by three-way merge when
head has moved on, refused without any write when that conflicts."""

from __future__ import annotations

import json

import pytest

from evolab.core.errors import Conflict, ValidationFailed
from evolab.core.models import AuditEvent
from evolab.evolution import actions, rebase
from evolab.evolution.models import Campaign, MemoryEntry, Proposal
from evolab.harnesses.models import HarnessVersion
from evolab.harnesses.selectors import head_of
from tests.evolution.conftest import Evo
from tests.evolution.test_rebase import REFUNDS, RULE, classified, move_head, refunds

pytestmark = pytest.mark.django_db


def merged(evo: Evo, campaign: Campaign, line: str) -> Proposal:
    proposal = classified(evo, campaign, {REFUNDS: refunds(evo, RULE + line)})
    actions.proposal_merge(actor=evo.team.maintainer, proposal=proposal)
    return rebase.proposal_for_revision(evo.team.project, proposal.number)


def head(evo: Evo) -> HarnessVersion:
    version = head_of(evo.team.project)
    assert version is not None
    return version


def test_reverting_the_head_proposal_restores_its_base_tree(evo: Evo) -> None:
    campaign = evo.start()
    proposal = merged(evo, campaign, "Say the window: 30 days.\n")
    assert head(evo).pk == proposal.candidate_version_id

    last = AuditEvent.objects.order_by("-id").values_list("id", flat=True).first() or 0
    version = rebase.proposal_revert(actor=evo.team.maintainer, proposal=proposal, reason="Confuses  shoppers.")

    assert head(evo).pk == version.pk
    assert version.files == proposal.base_version.files
    assert version.message == f"Revert proposal #{proposal.number}: Confuses shoppers."
    assert list(version.parents.values_list("pk", flat=True)) == [proposal.candidate_version_id]
    memory = MemoryEntry.objects.get(campaign=campaign, proposal=proposal)
    assert memory.text == f"proposal #{proposal.number} was reverted by maintainer: Confuses shoppers."
    event = AuditEvent.objects.get(action="proposal.revert")
    candidate = proposal.candidate_version
    assert candidate is not None
    assert event.before == {"head": candidate.number, "digest": candidate.digest}
    assert event.after == {
        "head": version.number,
        "digest": version.digest,
        "parents": [candidate.number],
        "files": len(version.files),
        "reason": "Confuses shoppers.",
    }
    # One decision, one event: the new version and the head move are in it.
    assert list(AuditEvent.objects.filter(id__gt=last).values_list("action", flat=True)) == ["proposal.revert"]
    campaign.refresh_from_db()
    assert campaign.parent_version_id == version.pk  # the campaign follows head back


def test_a_later_change_survives_the_three_way_revert(evo: Evo) -> None:
    campaign = evo.start()
    proposal = merged(evo, campaign, "Say the window: 30 days.\n")
    later = move_head(evo, {"workflow.md": "# Workflow\n\nBe brief.\n"})

    version = rebase.proposal_revert(actor=evo.team.maintainer, proposal=proposal, reason="No gain after all.")

    assert version.files == {**later.files, REFUNDS: evo.harness.files[REFUNDS]}
    assert head(evo).pk == version.pk


def test_a_conflicting_revert_names_the_paths_and_writes_nothing(evo: Evo) -> None:
    campaign = evo.start()
    proposal = merged(evo, campaign, "Say the window: 30 days.\n")
    later = move_head(evo, {REFUNDS: refunds(evo, RULE + "Say the window: 30 days, 15 for electronics.\n")})
    versions = HarnessVersion.objects.count()

    with pytest.raises(Conflict) as raised:
        rebase.proposal_revert(actor=evo.team.maintainer, proposal=proposal, reason="No gain.")

    assert raised.value.details == {"paths": [REFUNDS], "head": later.number}
    assert HarnessVersion.objects.count() == versions and head(evo).pk == later.pk
    assert not MemoryEntry.objects.filter(proposal=proposal).exists()
    assert not AuditEvent.objects.filter(action="proposal.revert").exists()


def test_only_a_merged_change_still_in_head_is_reverted(evo: Evo) -> None:
    campaign = evo.start()
    open_proposal = classified(evo, campaign, {REFUNDS: refunds(evo, "Refunds: 30 days.\n")})
    with pytest.raises(Conflict, match="was never merged"):
        rebase.proposal_revert(actor=evo.team.maintainer, proposal=open_proposal, reason="x")

    proposal = merged(evo, campaign, "Say the window: 30 days.\n")
    rebase.proposal_revert(actor=evo.team.maintainer, proposal=proposal, reason="Once.")
    with pytest.raises(Conflict, match="no longer has"):
        rebase.proposal_revert(actor=evo.team.maintainer, proposal=proposal, reason="Twice.")
    with pytest.raises(ValidationFailed):
        rebase.proposal_revert(actor=evo.team.maintainer, proposal=proposal, reason=" ")


def test_the_api_answers_the_new_head(evo: Evo) -> None:
    proposal = merged(evo, evo.start(), "Say the window: 30 days.\n")
    url = f"/api/v1/projects/{evo.team.project.slug}/proposals/{proposal.number}/revert"

    response = evo.team.client_for("maintainer").post(
        url, data=json.dumps({"reason": "Confuses shoppers."}), content_type="application/json"
    )

    assert response.status_code == 201
    body = response.json()
    assert body["proposal"] == proposal.number and body["version"] == head(evo).number
    assert body["message"] == f"Revert proposal #{proposal.number}: Confuses shoppers."
