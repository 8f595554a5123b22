from __future__ import annotations

import pytest

from evolab.evolution import actions
from evolab.evolution.models import CampaignStatus, MemoryEntry, Proposal, ProposalStage, Round, RoundStatus
from tests.evolution.conftest import AUTO_MERGE_POLICY, Evo, drive

pytestmark = pytest.mark.django_db(transaction=True)


def test_a_campaign_runs_its_rounds_and_classifies_every_proposal(evo: Evo) -> None:
    actions.policy_set(actor=evo.team.owner, project=evo.team.project, rules=AUTO_MERGE_POLICY)
    campaign = drive(evo.start())
    assert campaign.status == CampaignStatus.FINISHED, campaign.status_reason
    assert campaign.status_reason == "All 2 rounds done."
    rounds = list(Round.objects.filter(campaign=campaign))
    assert [r.status for r in rounds] == [RoundStatus.DONE, RoundStatus.DONE]
    proposals = list(Proposal.objects.filter(campaign=campaign))
    assert len(proposals) == 4
    assert all(p.stage == ProposalStage.CLASSIFIED and p.outcome and p.reasons for p in proposals)
    for p in proposals:
        print(p.number, p.outcome, p.reasons, p.stats.get("comparison"), p.apply_error[:100], p.touched_paths)
    assert MemoryEntry.objects.filter(campaign=campaign).count() == 4
