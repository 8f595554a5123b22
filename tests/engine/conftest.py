"""Fixtures for the engine tests: plain Python, no Django."""

from __future__ import annotations

import os

import pytest

from evolab.engine.sandbox import bwrap_available

IN_CI = os.environ.get("CI", "").lower() == "true"


@pytest.fixture(params=[0, 1], ids=["tier0", "tier1"])
def sandbox_tier(request: pytest.FixtureRequest) -> int:
    """Each sandbox test runs on both tiers; tier 1 is skipped without bubblewrap, except in CI."""
    tier = int(request.param)
    if tier == 1 and not bwrap_available():
        reason = "tier 1 needs bubblewrap: apt-get install -y bubblewrap"
        if IN_CI:
            pytest.fail(f"{reason} (CI=true: the sandbox tier must be tested)")
        pytest.skip(reason)
    return tier
