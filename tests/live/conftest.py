from __future__ import annotations

from typing import Any

import pytest


@pytest.fixture(autouse=True)
def _fast_live_settings(settings: Any) -> None:
    # The in-process layer, as in the embedded default: sockets rely on polling unless a
    # test switches to Redis. Short intervals keep the tests quick.
    settings.CHANNEL_LAYERS = {"default": {"BACKEND": "channels.layers.InMemoryChannelLayer"}}
    settings.EVOLAB_LIVE_POLL_S = 0.05
    settings.EVOLAB_LIVE_RECHECK_S = 60.0
    settings.EVOLAB_LIVE_SETTLE_S = 10.0
