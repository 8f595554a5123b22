"""The archive file: a zip holding `manifest.json` and `rows.jsonl`.

rows.jsonl holds, for each archived model in dependency order, a header line
`{"model": label, "columns": [...], "count": n}` followed by n lines, each a JSON array of
that row's column values. The manifest names the format, the source project, the schema
(each app's latest migration), the users referenced (id → username), the row counts, and
the SHA-256 of rows.jsonl, which an import checks before it writes anything.
"""

from __future__ import annotations

from typing import Any

from django.db import connection
from django.db.migrations.recorder import MigrationRecorder

FORMAT = "evolab-project-archive"
FORMAT_VERSION = 1
MANIFEST = "manifest.json"
ROWS = "rows.jsonl"


class ArchiveError(Exception):
    """The archive cannot be written or read as asked; the message says why."""


def schema_state() -> dict[str, str]:
    """The latest applied migration of each evolab app: an archive is read back only by
    an instance whose schema is the same, so every column means the same thing."""
    applied = MigrationRecorder(connection).applied_migrations()
    latest: dict[str, str] = {}
    for app_label, name in sorted(applied):
        if _is_evolab_app(app_label):
            latest[app_label] = max(latest.get(app_label, ""), name)
    return latest


def _is_evolab_app(app_label: str) -> bool:
    from django.apps import apps

    try:
        return apps.get_app_config(app_label).name.startswith("evolab.")
    except LookupError:
        return False


def manifest_problems(manifest: dict[str, Any]) -> list[str]:
    problems = []
    if manifest.get("format") != FORMAT:
        problems.append(f"not an evolab project archive (format {manifest.get('format')!r})")
    elif manifest.get("format_version") != FORMAT_VERSION:
        problems.append(f"archive format version {manifest.get('format_version')} is not {FORMAT_VERSION}")
    here = schema_state()
    theirs = manifest.get("schema", {})
    for app_label in sorted(set(here) | set(theirs)):
        if here.get(app_label) != theirs.get(app_label):
            problems.append(
                f"schema of {app_label}: the archive has {theirs.get(app_label) or 'nothing'}, "
                f"this instance {here.get(app_label) or 'nothing'} — upgrade the older side and export again"
            )
    return problems
