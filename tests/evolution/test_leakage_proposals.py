"""The leakage check wired into the loop, the policy and guidance: a planted 12-word
quote of a case is found and sends a proposal to review; 11 words and unrelated text
are not flagged; train cases are not checked."""

from __future__ import annotations

from typing import Any

import pytest
from django.test import Client

from evolab.engine.edits import FileEdit, ProposalDraft
from evolab.evolution import actions, loop
from evolab.evolution.models import Outcome, Proposal, ProposerKind
from evolab.evolution.policy import PolicyRules, ProposalFacts, classify
from evolab.leakage.actions import case_index
from evolab.leakage.models import LeakageCheck, Subject
from tests.evolution.leakage_fixture import DEV_TEXT, HOLDOUT_TEXT, TRAIN_TEXT, Leaky, leaky, words

__all__ = ["leaky"]  # the fixture, imported for pytest


def _propose(leaky: Leaky, text: str, hypothesis: str = "be more specific about warranties") -> Proposal:
    campaign = leaky.campaign
    proposal = Proposal(
        project_id=campaign.project_id,
        number=Proposal.objects.filter(project_id=campaign.project_id).count() + 1,
        campaign=campaign,
        kind=ProposerKind.HUMAN,
        base_version=campaign.parent_version,
    )
    draft = ProposalDraft(hypothesis=hypothesis, edits=(FileEdit(path="skills/warranty.md", search="", replace=text),))
    loop._materialise(campaign, campaign.parent_version, proposal, draft, check_protected=True)
    proposal.refresh_from_db()
    return proposal


def test_a_planted_12_word_quote_in_a_proposal_is_found(leaky: Leaky) -> None:
    proposal = _propose(leaky, f"# Warranty\nWhen asked, remember: {words(HOLDOUT_TEXT, 4, 12)}.\n")
    assert proposal.stats["leakage"] == {"holdout": 1, "dev": 0, "longest": 12}
    check = LeakageCheck.objects.get(subject_type=Subject.PROPOSAL, subject_id=proposal.pk)
    assert check.matches[0]["case_key"] == "hold-blender" and check.matches[0]["split"] == "holdout"
    facts = loop._facts(leaky.campaign, proposal)
    assert (facts.leaked_holdout_cases, facts.leaked_words) == (1, 12)


def test_the_rationale_is_checked_too(leaky: Leaky) -> None:
    proposal = _propose(leaky, "Check the label printer settings.\n", hypothesis=f"Because: {words(DEV_TEXT, 0, 13)}")
    assert proposal.stats["leakage"] == {"holdout": 0, "dev": 1, "longest": 13}


@pytest.mark.parametrize(
    "text",
    [
        f"Remember: {words(HOLDOUT_TEXT, 4, 11)}.\n",  # one word short
        "Always restate the customer's question and cite the policy section you used.\n",
        f"Train cases may be quoted: {TRAIN_TEXT}\n",  # the loop reads train failures by design
    ],
)
def test_short_unrelated_and_train_text_is_not_flagged(leaky: Leaky, text: str) -> None:
    proposal = _propose(leaky, text)
    assert proposal.stats["leakage"] == {"holdout": 0, "dev": 0, "longest": 0}


def test_a_leaking_proposal_needs_review_even_when_it_would_auto_merge() -> None:
    rules = PolicyRules(allow_auto_merge=True, min_effect=0.0)
    clean = ProposalFacts(delta=0.2, low=0.1, high=0.3)
    assert classify(clean, rules).outcome == Outcome.AUTO_MERGE
    leaking = ProposalFacts(delta=0.2, low=0.1, high=0.3, leaked_holdout_cases=2, leaked_words=15)
    result = classify(leaking, rules)
    assert result.outcome == Outcome.NEEDS_REVIEW
    [reason] = result.reasons
    assert reason.code == "leakage" and "2 holdout" in reason.text and "15 words" in reason.text


def _proposal_page(leaky: Leaky, proposal: Proposal, persona: str) -> str:
    client: Client = leaky.team.client_for(persona)
    response = client.get(f"/p/{leaky.team.project.slug}/proposals/{proposal.number}/")
    assert response.status_code == 200
    return response.content.decode()


def test_the_proposal_page_warns_and_hides_holdout_text_below_maintainer(leaky: Leaky) -> None:
    planted = words(HOLDOUT_TEXT, 4, 12)
    proposal = _propose(leaky, f"Remember: {planted}. Also {words(DEV_TEXT, 2, 12)}\n")
    excerpt = " ".join(planted.lower().replace(";", "").split())
    maintainer = _proposal_page(leaky, proposal, "maintainer")
    assert "Quotes eval cases" in maintainer and "hold-blender" in maintainer and excerpt in maintainer
    viewer = _proposal_page(leaky, proposal, "viewer")
    assert "Quotes eval cases" in viewer and "1 holdout case" in viewer
    assert "hold-blender" not in viewer.split("Quotes eval cases")[1].split("</section>")[0]
    assert excerpt not in viewer.split("Quotes eval cases")[1].split("</section>")[0]
    assert "dev-printer" in viewer  # dev cases are visible to every member


def test_guidance_that_quotes_a_case_is_flagged_when_saved(leaky: Leaky) -> None:
    campaign = leaky.campaign
    url = f"/p/{leaky.team.project.slug}/campaigns/{campaign.number}/"
    client = leaky.team.client_for("maintainer")
    response = client.post(url + "guidance/", {"text": f"Focus on warranties: {words(HOLDOUT_TEXT, 0, 14)}"}, follow=True)
    assert response.status_code == 200
    html = response.content.decode()
    assert "quotes 1 holdout and 0 dev case(s)" in html and "Quotes eval cases" in html
    guidance = campaign.guidance_versions.order_by("-number").first()
    assert guidance is not None
    check = LeakageCheck.objects.get(subject_type=Subject.GUIDANCE, subject_id=guidance.pk)
    assert (check.holdout_cases, check.longest) == (1, 14)
    viewer = leaky.team.client_for("viewer").get(url).content.decode()
    assert "1 holdout case" in viewer and "hold-blender" not in viewer


def test_clean_guidance_is_not_flagged(leaky: Leaky) -> None:
    guidance = actions.guidance_set(
        actor=leaky.team.maintainer, campaign=leaky.campaign, text=f"Be brief. {words(HOLDOUT_TEXT, 0, 11)}"
    )
    check = LeakageCheck.objects.get(subject_type=Subject.GUIDANCE, subject_id=guidance.pk)
    assert not check.flagged


def test_the_case_index_is_built_once_per_suite_version(leaky: Leaky, django_assert_num_queries: Any) -> None:
    suite_version = leaky.campaign.suite_version
    first = case_index(suite_version)
    with django_assert_num_queries(0):
        assert case_index(suite_version) is first
