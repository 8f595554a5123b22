"""Fault plans and latency are deterministic given the seed."""

from __future__ import annotations

import random
from statistics import median

import pytest

from evolab.backends.simulator import FaultConfig, LatencyConfig, SimulatorConfig
from evolab.backends.simulator.faults import RateLimiter
from evolab.backends.simulator.state import SimulatorState


def fault_sequence(seed: int) -> list[str | None]:
    state = SimulatorState(SimulatorConfig(faults=FaultConfig.parse("500=0.2,drop=0.2"), seed=seed))
    bodies = [f'{{"n": {i % 5}}}'.encode() for i in range(40)]
    return [state.next_fault(body)[0] for body in bodies]


def test_faults_repeat_for_a_seed_and_change_with_it() -> None:
    assert fault_sequence(3) == fault_sequence(3)
    assert fault_sequence(3) != fault_sequence(4)
    assert set(fault_sequence(3)) == {None, "500", "drop"}


def test_fault_specs_are_checked() -> None:
    with pytest.raises(ValueError, match="unknown fault"):
        FaultConfig.parse("boom=1")


def test_latency_follows_the_median() -> None:
    config = LatencyConfig.parse("200,600")
    rng = random.Random(0)
    samples = [config.sample_s(rng) for _ in range(2000)]
    assert 0.17 < median(samples) < 0.23
    assert LatencyConfig.parse("0").sample_s(rng) == 0.0


def test_rate_limiter_window() -> None:
    limiter = RateLimiter(2)
    assert limiter.check(0.0) is None and limiter.check(1.0) is None
    assert limiter.check(2.0) == pytest.approx(58.0)
    assert limiter.check(60.5) is None
