"""Pages: the campaign list, start (estimate, then start), a campaign's page and its
panels, controls, guidance, human proposals, and the policy editor."""

from __future__ import annotations

from typing import Any

import pytest

from evolab.evolution.models import Campaign, CampaignStatus, Guidance, PolicyVersion, Proposal, ProposalStage
from tests.evolution.conftest import AUTO_MERGE_POLICY, Evo, drive
from tests.evolution.helpers import add_rounds
from tests.evolution.test_permissions import FORM, POLICY_FORM


def _url(evo: Evo, path: str = "") -> str:
    return f"/p/{evo.team.project.slug}/campaigns/{path}"


@pytest.mark.django_db
class TestStart:
    def test_the_form_offers_the_project_choices(self, evo: Evo) -> None:
        body = evo.team.client_for("maintainer").get(_url(evo, "new/")).content.decode()
        assert "(head)" in body and 'value="demo@1" selected' in body
        assert "m27-sim" in body and "(simulated)" in body
        assert 'value="reflect" selected' in body and 'value="holdout" selected' in body

    def test_estimate_then_start(self, evo: Evo) -> None:
        client = evo.team.client_for("maintainer")
        shown = client.post(_url(evo, "new/"), {**FORM, "action": "estimate"})
        body = shown.content.decode()
        assert shown.status_code == 200 and "up to $" in body and "proposer call" in body
        assert "upper bound" in body.lower() and not Campaign.objects.exists()
        started = client.post(_url(evo, "new/"), {**FORM, "action": "start"})
        campaign = Campaign.objects.get()
        assert started.status_code == 302 and started["Location"] == _url(evo, f"{campaign.number}/")
        assert campaign.estimate_usd > 0 and campaign.budget_wall_s == 600
        assert campaign.status == CampaignStatus.RUNNING and campaign.created_by == evo.team.maintainer

    def test_the_estimate_panel_follows_the_form(self, evo: Evo) -> None:
        client = evo.team.client_for("maintainer")
        response = client.get(_url(evo, "new/estimate/"), FORM, headers={"HX-Request": "true"})
        assert (
            response.content.decode().lstrip().startswith('<section id="estimate"') and b"up to $" in response.content
        )
        guarded = client.get(_url(evo, "new/estimate/"), {**FORM, "guard_split": ""}).content
        assert b"guard:" in response.content and b"guard:" not in guarded

    def test_a_refusal_shows_on_its_field(self, evo: Evo) -> None:
        client = evo.team.client_for("maintainer")
        response = client.post(_url(evo, "new/"), {**FORM, "proposer_backend": "", "action": "start"})
        assert response.status_code == 422 and b"The reflect proposer needs a proposer backend." in response.content
        bad = client.post(_url(evo, "new/"), {**FORM, "protected_paths": "../etc", "action": "start"})
        assert bad.status_code == 422 and not Campaign.objects.exists()


@pytest.mark.django_db
class TestCampaignPage:
    def test_the_page_shows_every_panel(self, evo: Evo) -> None:
        campaign = evo.start(guidance="favour refunds")
        add_rounds(campaign, 1)
        body = evo.team.client_for("viewer").get(_url(evo, f"{campaign.number}/")).content.decode()
        for text in ("Budget", "Rounds", "Guidance", "Memory", "simulated", "favour refunds", "Round 1"):
            assert text in body, text
        assert "+8.0 pts [+5.0, +11.0]" in body and "▲" in body and "W 4 · L 1 · T 7" in body
        assert "needs review" in body and "The policy sends every merge to a person." in body
        assert "try &lt;b&gt;" in body and "<script>answer" not in body  # model text stays inert
        assert "Pause" not in body and "Propose a change" not in body  # a viewer has no controls

    def test_a_maintainer_sees_controls_by_status(self, evo: Evo) -> None:
        campaign = evo.start()
        client = evo.team.client_for("maintainer")
        body = client.get(_url(evo, f"{campaign.number}/")).content.decode()
        assert "<button>Pause</button>" in body and "<button disabled>Resume</button>" in body
        assert "Propose a change yourself" in body and 'id="id_text"' in body

    def test_fragments(self, evo: Evo) -> None:
        campaign = evo.start()
        add_rounds(campaign, 1)
        client = evo.team.client_for("viewer")
        for panel in ("header", "budget", "timeline", "guidance", "memory"):
            response = client.get(_url(evo, f"{campaign.number}/"), {"panel": panel}, headers={"HX-Request": "true"})
            body = response.content.decode()
            assert response.status_code == 200 and body.lstrip().startswith(f'<section id="{panel}"'), panel
            assert "<html" not in body
        # The human panel is for maintainers only: a viewer's fragment is empty.
        human = client.get(_url(evo, f"{campaign.number}/"), {"panel": "human"}, headers={"HX-Request": "true"})
        assert b"textarea" not in human.content
        chosen = evo.team.client_for("maintainer").get(
            _url(evo, f"{campaign.number}/"), {"panel": "human", "path": "workflow.md"}, headers={"HX-Request": "true"}
        )
        assert b'value="workflow.md" selected' in chosen.content

    def test_controls_change_the_status(self, evo: Evo) -> None:
        campaign = evo.start()
        client = evo.team.client_for("maintainer")
        page = _url(evo, f"{campaign.number}/")
        assert client.post(page + "pause/")["Location"] == page
        campaign.refresh_from_db()
        assert campaign.status == CampaignStatus.PAUSED and "paused by maintainer" in campaign.status_reason
        client.post(page + "resume/")
        campaign.refresh_from_db()
        assert campaign.status == CampaignStatus.RUNNING
        client.post(page + "stop/")
        campaign.refresh_from_db()
        assert campaign.status == CampaignStatus.STOPPED
        refused = client.post(page + "resume/", follow=True)
        assert b"A stopped campaign cannot be resumed." in refused.content

    def test_guidance_edit_makes_a_new_version(self, evo: Evo) -> None:
        campaign = evo.start(guidance="first")
        client = evo.team.client_for("maintainer")
        url = _url(evo, f"{campaign.number}/guidance/")
        assert client.post(url, {"text": "second"}).status_code == 302
        versions = list(Guidance.objects.filter(campaign=campaign).values_list("number", "text", "author__username"))
        assert versions == [(2, "second", "maintainer"), (1, "first", "maintainer")]
        unchanged = client.post(url, {"text": "second"})
        assert unchanged.status_code == 422 and b"The guidance is unchanged." in unchanged.content

    def test_a_human_proposal_is_queued(self, evo: Evo) -> None:
        campaign = evo.start()
        client = evo.team.client_for("maintainer")
        url = _url(evo, f"{campaign.number}/proposals/new/")
        text = evo.harness.files["workflow.md"] + "\nCheck the refund window first.\n"
        response = client.post(url, {"path": "workflow.md", "text": text, "hypothesis": "refunds fail on dates"})
        assert response.status_code == 302
        proposal = Proposal.objects.get()
        assert proposal.kind == "human" and proposal.stage == ProposalStage.QUEUED and proposal.round is None
        assert [edit["path"] for edit in proposal.edits] == ["workflow.md"]
        body = client.get(_url(evo, f"{campaign.number}/")).content.decode()
        assert "Queued for the next round" in body and "refunds fail on dates" in body
        same = client.post(url, {"path": "workflow.md", "text": evo.harness.files["workflow.md"], "hypothesis": "x"})
        assert same.status_code == 422 and b"Nothing changed." in same.content


@pytest.mark.django_db
class TestPolicy:
    def test_a_viewer_reads_the_default(self, evo: Evo) -> None:
        body = evo.team.client_for("viewer").get(f"/p/{evo.team.project.slug}/policy/").content.decode()
        assert "every merge goes to a person" in body and "<form" not in body.split("<main")[-1].split("History")[0]

    def test_an_owner_saves_a_new_version(self, evo: Evo) -> None:
        client = evo.team.client_for("owner")
        url = f"/p/{evo.team.project.slug}/policy/"
        data = {**POLICY_FORM, "allow_auto_merge": "on", "critical_paths": "workflow.md\nskills/*.md"}
        assert client.post(url, data).status_code == 302
        version = PolicyVersion.objects.get()
        assert version.number == 1 and version.author == evo.team.owner
        assert version.rules["allow_auto_merge"] is True
        assert version.rules["critical_paths"] == ["workflow.md", "skills/*.md"]
        assert version.rules["safe_ranges"] == {"sampling.temperature": [0.1, 1.0]}
        body = client.get(url).content.decode()
        assert "v1" in body and "skills/*.md" in body

    @pytest.mark.parametrize(
        ("changes", "message"),
        [
            ({"safe_ranges": "sampling.temperature 0.1-1"}, "Write “key: low..high”"),
            ({"safe_ranges": "nonsense.key: 1..2"}, "is not a known parameter"),
            ({"safe_ranges": "sampling.temperature: 2..1"}, "is above high"),
            ({"critical_paths": "../x"}, "critical_paths"),
        ],
    )
    def test_an_invalid_rule_is_shown_on_its_field(self, evo: Evo, changes: dict[str, Any], message: str) -> None:
        response = evo.team.client_for("owner").post(f"/p/{evo.team.project.slug}/policy/", {**POLICY_FORM, **changes})
        assert response.status_code == 422 and message in response.content.decode()
        assert not PolicyVersion.objects.exists()


@pytest.mark.django_db
def test_the_list_shows_spend_and_status(evo: Evo) -> None:
    campaign = evo.start()
    add_rounds(campaign, 2)
    body = evo.team.client_for("viewer").get(_url(evo)).content.decode()
    assert f"#{campaign.number} {campaign.name}" in body and "2 / 2" in body and "running" in body
    assert "Start a campaign" not in body
    assert "Start a campaign" in evo.team.client_for("maintainer").get(_url(evo)).content.decode()


@pytest.mark.django_db
@pytest.mark.parametrize("rounds", [1, 6])
def test_queries_stay_constant(evo: Evo, rounds: int, django_assert_num_queries: Any) -> None:
    campaign = evo.start()
    evo.start(name="second")
    add_rounds(campaign, rounds, per_round=3)
    client = evo.team.client_for("maintainer")
    # full pages include the two nav counts
    with django_assert_num_queries(9):
        assert client.get(_url(evo)).status_code == 200
    # 15: one of them reads the leakage checks of every guidance version at once
    with django_assert_num_queries(15):
        assert client.get(_url(evo, f"{campaign.number}/")).status_code == 200
    with django_assert_num_queries(6):
        response = client.get(_url(evo, f"{campaign.number}/"), {"panel": "timeline"}, headers={"HX-Request": "true"})
        assert response.status_code == 200


@pytest.mark.django_db(transaction=True)
def test_a_driven_campaign_renders_its_timeline(evo: Evo) -> None:
    from evolab.evolution import actions

    actions.policy_set(actor=evo.team.owner, project=evo.team.project, rules=AUTO_MERGE_POLICY)
    campaign = drive(evo.start(budget_rounds=1))
    body = evo.team.client_for("viewer").get(_url(evo, f"{campaign.number}/")).content.decode()
    assert "finished" in body and "All 1 rounds done." in body and "Round 1" in body
    assert "dev <strong" in body and "run " in body
    for proposal in Proposal.objects.filter(campaign=campaign):
        assert f"#{proposal.number}" in body and proposal.get_outcome_display() in body


def test_the_guard_numbers_are_for_maintainers_only(evo: Evo) -> None:
    campaign = evo.start()
    add_rounds(campaign, 1)
    Proposal.objects.filter(campaign=campaign).update(
        reasons=[{"code": "holdout_diverged", "text": "held-out guard did not (holdout delta -0.040)"}]
    )
    url = _url(evo, f"{campaign.number}/?panel=timeline")
    for persona in ("viewer", "reviewer"):
        body = evo.team.client_for(persona).get(url, HTTP_HX_REQUEST="true").content.decode()
        assert "+4.0 pts" not in body and "-0.040" not in body, persona
        assert "held</td>" in body
    body = evo.team.client_for("maintainer").get(url, HTTP_HX_REQUEST="true").content.decode()
    assert "+4.0 pts" in body and "-0.040" in body
