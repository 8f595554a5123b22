from __future__ import annotations

from typing import Any

import pytest

from evolab.evals.models import EvalSuite
from tests.conftest import Team
from tests.evals.factories import EvalSuiteFactory, make_version

HOLDOUT_INPUT = "SECRET-HOLDOUT-INPUT what is the refund window?"
HOLDOUT_TARGET = "SECRET-HOLDOUT-TARGET 30 days"


@pytest.fixture
def suite(team: Team) -> EvalSuite:
    """`support` v1: two train cases, a dev case, and a holdout case with recognisable text."""
    suite = EvalSuiteFactory(project=team.project, slug="support", name="Support")
    make_version(
        suite,
        [
            {"key": "refund-001", "input": "Can I get a refund?", "target": "yes", "tags": ["policy"]},
            {"key": "HumanEval/0", "input": "def add(a, b):", "target": "", "tags": ["code"], "split": "train"},
            {
                "key": "date-002",
                "input": [{"role": "user", "content": "What day is it?"}],
                "split": "dev",
                "tags": ["tools"],
            },
            {
                "key": "hold-1",
                "input": HOLDOUT_INPUT,
                "target": HOLDOUT_TARGET,
                "split": "holdout",
                "tags": ["policy"],
                "metadata": {"canonical_solution": "SECRET-HOLDOUT-META"},
            },
        ],
    )
    return suite


@pytest.fixture
def context(team: Team, suite: EvalSuite) -> dict[str, Any]:
    return {"slug": team.project.slug, "suite_slug": suite.slug, "number": 1, "key": "refund-001"}
