"""Bulk imports as change requests: a file's rows become add/edit (and, when replacing,
delete) operations, previewed before anything is written.

The browser import keeps the uploaded bytes in an `ImportUpload` row (not in the
session: files reach megabytes) until the person has chosen the mapping, seen the
preview with every error, and opened a change request — or applied it directly where
the suite's policy lets them. Uploads expire after IMPORT_UPLOAD_TTL.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

from django.contrib.auth.models import User
from django.db import transaction
from django.http import Http404
from django.utils import timezone

from evolab.core.errors import ValidationFailed
from evolab.evals.actions import cases_by_key, check_grader
from evolab.evals.change_operations import import_operations
from evolab.evals.change_requests import change_request_apply, change_request_open
from evolab.evals.importing import CaseRow, ImportFailed, RowError, parse_cases
from evolab.evals.models import ChangeRequest, EvalSuite, ImportUpload, SuiteVersion
from evolab.evals.selectors import get_suite_version
from evolab.evals.splits import assign_split

IMPORT_UPLOAD_TTL = timedelta(hours=2)
PREVIEW_ROWS = 20
MAX_SHOWN_ERRORS = 1000
MODES = ("merge", "replace")


def import_upload_store(*, actor: User, suite: EvalSuite, filename: str, fmt: str, data: bytes) -> ImportUpload:
    """Keep an upload for its preview; uploads past their expiry go at the same time."""
    if not data.strip():
        raise ValidationFailed("The file is empty.", field="file")
    with transaction.atomic():
        ImportUpload.objects.filter(created_at__lt=timezone.now() - IMPORT_UPLOAD_TTL).delete()
        return ImportUpload.objects.create(suite=suite, owner=actor, filename=filename[:255], fmt=fmt, data=data)


def get_upload(suite: EvalSuite, actor: User, upload_id: int) -> ImportUpload:
    """The actor's own unexpired upload to this suite; 404 otherwise (one person's upload
    is nobody else's business, and an expired one is gone)."""
    upload = ImportUpload.objects.filter(
        pk=upload_id, suite=suite, owner=actor, created_at__gte=timezone.now() - IMPORT_UPLOAD_TTL
    ).first()
    if upload is None:
        raise Http404("No such upload (uploads expire after two hours; upload the file again)")
    return upload


def row_dict(row: CaseRow) -> dict[str, Any]:
    return {
        "key": row.key,
        "input": row.input,
        "target": row.target,
        "grader": row.grader,
        "tags": row.tags,
        "split": row.split,
        "metadata": row.metadata,
    }


@dataclass
class PreviewRow:
    line: int
    action: str  # add, edit, unchanged
    case: dict[str, Any]  # as it will be imported (split resolved)


@dataclass
class ImportPreview:
    rows: list[PreviewRow]  # the first PREVIEW_ROWS good rows
    errors: list[RowError]
    row_count: int  # good rows
    operations: list[dict[str, Any]]
    counts: dict[str, int] = field(default_factory=dict)  # add / edit / delete / unchanged

    @property
    def ok(self) -> bool:
        return not self.errors and bool(self.operations)

    @property
    def shown_errors(self) -> list[RowError]:
        return self.errors[:MAX_SHOWN_ERRORS]


def import_preview(
    *,
    suite: EvalSuite,
    data: bytes,
    fmt: str,
    mapping: Mapping[str, str],
    default_grader: dict[str, Any] | None,
    mode: str,
) -> ImportPreview:
    """What importing `data` with `mapping` would do to the suite's latest version: the
    first rows as they will be imported, every bad row, and the operations. Writes nothing."""
    if mode not in MODES:
        raise ValidationFailed("Choose merge or replace.", field="mode")
    head = get_suite_version(suite, None)
    grader = check_grader(default_grader) or (head.default_grader if head else suite.default_grader)
    rows, errors = parse_cases(data, fmt=fmt, mapping=mapping, default_grader=grader)
    base = cases_by_key(head)
    operations = import_operations([row_dict(row) for row in rows], base, replace=mode == "replace")
    if default_grader and grader != (head.default_grader if head else suite.default_grader):
        operations.insert(0, {"op": "set_default_grader", "grader": grader})
    edited = {op["key"] for op in operations if op["op"] == "edit"}
    preview = []
    for row in rows[:PREVIEW_ROWS]:
        earlier = base.get(row.key)
        case = row_dict(row)
        case["split"] = row.split or (earlier["split"] if earlier else assign_split(row.key))
        action = "add" if earlier is None else "edit" if row.key in edited else "unchanged"
        preview.append(PreviewRow(line=row.line, action=action, case=case))
    counts = {kind: sum(1 for op in operations if op["op"] == kind) for kind in ("add", "edit", "delete")}
    counts["unchanged"] = len(rows) - counts["add"] - counts["edit"]
    return ImportPreview(rows=preview, errors=errors, row_count=len(rows), operations=operations, counts=counts)


def import_open_change_request(
    *,
    actor: User,
    suite: EvalSuite,
    data: bytes,
    fmt: str,
    mapping: Mapping[str, str],
    default_grader: dict[str, Any] | None,
    mode: str,
    title: str,
    description: str = "",
    filename: str = "",
    direct: bool = False,
) -> tuple[ChangeRequest, SuiteVersion | None]:
    """Open a change request from a file (and apply it at once with `direct`, which the
    suite's policy must allow). A file with any bad row raises ImportFailed and nothing
    is written; so does one that would change nothing."""
    preview = import_preview(suite=suite, data=data, fmt=fmt, mapping=mapping, default_grader=default_grader, mode=mode)
    if preview.errors:
        raise ImportFailed(preview.errors)
    if not preview.operations:
        raise ValidationFailed("The file changes nothing in the latest version.", field="file")
    source = {"kind": "import", "filename": filename[:200], "format": fmt, "mode": mode, "rows": preview.row_count}
    with transaction.atomic():
        change_request = change_request_open(
            suite=suite,
            author=actor,
            title=title or f"Import {filename[:120] or 'file'} ({preview.row_count} rows)",
            description=description,
            operations=preview.operations,
            source=source,
        )
        version = change_request_apply(actor=actor, change_request=change_request, direct=True) if direct else None
    return change_request, version
