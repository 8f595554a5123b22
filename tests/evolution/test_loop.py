from __future__ import annotations

import json

import pytest

from evolab.evolution import actions, loop, review
from evolab.evolution.models import (
    Campaign,
    CampaignStatus,
    MemoryEntry,
    Outcome,
    Proposal,
    ProposalStage,
    Round,
    RoundStatus,
)
from evolab.evolution.proposers import reflect_answer, reflect_request
from evolab.harnesses.selectors import head_of
from evolab.runs.models import ACTIVE_RUN_STATUSES, CaseResult, ChunkStatus, Run, RunChunk
from evolab.runs.tasks import run_chunk
from tests.evolution.conftest import AUTO_MERGE_POLICY, Evo, drive

pytestmark = pytest.mark.django_db(transaction=True)


def test_a_campaign_runs_its_rounds_and_classifies_every_proposal(evo: Evo) -> None:
    actions.policy_set(actor=evo.team.owner, project=evo.team.project, rules=AUTO_MERGE_POLICY)
    # Seed 9: the simulated proposer's first answer edits the protected system.md.
    campaign = drive(evo.start(seed=9))
    assert campaign.status == CampaignStatus.FINISHED, campaign.status_reason
    assert campaign.status_reason == "All 2 rounds done."
    rounds = list(Round.objects.filter(campaign=campaign))
    assert [r.status for r in rounds] == [RoundStatus.DONE, RoundStatus.DONE]
    proposals = list(Proposal.objects.filter(campaign=campaign))
    assert len(proposals) == 4
    assert all(p.stage == ProposalStage.CLASSIFIED and p.outcome and p.reasons for p in proposals)
    assert MemoryEntry.objects.filter(campaign=campaign).count() == 4
    # It is refused before anything exists.
    refused = [p for p in proposals if any(r["code"] == "protected_path" for r in p.reasons)]
    assert refused and all(p.outcome == Outcome.AUTO_REJECT for p in refused)
    assert all(p.candidate_version is None and p.candidate_run is None for p in refused)
    assert all("system.md" in p.touched_paths for p in refused)


def test_each_proposal_records_the_guidance_version_it_saw(evo: Evo) -> None:
    campaign = evo.start(budget_rounds=2, guidance="Focus on refunds.")
    # Run the first round to its end, then change the direction.
    while not Round.objects.filter(campaign=campaign, status=RoundStatus.DONE).exists():
        drive_once(campaign)
    actions.guidance_set(actor=evo.team.maintainer, campaign=campaign, text="Focus on shipping now.")
    campaign = drive(campaign)
    seen = {
        p.round.number: p.guidance.number
        for p in Proposal.objects.filter(campaign=campaign).select_related("round", "guidance")
    }
    assert seen == {1: 1, 2: 2}


def test_failed_proposals_keep_the_model_text_and_say_why(evo: Evo) -> None:
    campaign = drive(evo.start(budget_rounds=3, candidates_per_round=3))
    failed = Proposal.objects.filter(campaign=campaign, outcome=Outcome.AUTO_REJECT)
    assert failed.exists()
    for proposal in failed:
        codes = {reason["code"] for reason in proposal.reasons}
        assert codes & {"apply_failed", "protected_path", "duplicate", "interval_below_zero"}
        assert proposal.model_text  # the answer is kept verbatim, never dropped


def test_a_sweep_varies_one_parameter_within_the_backend_range(evo: Evo) -> None:
    campaign = drive(evo.start(proposer="sweep", proposer_backend=None, budget_rounds=1, candidates_per_round=3))
    assert campaign.status == CampaignStatus.FINISHED
    proposals = list(Proposal.objects.filter(campaign=campaign))
    assert len(proposals) == 3 and all(p.kind == "sweep" for p in proposals)
    for proposal in proposals:
        assert proposal.touched_paths == ["harness.yaml"] and len(proposal.params) == 1
        ((key, value),) = proposal.params.items()
        if key == "sampling.temperature":
            assert 0 < value <= 1  # M2.7 refuses anything else
    assert len({json.dumps(p.params, sort_keys=True) for p in proposals}) == 3


def test_a_human_proposal_enters_the_next_round_and_the_same_policy(evo: Evo) -> None:
    campaign = evo.start(budget_rounds=1, candidates_per_round=1)
    files = dict(campaign.parent_version.files)
    files["skills/refunds.md"] += (
        "\n## Refund exceptions\n- Opened electronics are refundable only within 15 days of delivery.\n- Final-sale items are never refundable, whatever the date.\n"
    )
    human = actions.proposal_submit(
        actor=evo.team.maintainer, campaign=campaign, files=files, hypothesis="Refund exceptions"
    )
    assert human.stage == ProposalStage.QUEUED
    drive(campaign)
    human.refresh_from_db()
    assert human.round is not None and human.round.number == 1 and human.kind == "human"
    assert human.stage == ProposalStage.CLASSIFIED and human.outcome and human.candidate_run is not None
    assert human.stats["comparison"]["delta"] > 0


def test_pause_cancels_work_and_resume_continues_without_billing_twice(evo: Evo) -> None:
    campaign = evo.start(budget_rounds=1)
    for _ in range(3):
        drive_once(campaign)
    actions.campaign_pause(actor=evo.team.maintainer, campaign=campaign)
    campaign.refresh_from_db()
    assert campaign.status == CampaignStatus.PAUSED and campaign.running_since is None
    assert not Run.objects.filter(status__in=ACTIVE_RUN_STATUSES).exists()
    loop.campaign_step(campaign.pk)  # a step arriving while paused does nothing
    assert not Round.objects.filter(campaign=campaign, status=RoundStatus.DONE).exists()
    actions.campaign_resume(actor=evo.team.maintainer, campaign=campaign)
    campaign = drive(campaign)
    assert campaign.status == CampaignStatus.FINISHED
    billed = CaseResult.objects.filter(cached=False, cost_usd__gt=0).values_list(
        "run__harness_version__digest", "case_id", "sample"
    )
    assert len(list(billed)) == len(set(billed))


def test_a_plateau_pauses_the_campaign_and_says_why(evo: Evo) -> None:
    # The default policy merges nothing by itself: no accepted gain, round after round.
    campaign = drive(evo.start(budget_rounds=5, plateau_rounds=2, candidates_per_round=1))
    assert campaign.status == CampaignStatus.PAUSED
    assert "no accepted gain in the last 2 rounds" in campaign.status_reason
    assert Round.objects.filter(campaign=campaign).count() == 2


def test_an_auto_merge_moves_head_by_compare_and_swap(evo: Evo) -> None:
    actions.policy_set(actor=evo.team.owner, project=evo.team.project, rules=AUTO_MERGE_POLICY)
    campaign = drive(evo.start(budget_rounds=2))
    merged = Proposal.objects.filter(campaign=campaign, merged_at__isnull=False).order_by("number")
    assert merged.exists()
    assert head_of(evo.team.project) == merged.last().candidate_version  # type: ignore[union-attr]
    assert campaign.parent_version == merged.last().candidate_version  # type: ignore[union-attr]
    assert all(p.outcome == Outcome.AUTO_MERGE for p in merged)


def drive_once(campaign: Campaign) -> None:
    for chunk_id in RunChunk.objects.filter(
        status=ChunkStatus.PENDING, run__status__in=ACTIVE_RUN_STATUSES
    ).values_list("pk", flat=True):
        run_chunk(chunk_id)
    loop.campaign_step(campaign.pk)


def test_reviewer_comments_enter_the_memory_and_the_next_proposer_prompt(evo: Evo) -> None:
    campaign = evo.start(budget_rounds=2, candidates_per_round=1)
    while not Round.objects.filter(campaign=campaign, status=RoundStatus.DONE).exists():
        drive_once(campaign)
    proposal = Proposal.objects.get(campaign=campaign)
    review.comment_add(actor=evo.team.reviewer, proposal=proposal, text="Refused: too long, keep skills short.")
    entry = MemoryEntry.objects.filter(campaign=campaign, kind="review").get()
    assert f"proposal #{proposal.number}" in entry.text and "keep skills short" in entry.text
    drive_once(campaign)  # starts round 2
    current = Round.objects.get(campaign=campaign, number=2)
    request = reflect_request(campaign, current, 0, "")
    prompt = request.messages[-1]["content"]
    assert "## Campaign memory" in prompt and "keep skills short" in prompt
    assert f"round 1 · proposal #{proposal.number}" in prompt


def test_the_memory_is_bounded(evo: Evo) -> None:
    campaign = evo.start()
    for index in range(actions.MEMORY_LIMIT + 5):
        actions.memory_record(campaign=campaign, text=f"entry {index}")
    texts = list(MemoryEntry.objects.filter(campaign=campaign).values_list("text", flat=True))
    assert len(texts) == actions.MEMORY_LIMIT and "entry 0" not in texts


def test_a_proposer_answer_paid_by_a_step_that_died_is_billed_once(evo: Evo) -> None:
    campaign = evo.start(budget_rounds=1, candidates_per_round=1)
    while not Round.objects.filter(campaign=campaign, status=RoundStatus.PROPOSING).exists():
        drive_once(campaign)
    current = Round.objects.get(campaign=campaign)
    # A step asks the model and dies before it records the proposal.
    paid = reflect_answer(campaign, reflect_request(campaign, current, 0, campaign.guidance_versions.get().text))
    assert paid.cost_usd > 0
    requests = evo.simulator.stats()["chat_requests"]
    drive_once(campaign)  # the repeated step
    proposal = Proposal.objects.get(round=current, index=0)
    assert evo.simulator.stats()["chat_requests"] == requests  # answered from the cache…
    assert proposal.proposer_cost_usd == paid.cost_usd  # …and billed the once it was paid


def test_changes_requested_on_a_model_proposal_are_answered_by_the_proposer(evo: Evo) -> None:
    from evolab.evolution.rebase import proposal_request_changes

    actions.policy_set(actor=evo.team.owner, project=evo.team.project, rules={"allow_auto_merge": False})
    campaign = evo.start(budget_rounds=2, candidates_per_round=1, protected_paths=())
    while not Round.objects.filter(campaign=campaign, status=RoundStatus.DONE).exists():
        drive_once(campaign)
    old = Proposal.objects.get(campaign=campaign)
    assert old.outcome == Outcome.NEEDS_REVIEW  # seeded: the first proposal applies and waits for a person
    from evolab.evals.models import EvalCase
    from evolab.evolution.review import comment_add

    sealed = EvalCase.objects.filter(version=evo.suite_version, split="holdout").values_list("key", flat=True)[0]
    comment_add(
        actor=evo.team.maintainer, proposal=old, text="SEALED-NOTE on a guard case", anchor="case", case_key=sealed
    )
    proposal_request_changes(actor=evo.team.reviewer, proposal=old, summary="Name the exact numbers in the rule.")
    old.refresh_from_db()
    assert old.closed_at is not None and "changes requested" in old.closed_reason
    evo.simulator.state.keep_bodies()
    try:
        campaign = drive(campaign)
        bodies = list(evo.simulator.state.bodies or [])
    finally:
        evo.simulator.state.keep_bodies(False)
    revision = Proposal.objects.get(revision_of=old)
    assert revision.revision == 2 and revision.round is not None and revision.round.number == 2
    assert revision.index >= campaign.candidates_per_round and revision.hypothesis and revision.model_text
    assert revision.stage == ProposalStage.CLASSIFIED
    asked = [body for body in bodies if b"## Review comments" in body]
    assert len(asked) == 1 and b"Name the exact numbers in the rule." in asked[0]
    assert f"proposal #{old.number}".encode() in asked[0]
    assert not any(b"SEALED-NOTE" in body for body in bodies)  # nothing about the guard reaches a model
