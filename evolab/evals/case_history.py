"""A case across the versions of its suite: when it was added, changed or deleted, by
whom and why, with a field-level diff between consecutive versions that hold it.

Three queries whatever the number of versions: the suite's versions (with their
authors), the case's rows under its stable key, and the change requests that made
them. Versions in which the case did not change are not listed. Holdout sealing as in
`selectors`: below maintainer, a change to the input, target, grader or metadata of a
case that is holdout on either side says that a sealed field changed, never what it
was or became.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import Any, Literal

from evolab.evals.models import ChangeRequest, EvalCase, EvalSuite, Split, SuiteVersion
from evolab.evals.selectors import SEALED_FIELDS, can_see_holdout
from evolab.projects.models import Role

# The fields compared between versions, in the order a diff lists them.
DIFF_FIELDS = ("split", "tags", "input", "target", "grader", "metadata")

Kind = Literal["added", "changed", "deleted", "restored"]


@dataclass(frozen=True)
class FieldChange:
    field: str
    before: Any  # None when sealed
    after: Any
    sealed: bool = False

    @property
    def is_text(self) -> bool:
        return isinstance(self.before, str) or isinstance(self.after, str)


@dataclass(frozen=True)
class HistoryEntry:
    """One version in which the case changed."""

    version_id: int
    number: int
    kind: Kind
    message: str
    author: str  # username, or "system" for a version made without a person
    created_at: datetime
    changes: list[FieldChange] = field(default_factory=list)
    in_version: bool = True  # False for "deleted": the case is not in this version
    # The change request applied as this version (number, title), if one made it.
    change_request: tuple[int, str] | None = None


def _effective(row: dict[str, Any], default_grader: dict[str, Any]) -> dict[str, Any]:
    """The row as it is scored: a case without its own grader uses its version's default."""
    return {**row, "grader": row["grader"] or default_grader}


def _diff(before: dict[str, Any], after: dict[str, Any], sealed: bool) -> list[FieldChange]:
    changes = []
    for name in DIFF_FIELDS:
        if before[name] == after[name]:
            continue
        if sealed and name in SEALED_FIELDS:
            changes.append(FieldChange(name, None, None, sealed=True))
        else:
            changes.append(FieldChange(name, before[name], after[name]))
    return changes


def case_history(suite: EvalSuite, key: str, *, viewer_role: Role | int) -> list[HistoryEntry]:
    """The case's changes, newest first; [] when no version of the suite holds `key`."""
    versions = list(
        SuiteVersion.objects.filter(suite=suite)
        .order_by("number")
        .values("pk", "number", "message", "created_by__username", "created_at", "default_grader")
    )
    rows = {
        row.pop("version_id"): row
        for row in EvalCase.objects.filter(version__suite=suite, key=key).values("version_id", *DIFF_FIELDS)
    }
    if not rows:
        return []
    hides_holdout = not can_see_holdout(viewer_role)
    entries: list[HistoryEntry] = []
    previous: dict[str, Any] | None = None
    seen = False
    for version in versions:
        row = rows.get(version["pk"])
        current = _effective(row, version["default_grader"]) if row is not None else None
        kind: Kind | None = None
        changes: list[FieldChange] = []
        if current is not None and previous is None:
            kind = "restored" if seen else "added"
        elif current is None and previous is not None:
            kind = "deleted"
        elif current is not None and previous is not None:
            sealed = hides_holdout and Split.HOLDOUT in (previous["split"], current["split"])
            changes = _diff(previous, current, sealed)
            kind = "changed" if changes else None
        if kind is not None:
            entries.append(
                HistoryEntry(
                    version_id=version["pk"],
                    number=version["number"],
                    kind=kind,
                    message=version["message"],
                    author=version["created_by__username"] or "system",
                    created_at=version["created_at"],
                    changes=changes,
                    in_version=current is not None,
                )
            )
        seen = seen or current is not None
        previous = current
    entries.reverse()
    return _with_change_requests(entries)


def _with_change_requests(entries: list[HistoryEntry]) -> list[HistoryEntry]:
    """Name the change request that made each version, in one query."""
    if not entries:
        return entries
    made_by = {
        row[0]: (row[1], row[2])
        for row in ChangeRequest.objects.filter(applied_version_id__in=[e.version_id for e in entries]).values_list(
            "applied_version_id", "number", "title"
        )
    }
    return [replace(e, change_request=made_by.get(e.version_id)) for e in entries]
