from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest


@pytest.fixture(autouse=True)
def _private_file_cache(settings: Any, tmp_path: Path) -> None:
    """The embedded default's file cache, in a folder of this test's own: parallel test
    processes (and a running demo) share VAR_DIR/cache, and a `cache.clear()` there
    would empty each other's."""
    settings.CACHES = {
        "default": {"BACKEND": "django.core.cache.backends.filebased.FileBasedCache", "LOCATION": str(tmp_path / "cache")}
    }
