"""Runs against the real simulator over HTTP, with real threads and transactions.

Chunks are executed by calling the task function in this process (the reliability
suite runs real worker processes); on_commit enqueues are captured, not sent.
"""

from __future__ import annotations

import json
from dataclasses import dataclass

import pytest

from evolab.backends.simulator.testing import RunningSimulator
from evolab.demo import demo_harness_files, demo_suite_rows
from evolab.evals.actions import suite_create, suite_version_import
from evolab.evals.models import SuiteVersion
from evolab.harnesses.actions import version_create
from evolab.harnesses.models import HarnessVersion
from evolab.projects.models import Backend
from tests.conftest import Team
from tests.factories import BackendFactory


@dataclass
class Lab:
    team: Team
    backend: Backend
    harness: HarnessVersion
    suite_version: SuiteVersion
    simulator: RunningSimulator


def demo_rows(per_topic: int) -> list[dict[str, object]]:
    """A few dev cases of each demo topic."""
    rows = []
    counts: dict[str, int] = {}
    for row in demo_suite_rows():
        topic = row["tags"][0]  # type: ignore[index]
        if counts.get(topic, 0) < per_topic:
            counts[topic] = counts.get(topic, 0) + 1
            rows.append({**row, "split": "dev"})
    return rows


@pytest.fixture
def lab(team: Team, simulator: RunningSimulator) -> Lab:
    simulator.reset()
    backend = BackendFactory(
        project=team.project, base_url=simulator.base_url, max_concurrency=8, price_in_per_m=0.3, price_out_per_m=1.2
    )
    harness = version_create(actor=team.owner, project=team.project, files=demo_harness_files(), message="demo")
    suite = suite_create(actor=team.owner, project=team.project, slug="demo", name="Demo")
    source = "\n".join(json.dumps(row) for row in demo_rows(per_topic=2)).encode()
    version = suite_version_import(actor=team.owner, suite=suite, source=source, fmt="jsonl")
    return Lab(team=team, backend=backend, harness=harness, suite_version=version, simulator=simulator)
