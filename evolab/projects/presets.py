"""Ready-made backend configurations offered when a backend is added."""

from __future__ import annotations

import os
from dataclasses import dataclass
from decimal import Decimal

from evolab.projects.actions import BackendFields
from evolab.projects.models import BackendFamily, BackendKind

SIMULATOR_URL = os.environ.get("EVOLAB_SIMULATOR_URL", "http://127.0.0.1:8765/v1")


@dataclass(frozen=True)
class BackendPreset:
    key: str
    label: str
    fields: BackendFields


M27_SAMPLING = {"temperature": 1.0, "top_p": 0.95, "top_k": 40}

PRESETS: dict[str, BackendPreset] = {
    preset.key: preset
    for preset in (
        BackendPreset(
            key="minimax-m2.7",
            label="MiniMax M2.7 (hosted API)",
            fields=BackendFields(
                name="minimax-m2.7",
                kind=BackendKind.OPENAI_COMPAT,
                family=BackendFamily.MINIMAX,
                base_url="https://api.minimax.io/v1",
                model="MiniMax-M2.7",
                api_key_env="MINIMAX_API_KEY",
                price_in_per_m=Decimal("0.30"),
                price_out_per_m=Decimal("1.20"),
                max_concurrency=8,
                default_params=M27_SAMPLING,
            ),
        ),
        BackendPreset(
            key="simulator",
            label="Simulator: M2.7 profile (simulated, local)",
            fields=BackendFields(
                name="m2.7-simulated",
                kind=BackendKind.SIMULATOR,
                family=BackendFamily.MINIMAX,
                base_url=SIMULATOR_URL,
                model="MiniMax-M2.7-sim",
                api_key_env="",
                price_in_per_m=Decimal("0.30"),
                price_out_per_m=Decimal("1.20"),
                max_concurrency=16,
                default_params=M27_SAMPLING,
            ),
        ),
    )
}
