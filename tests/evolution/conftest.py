"""Campaigns against the real simulator over HTTP, steps and chunks run in this process.

`drive` does what the workers do: it runs every pending chunk, then the campaign's next
step, until the campaign stops running. The reliability suite runs real workers.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, replace
from decimal import Decimal
from typing import Any

import pytest

from evolab.backends.simulator.testing import RunningSimulator
from evolab.demo import demo_harness_files, demo_suite_rows
from evolab.evals.actions import suite_create, suite_version_import
from evolab.evals.models import SuiteVersion
from evolab.evolution import actions, loop
from evolab.evolution.models import Campaign, CampaignStatus
from evolab.harnesses.actions import version_create
from evolab.harnesses.models import HarnessVersion
from evolab.projects.models import Backend, BackendFamily
from evolab.runs.models import ACTIVE_RUN_STATUSES, ChunkStatus, RunChunk
from evolab.runs.tasks import run_chunk
from tests.conftest import Team
from tests.factories import BackendFactory

AUTO_MERGE_POLICY: dict[str, Any] = {"allow_auto_merge": True, "critical_paths": ["workflow.md"]}


@dataclass
class Evo:
    team: Team
    backend: Backend
    harness: HarnessVersion
    suite_version: SuiteVersion
    simulator: RunningSimulator

    def spec(self, **changes: Any) -> actions.CampaignSpec:
        base = actions.CampaignSpec(
            name="Support agent, round robin",
            base_version=self.harness,
            suite_version=self.suite_version,
            runner_backend=self.backend,
            proposer_backend=self.backend,
            candidates_per_round=2,
            samples=2,
            seed=7,
            budget_rounds=2,
            budget_usd=Decimal("5"),
            budget_tokens=50_000_000,
            budget_wall_s=3600,
            protected_paths=("system.md",),
        )
        return replace(base, **changes)

    def start(self, **changes: Any) -> Campaign:
        return actions.campaign_create(actor=self.team.maintainer, project=self.team.project, spec=self.spec(**changes))


def suite_rows(per_split: dict[str, int]) -> list[dict[str, Any]]:
    """The first few demo cases of each topic in each split."""
    counts: dict[tuple[str, str], int] = {}
    rows = []
    for row in demo_suite_rows():
        slot = (row["tags"][0], row["split"])
        if counts.get(slot, 0) < per_split.get(row["split"], 0):
            counts[slot] = counts.get(slot, 0) + 1
            rows.append(row)
    return rows


def drive(campaign: Campaign, *, max_steps: int = 2000) -> Campaign:
    """Run chunks and steps until the campaign is no longer running."""
    for _ in range(max_steps):
        campaign.refresh_from_db()
        if campaign.status != CampaignStatus.RUNNING:
            return campaign
        chunks = RunChunk.objects.filter(status=ChunkStatus.PENDING, run__status__in=ACTIVE_RUN_STATUSES)
        for chunk_id in chunks.values_list("pk", flat=True):
            run_chunk(chunk_id)
        loop.campaign_step(campaign.pk)
    raise AssertionError(f"campaign still running after {max_steps} steps: {campaign.status_reason}")


@pytest.fixture
def evo(team: Team, simulator: RunningSimulator) -> Evo:
    return build_evo(team, simulator)


def build_evo(team: Team, simulator: RunningSimulator) -> Evo:
    simulator.reset()
    backend = BackendFactory(
        project=team.project,
        name="m27-sim",
        family=BackendFamily.MINIMAX,
        base_url=simulator.base_url,
        max_concurrency=16,
        price_in_per_m=0.3,
        price_out_per_m=1.2,
    )
    harness = version_create(actor=team.owner, project=team.project, files=demo_harness_files(), message="demo")
    suite = suite_create(actor=team.owner, project=team.project, slug="demo", name="Demo")
    rows = suite_rows({"train": 4, "dev": 12, "holdout": 4})
    source = "\n".join(json.dumps(row) for row in rows).encode()
    version = suite_version_import(actor=team.owner, suite=suite, source=source, fmt="jsonl")
    return Evo(team=team, backend=backend, harness=harness, suite_version=version, simulator=simulator)
