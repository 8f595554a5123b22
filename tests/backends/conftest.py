"""Simulator fixtures: one server per profile for the session, reset before every test."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from evolab.backends.retry import RetryPolicy
from evolab.backends.simulator import FaultConfig, LatencyConfig
from evolab.backends.simulator.testing import RunningSimulator, running_simulator

# Backoff without server hints stays in the milliseconds so retry tests are fast.
FAST_RETRIES = RetryPolicy(base_delay_s=0.01, max_delay_s=0.05)


@pytest.fixture(scope="session")
def _m27_server() -> Iterator[RunningSimulator]:
    with running_simulator(profile="minimax-m2.7") as sim:
        yield sim


@pytest.fixture(scope="session")
def _generic_server() -> Iterator[RunningSimulator]:
    with running_simulator(profile="generic") as sim:
        yield sim


def _fresh(sim: RunningSimulator) -> RunningSimulator:
    sim.configure(faults=FaultConfig(), rpm=None, latency=LatencyConfig(), seed=0)
    sim.reset()
    return sim


@pytest.fixture
def sim(_m27_server: RunningSimulator) -> RunningSimulator:
    """The MiniMax M2.7 profile, no faults, counters at zero."""
    return _fresh(_m27_server)


@pytest.fixture
def generic_sim(_generic_server: RunningSimulator) -> RunningSimulator:
    return _fresh(_generic_server)
