"""A campaign whose suite has long, distinctive dev and holdout cases to quote from."""

from __future__ import annotations

import json
from dataclasses import dataclass
from decimal import Decimal

import pytest

from evolab.demo import demo_harness_files
from evolab.evals.actions import suite_create, suite_version_import
from evolab.evolution import actions
from evolab.evolution.models import Campaign
from evolab.harnesses.actions import version_create
from tests.conftest import Team
from tests.factories import BackendFactory

HOLDOUT_TEXT = (
    "A customer bought the premium blender on March third and it stopped working after two weeks; "
    "they ask whether the extended warranty covers the motor or only the glass jar."
)
DEV_TEXT = "Explain in one paragraph why the shipping label printer rejects addresses with a trailing apartment number."
TRAIN_TEXT = "Summarise the returns policy for opened electronics bought during the holiday sale in three short bullet points."


def words(text: str, start: int, count: int) -> str:
    return " ".join(text.split()[start : start + count])


@dataclass
class Leaky:
    team: Team
    campaign: Campaign


@pytest.fixture
def leaky(team: Team) -> Leaky:
    backend = BackendFactory(project=team.project, name="m27-sim")
    harness = version_create(actor=team.owner, project=team.project, files=demo_harness_files(), message="demo")
    suite = suite_create(
        actor=team.owner, project=team.project, slug="support", name="Support", default_grader={"type": "contains"}
    )
    rows = [
        {"key": "hold-blender", "input": HOLDOUT_TEXT, "target": "It covers the motor.", "split": "holdout"},
        {"key": "dev-printer", "input": DEV_TEXT, "target": "Trailing unit numbers fail validation.", "split": "dev"},
        {"key": "train-returns", "input": TRAIN_TEXT, "target": "Fourteen days, unopened.", "split": "train"},
    ]
    source = "\n".join(json.dumps(row) for row in rows).encode()
    version = suite_version_import(actor=team.owner, suite=suite, source=source, fmt="jsonl")
    campaign = actions.campaign_create(
        actor=team.maintainer,
        project=team.project,
        spec=actions.CampaignSpec(
            name="leaky",
            base_version=harness,
            suite_version=version,
            runner_backend=backend,
            proposer_backend=backend,
            budget_usd=Decimal("1"),
        ),
    )
    return Leaky(team, campaign)
