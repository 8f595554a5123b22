"""The campaigns API: create (with its estimate), list, detail, controls, guidance,
proposals and the policy, in the project's one error format."""

from __future__ import annotations

import json
from typing import Any

import pytest
from django.test import Client

from evolab.evolution.models import Campaign, CampaignStatus
from tests.evolution.conftest import Evo
from tests.evolution.helpers import add_rounds
from tests.evolution.test_permissions import START

pytestmark = pytest.mark.django_db


def _api(evo: Evo, path: str = "") -> str:
    return f"/api/v1/projects/{evo.team.project.slug}/{path}"


def _post(client: Client, url: str, data: dict[str, Any] | None = None) -> Any:
    return client.post(url, data=json.dumps(data or {}), content_type="application/json")


def test_create_returns_201_with_the_estimate(evo: Evo) -> None:
    client = evo.team.client_for("maintainer")
    response = _post(client, _api(evo, "campaigns"), {**START, "protected_paths": ["system.md"], "guidance": "go"})
    assert response.status_code == 201, response.content
    body = response.json()
    assert body["number"] == 1 and body["status"] == "running" and body["runner_simulated"] is True
    assert body["protected_paths"] == ["system.md"] and body["budget_wall_s"] == 3600
    assert body["estimate"]["usd"] > 0 and body["estimate"]["rounds"] == 1
    assert any("proposer" in line["label"] for line in body["estimate"]["lines"])
    assert body["spend"] == {"usd": 0.0, "tokens": 0, "wall_s": body["spend"]["wall_s"], "rounds_done": 0}
    assert float(Campaign.objects.get().estimate_usd) == pytest.approx(body["estimate"]["usd"])


def test_estimate_starts_nothing(evo: Evo) -> None:
    response = _post(evo.team.client_for("maintainer"), _api(evo, "campaigns/estimate"), START)
    assert response.status_code == 200 and response.json()["usd"] > 0
    assert not Campaign.objects.exists()


@pytest.mark.parametrize(
    ("changes", "status", "field"),
    [
        ({"proposer_backend": None}, 422, "proposer_backend"),
        ({"runner_backend": "nope"}, 422, "backend"),
        ({"feedback_split": "holdout"}, 422, "feedback_split"),
        ({"candidates_per_round": 99}, 422, "candidates_per_round"),
        ({"suite": "missing"}, 422, "suite"),
    ],
)
def test_create_refusals_name_the_field(evo: Evo, changes: dict[str, Any], status: int, field: str) -> None:
    response = _post(evo.team.client_for("maintainer"), _api(evo, "campaigns"), {**START, **changes})
    assert response.status_code == status, response.content
    body = response.json()
    assert body["code"] == "invalid" and body["field"] == field and body["message"]
    assert not Campaign.objects.exists()


def test_list_and_detail_carry_spend_and_rounds(evo: Evo) -> None:
    campaign = evo.start()
    add_rounds(campaign, 2)
    client = evo.team.client_for("viewer")
    listed = client.get(_api(evo, "campaigns")).json()
    assert listed["count"] == 1 and listed["items"][0]["spend"]["rounds_done"] == 2
    detail = client.get(_api(evo, f"campaigns/{campaign.number}")).json()
    assert detail["name"] == campaign.name and detail["base"] == evo.harness.number
    assert detail["proposer_backend"] == "m27-sim" and detail["created_by"] == "maintainer"
    assert client.get(_api(evo, "campaigns/99")).json()["code"] == "not_found"


def test_controls(evo: Evo) -> None:
    campaign = evo.start()
    client = evo.team.client_for("maintainer")
    base = _api(evo, f"campaigns/{campaign.number}")
    assert _post(client, base + "/pause").json()["status"] == CampaignStatus.PAUSED
    refused = _post(client, base + "/pause")
    assert refused.status_code == 409 and refused.json() == {
        "code": "conflict",
        "message": "A paused campaign cannot be paused.",
        "field": "status",
    }
    assert _post(client, base + "/resume").json()["status"] == CampaignStatus.RUNNING
    assert _post(client, base + "/stop").json()["status"] == CampaignStatus.STOPPED
    assert _post(client, base + "/resume").status_code == 409


def test_guidance_versions(evo: Evo) -> None:
    campaign = evo.start(guidance="first")
    client = evo.team.client_for("maintainer")
    url = _api(evo, f"campaigns/{campaign.number}/guidance")
    created = _post(client, url, {"text": "second"})
    assert created.status_code == 201 and created.json()["number"] == 2 and created.json()["author"] == "maintainer"
    assert [g["text"] for g in client.get(url).json()] == ["second", "first"]
    assert _post(client, url, {"text": "second"}).status_code == 409
    assert _post(client, url, {"text": "x" * 9000}).json()["field"] == "guidance"


def test_proposals_with_outcome_reasons_and_stats(evo: Evo) -> None:
    campaign = evo.start()
    add_rounds(campaign, 1)
    body = evo.team.client_for("viewer").get(_api(evo, f"campaigns/{campaign.number}/proposals")).json()
    first, second = body["items"]
    assert first["round"] == 1 and first["outcome"] == "needs_review" and first["reasons"][0]["code"]
    assert first["stats"]["comparison"]["delta"] == pytest.approx(0.08) and first["merged"] is False
    assert second["outcome"] == "auto_reject" and second["apply_error"]


def test_the_guard_numbers_stay_out_of_the_api_below_maintainer(evo: Evo) -> None:
    from evolab.evolution.models import Proposal

    campaign = evo.start()
    add_rounds(campaign, 1)
    Proposal.objects.filter(campaign=campaign).update(
        outcome="needs_review",
        reasons=[{"code": "holdout_diverged", "text": "held-out guard did not (holdout delta -0.040)"}],
    )
    urls = [_api(evo, f"campaigns/{campaign.number}/proposals"), _api(evo, "inbox")]
    for persona in ("viewer", "reviewer"):
        for url in urls:
            text = evo.team.client_for(persona).get(url).content.decode()
            assert "-0.040" not in text and '"guard"' not in text, (persona, url)
    for url in urls:
        assert "-0.040" in evo.team.client_for("maintainer").get(url).content.decode()
    proposals = evo.team.client_for("maintainer").get(urls[0]).json()["items"]
    assert proposals[0]["stats"]["guard"]["delta"] == pytest.approx(0.04)


def test_policy_get_and_put(evo: Evo) -> None:
    url = _api(evo, "policy")
    assert evo.team.client_for("viewer").get(url).json()["number"] == 0
    owner = evo.team.client_for("owner")
    rules = {"allow_auto_merge": True, "critical_paths": ["workflow.md"]}
    saved = owner.put(url, data=json.dumps({"rules": rules}), content_type="application/json")
    assert saved.status_code == 200 and saved.json()["number"] == 1
    assert saved.json()["rules"]["critical_paths"] == ["workflow.md"]
    bad = owner.put(url, data=json.dumps({"rules": {"max_diff_lines": 0}}), content_type="application/json")
    assert bad.status_code == 422 and bad.json()["field"] == "rules" and "max_diff_lines" in bad.json()["message"]
    forbidden = evo.team.client_for("maintainer").put(
        url, data=json.dumps({"rules": {}}), content_type="application/json"
    )
    assert forbidden.status_code == 403 and forbidden.json()["code"] == "forbidden"
