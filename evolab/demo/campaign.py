"""The demo's campaign and merge policy: a small budget over which the simulated M2.7
learns the guidance its harness lacks, with auto-merge allowed for clear gains, the
system prompt protected and the workflow sent to review."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from evolab.evals.models import SuiteVersion
from evolab.evolution.actions import CampaignSpec
from evolab.harnesses.models import HarnessVersion
from evolab.projects.models import Backend

DEMO_POLICY: dict[str, Any] = {
    "allow_auto_merge": True,
    "critical_paths": ["workflow.md"],
    "min_effect": 0.02,
}

DEMO_GUIDANCE = (
    "Work on the topics with the most failures first. Keep each proposal to one skill file; "
    "do not touch the system prompt."
)


def demo_campaign_spec(
    *, base: HarnessVersion, suite_version: SuiteVersion, backend: Backend, rounds: int = 6
) -> CampaignSpec:
    return CampaignSpec(
        name="Teach the support agent its missing guidance",
        base_version=base,
        suite_version=suite_version,
        runner_backend=backend,
        proposer_backend=backend,
        candidates_per_round=2,
        samples=2,
        seed=1,
        budget_rounds=rounds,
        budget_usd=Decimal("2"),
        budget_tokens=20_000_000,
        budget_wall_s=3600,
        guidance=DEMO_GUIDANCE,
        protected_paths=("system.md",),
        plateau_rounds=3,
    )
