"""Fixtures for the engine tests (the engine itself imports no Django)."""

from __future__ import annotations

import pytest

from evolab.engine.sandbox import bwrap_available
from tests.conftest import require_service


@pytest.fixture(params=[0, 1], ids=["tier0", "tier1"])
def sandbox_tier(request: pytest.FixtureRequest) -> int:
    """Each sandbox test runs on both tiers; tier 1 is skipped without bubblewrap, except in CI."""
    tier = int(request.param)
    if tier == 1:
        require_service(bwrap_available(), "tier 1 needs bubblewrap: apt-get install -y bubblewrap")
    return tier
