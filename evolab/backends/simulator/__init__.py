"""A simulated OpenAI-compatible model backend with a hidden, deterministic skill model.

Clearly labelled everywhere: model ids end in `-sim`, completions carry
`system_fingerprint: "evolab-simulator"`, every response has `x-evolab-simulated: true`.
"""

from __future__ import annotations

from evolab.backends.simulator.faults import FaultConfig, LatencyConfig
from evolab.backends.simulator.server import main, serve
from evolab.backends.simulator.state import SimulatorConfig

__all__ = ["FaultConfig", "LatencyConfig", "SimulatorConfig", "main", "serve"]
