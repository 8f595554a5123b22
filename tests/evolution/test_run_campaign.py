"""`manage.py run_campaign`: the estimate, --inline against the simulator, the summary
and the exit code."""

from __future__ import annotations

from io import StringIO

import pytest
from django.core.management import CommandError, call_command

from evolab.evolution.models import Campaign, CampaignStatus
from tests.evolution.conftest import Evo


def _run(evo: Evo, *args: str) -> str:
    out = StringIO()
    call_command("run_campaign", evo.team.project.slug, "--suite", "demo", *args, stdout=out, stderr=StringIO())
    return out.getvalue()


@pytest.mark.django_db(transaction=True)
def test_inline_runs_a_one_round_campaign_to_its_summary(evo: Evo) -> None:
    output = _run(evo, "--rounds", "1", "--candidates", "1", "--samples", "1", "--seed", "3", "--inline")
    campaign = Campaign.objects.get()
    assert campaign.status == CampaignStatus.FINISHED, campaign.status_reason
    assert 'runner "m27-sim" [simulated]' in output and "estimate: up to $" in output
    assert "round 1 · #" in output and " · Δ " in output
    assert "Campaign 1 finished: All 1 rounds done." in output
    assert f"dev score: base v{evo.harness.number} " in output and output.rstrip().endswith("OK")


@pytest.mark.django_db
def test_without_wait_it_only_starts(evo: Evo) -> None:
    output = _run(evo, "--rounds", "2", "--proposer", "sweep", "--protect", "system.md")
    campaign = Campaign.objects.get()
    assert campaign.status == CampaignStatus.RUNNING and campaign.proposer_backend is None
    assert campaign.protected_paths == ["system.md"] and "Campaign 1" in output


@pytest.mark.django_db
def test_a_refusal_is_a_command_error(evo: Evo) -> None:
    with pytest.raises(CommandError, match="candidates_per_round"):
        _run(evo, "--candidates", "99")
    with pytest.raises(CommandError, match="No project"):
        call_command("run_campaign", "nope", "--suite", "demo", stdout=StringIO())


@pytest.mark.django_db(transaction=True)
def test_a_campaign_that_ends_paused_exits_1(evo: Evo) -> None:
    with pytest.raises(CommandError, match="FAILED: the campaign ended"):
        # Every candidate touches a protected path, so nothing merges: a 1-round plateau.
        _run(
            evo,
            "--rounds",
            "3",
            "--candidates",
            "1",
            "--samples",
            "1",
            "--plateau-rounds",
            "1",
            "--protect",
            "*",
            "--inline",
        )
    assert Campaign.objects.get().status == CampaignStatus.PAUSED
