"""What a campaign must never do: leak the held-out guard, or spend past its budget."""

from __future__ import annotations

import json
from decimal import Decimal

import pytest

from evolab.demo import with_guidance
from evolab.evals.actions import suite_create, suite_version_import
from evolab.evolution import actions, loop
from evolab.evolution.budget import campaign_spend
from evolab.evolution.models import CampaignStatus, Proposal
from evolab.runs.models import ACTIVE_RUN_STATUSES, ChunkStatus, RunChunk
from evolab.runs.tasks import run_chunk
from tests.evolution.conftest import Evo, drive, suite_rows

pytestmark = pytest.mark.django_db(transaction=True)

PROPOSER_MARKER = b"## Failure trajectories"


def test_holdout_canaries_never_reach_a_proposer_nor_leave_in_any_request(evo: Evo) -> None:
    rows = suite_rows({"train": 4, "dev": 12, "holdout": 4})
    for index, row in enumerate(rows):
        if row["split"] == "holdout":
            # In the input (the runner must see it to score the guard, no proposer may) and
            # in the metadata, which no request of any kind may carry.
            row["input"] = f"{row['input']} (ticket CANARY-IN-{index:03d})"
            row["metadata"] = {**row["metadata"], "note": f"CANARY-META-{index:03d}"}
    suite = suite_create(actor=evo.team.owner, project=evo.team.project, slug="canary", name="Canary")
    source = "\n".join(json.dumps(row) for row in rows).encode()
    evo.suite_version = suite_version_import(actor=evo.team.owner, suite=suite, source=source, fmt="jsonl")
    campaign = evo.start(budget_rounds=2)
    # A maintainer's change known to help (the refund exceptions the harness lacks) gains
    # on dev, so the guard is surely scored and the canaries are in play.
    helpful = with_guidance(dict(campaign.parent_version.files), ("refunds",))
    actions.proposal_submit(actor=evo.team.maintainer, campaign=campaign, files=helpful, hypothesis="Refund rules")
    evo.simulator.state.keep_bodies()
    try:
        campaign = drive(campaign)
        bodies = list(evo.simulator.state.bodies or [])
    finally:
        evo.simulator.state.keep_bodies(False)
    assert campaign.status == CampaignStatus.FINISHED, campaign.status_reason
    proposer_bodies = [body for body in bodies if PROPOSER_MARKER in body]
    assert len(proposer_bodies) == 4  # two candidates in each of two rounds
    # The guard was really scored, so the canaries were in play.
    assert Proposal.objects.filter(campaign=campaign, guard_run__isnull=False).exists()
    assert any(b"CANARY-IN-" in body for body in bodies if body not in proposer_bodies)
    for body in proposer_bodies:
        assert b"CANARY-IN-" not in body
    for body in bodies:
        assert b"CANARY-META-" not in body


def _requests(evo: Evo) -> int:
    return int(evo.simulator.stats()["chat_requests"])


def test_at_the_usd_cap_the_campaign_stops_says_why_and_sends_nothing_more(evo: Evo) -> None:
    campaign = drive(evo.start(budget_usd=Decimal("0.01")))
    assert campaign.status == CampaignStatus.STOPPED
    assert "USD cap ($0.01)" in campaign.status_reason
    spend = campaign_spend(campaign)
    assert spend.usd >= 0.01
    # Overshoot is bounded by what was already in flight when the cap was seen.
    assert spend.usd < 0.01 + 16 * 0.002
    sent = _requests(evo)
    # Whatever arrives later (a duplicate step, a redelivered chunk) sends nothing.
    loop.campaign_step(campaign.pk)
    for chunk_id in RunChunk.objects.filter(status=ChunkStatus.PENDING).values_list("pk", flat=True):
        run_chunk(chunk_id)
    assert _requests(evo) == sent
    assert not RunChunk.objects.filter(run__status__in=ACTIVE_RUN_STATUSES).exists()


def test_the_token_cap_stops_the_campaign_and_says_which_cap(evo: Evo) -> None:
    campaign = drive(evo.start(budget_tokens=20_000))
    assert campaign.status == CampaignStatus.STOPPED
    assert "token cap (20,000)" in campaign.status_reason


def test_budget_warnings_are_given_once_at_fifty_and_eighty_percent(evo: Evo) -> None:
    campaign = drive(evo.start(budget_usd=Decimal("0.05")))
    assert campaign.status == CampaignStatus.STOPPED
    assert [w for w in campaign.warnings if w.startswith("usd:")] == ["usd:50", "usd:80"]


def test_the_wall_time_cap_stops_the_campaign_before_any_request(evo: Evo) -> None:
    from evolab.evolution.models import Campaign

    campaign = evo.start(budget_wall_s=60)
    # The campaign has already run for its whole minute (time banked before a pause).
    Campaign.objects.filter(pk=campaign.pk).update(active_s=60.0)
    campaign = drive(campaign)
    assert campaign.status == CampaignStatus.STOPPED
    assert "wall-time cap (60 s)" in campaign.status_reason
    assert _requests(evo) == 0


def test_the_guidance_people_write_reaches_the_proposer(evo: Evo) -> None:
    evo.simulator.state.keep_bodies()
    try:
        drive(evo.start(budget_rounds=1, candidates_per_round=1, guidance="Look hard at UNIQUE-DIRECTION-42."))
        bodies = list(evo.simulator.state.bodies or [])
    finally:
        evo.simulator.state.keep_bodies(False)
    asked = [body for body in bodies if PROPOSER_MARKER in body]
    assert len(asked) == 1 and b"UNIQUE-DIRECTION-42" in asked[0]
