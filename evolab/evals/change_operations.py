"""The operations of a change request: checking them, applying them to a version's
cases, and the field-level diff they make. No database access: callers pass the
cases of the base version as plain dicts (`actions.cases_by_key`).

An operation is one of
    {"op": "add", "case": {key, input, target, grader, tags, split, metadata}}
    {"op": "edit", "key": str, "changes": {field: new_value, ...}}
    {"op": "delete", "key": str}
    {"op": "move_split", "key": str, "split": "train|dev|holdout"}
    {"op": "retag", "key": str, "tags": [...]}
    {"op": "set_default_grader", "grader": {...}}
Checked operations are stored normalised (an added case with every field, parsed
values) with `holdout: true` on those that touch a held-out case, before or after.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from evolab.core.errors import ValidationFailed
from evolab.engine.graders import GraderConfigError, validate_grader_config
from evolab.evals.importing import CASE_FIELDS, check_case_record, grading_case
from evolab.evals.splits import SPLITS, assign_split

OPS = ("add", "edit", "delete", "move_split", "retag", "set_default_grader")
EDITABLE_FIELDS = ("input", "target", "grader", "tags", "split", "metadata")
HOLDOUT = "holdout"
MAX_OPERATIONS = 20_000
MAX_LISTED_ERRORS = 50

Cases = dict[str, dict[str, Any]]


class _OpError(Exception):
    pass


@dataclass
class Plan:
    """The outcome of a list of operations on a base: the resulting cases and default
    grader, the normalised operations, and what they touch."""

    cases: Cases
    default_grader: dict[str, Any]
    operations: list[dict[str, Any]]
    touched: list[str] = field(default_factory=list)  # case keys, in first-touched order
    touches_holdout: bool = False
    moves_holdout: bool = False


def _label(index: int, op: Any) -> str:
    if not isinstance(op, dict):
        return f"operation {index}"
    name = op.get("op", "?")
    key, case = op.get("key"), op.get("case")
    if not key and isinstance(case, dict):
        key = case.get("key")
    return f"operation {index} ({name}{f' {key!r}' if key else ''})"


def _row_case(record: Mapping[str, Any], default_grader: dict[str, Any], earlier_split: str | None) -> dict[str, Any]:
    row, errors = check_case_record(record, default_grader=default_grader)
    if row is None:
        raise _OpError("; ".join(f"{e.field}: {e.message}" if e.field else e.message for e in errors))
    return {
        "key": row.key,
        "input": row.input,
        "target": row.target,
        "grader": row.grader,
        "tags": row.tags,
        "split": row.split or earlier_split or assign_split(row.key),
        "metadata": row.metadata,
    }


def _existing(cases: Cases, op: dict[str, Any]) -> dict[str, Any]:
    key = op.get("key")
    if not isinstance(key, str) or not key:
        raise _OpError("needs the key of a case")
    if key not in cases:
        raise _OpError(f"no case '{key}' in the suite")
    return cases[key]


def _apply_one(
    op: Any, cases: Cases, grader: dict[str, Any], *, may_touch_holdout: bool
) -> tuple[dict[str, Any], dict[str, Any], str | None, bool]:
    """Apply one raw operation to `cases` in place: (stored op, new default grader, key touched, moved holdout)."""
    if not isinstance(op, dict) or op.get("op") not in OPS:
        raise _OpError(f"'op' is one of {', '.join(OPS)}")
    kind = op["op"]
    if kind == "set_default_grader":
        value = op.get("grader")
        if not isinstance(value, dict) or not value:
            raise _OpError("needs a grader object")
        try:
            validate_grader_config(value)
        except GraderConfigError as exc:
            raise _OpError(f"invalid grader: {exc}") from None
        return {"op": kind, "grader": value, "holdout": False}, value, None, False
    if kind == "add":
        record = op.get("case")
        if not isinstance(record, dict):
            raise _OpError("needs a case object")
        if isinstance(record.get("key"), str | int) and str(record["key"]).strip() in cases:
            raise _OpError(f"a case '{str(record['key']).strip()}' exists already; edit it instead")
        case = _row_case(record, grader, None)
        if case["split"] == HOLDOUT and record.get("split") and not may_touch_holdout:
            raise _OpError("only maintainers and owners put cases into holdout")
        cases[case["key"]] = case
        return {"op": kind, "case": case, "holdout": case["split"] == HOLDOUT}, grader, case["key"], False
    before = _existing(cases, op)
    key = before["key"]
    if before["split"] == HOLDOUT and not may_touch_holdout:
        raise _OpError("held-out cases are changed by maintainers and owners")
    if kind == "delete":
        del cases[key]
        return {"op": kind, "key": key, "holdout": before["split"] == HOLDOUT}, grader, key, False
    if kind == "edit":
        changes = op.get("changes")
        if not isinstance(changes, dict) or not changes:
            raise _OpError("needs a non-empty 'changes' object")
        unknown = sorted(set(changes) - set(EDITABLE_FIELDS))
        if unknown:
            raise _OpError(f"'{unknown[0]}' cannot be edited; edit {', '.join(EDITABLE_FIELDS)}")
        after = _row_case({**before, **changes}, grader, before["split"])
        stored_changes = {name: after[name] for name in changes}
    elif kind == "move_split":
        split = op.get("split")
        if split not in SPLITS:
            raise _OpError(f"'split' is one of {', '.join(SPLITS)}")
        if split == before["split"]:
            raise _OpError(f"the case is in {split} already")
        after, stored_changes = {**before, "split": split}, {"split": split}
    else:  # retag
        after = _row_case({**before, "tags": op.get("tags")}, grader, before["split"])
        stored_changes = {"tags": after["tags"]}
    if after["split"] == HOLDOUT and before["split"] != HOLDOUT and not may_touch_holdout:
        raise _OpError("only maintainers and owners put cases into holdout")
    cases[key] = after
    moved = (before["split"] == HOLDOUT) != (after["split"] == HOLDOUT)
    holdout = HOLDOUT in (before["split"], after["split"])
    stored: dict[str, Any] = {"op": kind, "key": key, "holdout": holdout}
    stored.update({"changes": stored_changes} if kind == "edit" else stored_changes)
    return stored, grader, key, moved


def plan_operations(
    base: Cases,
    default_grader: dict[str, Any],
    operations: Sequence[Any],
    *,
    may_touch_holdout: bool = True,
) -> Plan:
    """Check `operations` in order against `base` and apply them; ValidationFailed
    (field "operations", every problem in `details["errors"]`, each naming its
    operation) when any is wrong. `may_touch_holdout` is False for authors below
    maintainer, who can neither see nor change held-out cases."""
    if not isinstance(operations, list | tuple) or not operations:
        raise ValidationFailed("A change request needs at least one operation.", field="operations")
    if len(operations) > MAX_OPERATIONS:
        raise ValidationFailed(f"At most {MAX_OPERATIONS:,} operations in one change request.", field="operations")
    cases = dict(base)
    grader = default_grader
    plan = Plan(cases=cases, default_grader=grader, operations=[])
    errors: list[str] = []
    seen: set[str] = set()
    for index, op in enumerate(operations, start=1):
        try:
            stored, grader, key, moved = _apply_one(op, cases, grader, may_touch_holdout=may_touch_holdout)
        except _OpError as exc:
            errors.append(f"{_label(index, op)}: {exc}")
            continue
        plan.operations.append(stored)
        plan.touches_holdout |= stored["holdout"]
        plan.moves_holdout |= moved
        if key is not None and key not in seen:
            seen.add(key)
            plan.touched.append(key)
    plan.default_grader = grader
    if not errors and grader != default_grader:
        errors.extend(_graderless_errors(cases, grader))
    if errors:
        shown = errors[:MAX_LISTED_ERRORS]
        more = len(errors) - len(shown)
        raise ValidationFailed(
            f"{errors[0]}" + (f" (and {len(errors) - 1} more)" if len(errors) > 1 else ""),
            field="operations",
            details={"errors": shown, "more": more},
        )
    return plan


def _graderless_errors(cases: Cases, grader: dict[str, Any]) -> list[str]:
    """A new default grader must suit every case that relies on it."""
    errors = []
    for case in cases.values():
        if case["grader"]:
            continue
        try:
            validate_grader_config(
                grader, case=grading_case(case["key"], case["input"], case["target"], case["metadata"])
            )
        except GraderConfigError as exc:
            errors.append(f"case '{case['key']}' under the new default grader: {exc}")
    return errors


def import_operations(rows: Sequence[Mapping[str, Any]], base: Cases, *, replace: bool) -> list[dict[str, Any]]:
    """A bulk import as operations: a row with a new key is added, a row whose key exists
    edits the fields that differ (unchanged rows make no operation), and with `replace`
    every base case missing from the file is deleted. A row without a split keeps its
    key's split (an import never moves a case out of holdout by omission)."""
    operations: list[dict[str, Any]] = []
    keys = set()
    for row in rows:
        keys.add(row["key"])
        before = base.get(row["key"])
        if before is None:
            operations.append({"op": "add", "case": dict(row)})
            continue
        changes = {
            name: row[name]
            for name in EDITABLE_FIELDS
            if name in row and not (name == "split" and not row[name]) and row[name] != before[name]
        }
        if changes:
            operations.append({"op": "edit", "key": row["key"], "changes": changes})
    if replace:
        operations.extend({"op": "delete", "key": key} for key in base if key not in keys)
    return operations


# --- the diff people review -------------------------------------------------------------


@dataclass(frozen=True)
class FieldChange:
    name: str
    old: str
    new: str


@dataclass(frozen=True)
class CaseDiff:
    """One touched case: `kind` is added, edited or deleted; `sealed` when it is held out
    (before or after) and the viewer may not see holdout, in which case `fields` only
    lists split and tags changes and no text."""

    key: str
    kind: str
    split_before: str | None
    split_after: str | None
    holdout: bool
    sealed: bool
    fields: tuple[FieldChange, ...]


def display(name: str, value: Any) -> str:
    """A field's value as text for the diff."""
    if value is None:
        return ""
    if name == "input" and isinstance(value, list):
        return "\n".join(f"{m['role']}: {m['content']}" for m in value)
    if name == "tags":
        return ", ".join(value)
    if isinstance(value, str):
        return value
    return json.dumps(value, ensure_ascii=False, indent=2, sort_keys=True) if value else ""


SEALED_DIFF_FIELDS = ("input", "target", "grader", "metadata")


def case_diffs(base: Cases, result: Cases, touched: Sequence[str], *, sees_holdout: bool) -> list[CaseDiff]:
    """Field by field, old → new, for every touched key; held-out text only for `sees_holdout`."""
    diffs = []
    for key in touched:
        before, after = base.get(key), result.get(key)
        if before is None and after is None:
            continue  # added then deleted in the same request
        kind = "added" if before is None else "deleted" if after is None else "edited"
        splits = {case["split"] for case in (before, after) if case is not None}
        holdout = HOLDOUT in splits
        sealed = holdout and not sees_holdout
        changes = []
        for name in CASE_FIELDS[1:]:
            if sealed and name in SEALED_DIFF_FIELDS:
                continue
            old = display(name, before[name]) if before else ""
            new = display(name, after[name]) if after else ""
            if old != new:
                changes.append(FieldChange(name, old, new))
        diffs.append(
            CaseDiff(
                key=key,
                kind=kind,
                split_before=before["split"] if before else None,
                split_after=after["split"] if after else None,
                holdout=holdout,
                sealed=sealed,
                fields=tuple(changes),
            )
        )
    return diffs


def redacted_operations(operations: Sequence[dict[str, Any]], *, sees_holdout: bool) -> list[dict[str, Any]]:
    """The stored operations as a viewer may read them: below maintainer an operation on
    a held-out case keeps its kind and key only."""
    shown = []
    for op in operations:
        if op.get("holdout") and not sees_holdout:
            key = op.get("key") or op.get("case", {}).get("key")
            shown.append({"op": op["op"], "key": key, "holdout": True, "sealed": True})
        else:
            shown.append(op)
    return shown
