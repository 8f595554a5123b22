"""Harness test data, built through the actions so every row obeys the real rules."""

from __future__ import annotations

import io
import zipfile
from typing import Any

from evolab.harnesses import actions
from evolab.harnesses.models import HarnessVersion
from evolab.projects.models import Project

BASE_FILES = {
    "harness.yaml": "sampling:\n  temperature: 1.0\n  top_p: 0.95\nagent:\n  max_turns: 8\n",
    "system.md": "You are a support agent.\nBe brief.\n",
}


def make_version(
    project: Project,
    files: dict[str, str] | None = None,
    *,
    message: str = "a change",
    actor: Any = None,
    **kwargs: Any,
) -> HarnessVersion:
    """Commit `files` (default: BASE_FILES) as a new version; head moves unless told not to."""
    return actions.version_create(
        actor=actor, project=project, files=dict(BASE_FILES if files is None else files), message=message, **kwargs
    )


def make_history(project: Project, count: int, *, actor: Any = None) -> list[HarnessVersion]:
    """`count` versions in a line, each changing one line of system.md."""
    return [
        make_version(project, {**BASE_FILES, "system.md": f"You are a support agent, take {n}.\n"}, actor=actor)
        for n in range(count)
    ]


def make_zip(entries: dict[str, str | bytes], *, symlinks: dict[str, str] | None = None) -> bytes:
    """An in-memory zip; `symlinks` maps entry names to link targets (Unix mode 120777)."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, content in entries.items():
            archive.writestr(name, content)
        for name, target in (symlinks or {}).items():
            info = zipfile.ZipInfo(name)
            info.external_attr = (0o120777 << 16) | 0
            archive.writestr(info, target)
    return buffer.getvalue()
