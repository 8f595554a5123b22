"""plotly.js served from the installed `plotly` package, as `js/vendor/plotly.min.js`.

A static files finder rather than a copy in the repository or a build step: the file
(4.8 MB) always matches the installed plotly version, `{% static %}` finds it, WhiteNoise
serves it through its finders in development and the demo, and `collectstatic` (the
Docker image) copies it like any other static file. Nothing is loaded from a CDN.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import plotly
from django.contrib.staticfiles.finders import BaseFinder
from django.core.checks import CheckMessage, Error
from django.core.files.storage import FileSystemStorage

PLOTLY_JS = "js/vendor/plotly.min.js"
_PREFIX, _NAME = PLOTLY_JS.rsplit("/", 1)


def plotly_js_source() -> Path:
    return Path(plotly.__file__).resolve().parent / "package_data" / _NAME


class PlotlyFinder(BaseFinder):
    def check(self, **kwargs: Any) -> list[CheckMessage]:
        if plotly_js_source().is_file():
            return []
        return [Error(f"{plotly_js_source()} is missing: reinstall the plotly package.", id="evolab.E001")]

    def find(self, path: str, find_all: bool = False, **kwargs: Any) -> Any:
        if path != PLOTLY_JS:
            return [] if find_all else None
        source = str(plotly_js_source())
        return [source] if find_all else source

    def list(self, ignore_patterns: Any) -> Iterator[tuple[str, FileSystemStorage]]:
        storage = FileSystemStorage(location=str(plotly_js_source().parent))
        storage.prefix = _PREFIX  # type: ignore[attr-defined]  # read by collectstatic and WhiteNoise
        yield _NAME, storage
