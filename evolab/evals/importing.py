"""Parse and validate eval cases from JSONL or CSV, apart from any database write.

`read_cases` turns the bytes of a file into validated `CaseRow`s or raises `ImportFailed`
listing every bad row (line number, field, message). It never touches the database, so
`suite_version_import` can parse first and write everything in one transaction.

Field mapping: `dst=src` pairs name where each case field comes from, e.g.
`input=prompt` or, for JSONL, a dotted path `input=question.text`. A case field that is
not mapped is read from the source field of the same name. Source fields that feed no
case field are kept in `metadata` under their own names (an explicit `metadata` object
wins on a clash), so `--map key=task_id --map input=prompt` imports HumanEval rows with
`canonical_solution`, `test` and `entry_point` preserved in metadata.

Line numbers are physical lines of the file: for JSONL the line of the record (blank
lines are skipped but counted); for CSV the line on which a record *starts* (a quoted
field may span several lines).
"""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from typing import IO, Any

from evolab.core.errors import ValidationFailed
from evolab.engine.graders import GraderConfigError, validate_grader_config
from evolab.evals.splits import SPLITS

FORMATS = ("jsonl", "csv")
CASE_FIELDS = ("key", "input", "target", "grader", "tags", "split", "metadata")
CHAT_ROLES = ("system", "developer", "user", "assistant", "tool")
MAX_REPORTED_ERRORS = 50
MAX_KEY_LENGTH = 200
MAX_TAG_LENGTH = 100

_MISSING = object()


@dataclass(frozen=True)
class RowError:
    """One problem in the file: `line` is 1-based; `field` is the source field at fault,
    or None when the whole line is unreadable."""

    line: int
    field: str | None
    message: str

    def as_dict(self) -> dict[str, Any]:
        return {"line": self.line, "field": self.field, "message": self.message}

    def __str__(self) -> str:
        where = f"line {self.line}" + (f", {self.field}" if self.field else "")
        return f"{where}: {self.message}"


class ImportFailed(ValidationFailed):
    """A file with at least one bad row; nothing was imported. Carries every error;
    `details` (the API body) lists the first MAX_REPORTED_ERRORS and how many more."""

    code = "import_failed"

    def __init__(self, errors: list[RowError]) -> None:
        self.errors = errors
        self.shown = errors[:MAX_REPORTED_ERRORS]
        self.more = len(errors) - len(self.shown)
        noun = "error" if len(errors) == 1 else "errors"
        super().__init__(
            f"The file has {len(errors)} {noun}; nothing was imported.",
            field="file",
            details={"errors": [error.as_dict() for error in self.shown], "more": self.more},
        )

    def lines(self) -> list[str]:
        """Human-readable report: the first errors, then '…and N more'."""
        report = [str(error) for error in self.shown]
        if self.more:
            report.append(f"…and {self.more} more")
        return report


@dataclass(frozen=True)
class CaseRow:
    """A validated case as read from the file. `split` is "" when the file gave none:
    the caller decides it (a key keeps its earlier split, else `assign_split`)."""

    line: int
    key: str
    input: str | list[dict[str, str]]
    target: str
    grader: dict[str, Any]
    tags: list[str]
    split: str
    metadata: dict[str, Any]


def parse_mapping(pairs: Iterable[str]) -> dict[str, str]:
    """`["input=prompt", "key=task_id"]` → `{"input": "prompt", "key": "task_id"}`; blank entries are ignored."""
    mapping: dict[str, str] = {}
    for pair in pairs:
        pair = pair.strip()
        if not pair:
            continue
        dst, sep, src = (part.strip() for part in pair.partition("="))
        if not sep or not dst or not src:
            raise ValidationFailed(f"Write each mapping as case_field=source_field, not '{pair}'.", field="mapping")
        if dst not in CASE_FIELDS:
            raise ValidationFailed(
                f"'{dst}' is not a case field; map one of {', '.join(CASE_FIELDS)}.", field="mapping"
            )
        if dst in mapping:
            raise ValidationFailed(f"'{dst}' is mapped twice.", field="mapping")
        mapping[dst] = src
    return mapping


def guess_format(filename: str) -> str:
    """'csv' for a *.csv file name, else 'jsonl'."""
    return "csv" if filename.lower().endswith(".csv") else "jsonl"


MAX_IMPORT_BYTES = 64 * 1024 * 1024


def read_cases(
    source: bytes | IO[bytes],
    *,
    fmt: str,
    mapping: Mapping[str, str] | None = None,
    default_grader: Mapping[str, Any] | None = None,
) -> list[CaseRow]:
    """Every case in the file, validated; raises ImportFailed with all bad rows, or
    ValidationFailed(field=...) when the request itself is wrong (format, empty file).

    Each case's grader (its own, else `default_grader`, which the caller has checked)
    is validated against the case with the engine's `validate_grader_config`, so a case
    that lacks what its grader needs (a target, HumanEval's `test`) is reported here.
    """
    rows, errors = parse_cases(source, fmt=fmt, mapping=mapping, default_grader=default_grader)
    if errors:
        raise ImportFailed(errors)
    if not rows:
        raise ValidationFailed("The file holds no cases.", field="file")
    return rows


def parse_cases(
    source: bytes | IO[bytes],
    *,
    fmt: str,
    mapping: Mapping[str, str] | None = None,
    default_grader: Mapping[str, Any] | None = None,
) -> tuple[list[CaseRow], list[RowError]]:
    """The good rows and every bad row's error (sorted by line), without raising for bad
    rows: the browser import previews both before anything is written. Raises
    ValidationFailed only when the request itself is wrong (format, size)."""
    if fmt not in FORMATS:
        raise ValidationFailed(f"Unknown format '{fmt}'; use jsonl or csv.", field="format")
    # Read one byte past the limit to tell "at the limit" from "over it" without
    # loading an arbitrarily large upload into memory.
    data = source if isinstance(source, bytes) else source.read(MAX_IMPORT_BYTES + 1)
    if len(data) > MAX_IMPORT_BYTES:
        raise ValidationFailed(
            f"The file is larger than {MAX_IMPORT_BYTES // (1024 * 1024)} MiB; split it into several imports.",
            field="file",
        )
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        return [], [RowError(data.count(b"\n", 0, exc.start) + 1, None, "not UTF-8 text")]
    fields = {dst: (mapping or {}).get(dst, dst) for dst in CASE_FIELDS}
    errors: list[RowError] = []
    rows: list[CaseRow] = []
    first_line_of: dict[str, int] = {}
    records = _jsonl_records(text, errors) if fmt == "jsonl" else _csv_records(text, errors)
    for line, record in records:
        row = _case_row(line, record, fields, fmt=fmt, default_grader=default_grader or {}, errors=errors)
        if row is None:
            continue
        if row.key in first_line_of:
            errors.append(
                RowError(line, fields["key"], f"duplicate key '{row.key}' (first on line {first_line_of[row.key]})")
            )
            continue
        first_line_of[row.key] = line
        rows.append(row)
    return rows, sorted(errors, key=lambda error: error.line)


def source_fields(source: bytes, *, fmt: str, sample: int = 200) -> list[str]:
    """The field names a file offers for mapping: the CSV header, or the keys of the
    first `sample` JSONL records in order of appearance."""
    text = source.decode("utf-8-sig", errors="replace")
    if fmt == "csv":
        for cells in csv.reader(io.StringIO(text, newline="")):
            if cells and any(cell.strip() for cell in cells):
                return [name.strip() for name in cells]
        return []
    names: dict[str, None] = {}
    seen = 0
    for raw in text.split("\n"):
        if not raw.strip():
            continue
        seen += 1
        if seen > sample:
            break
        try:
            record = json.loads(raw)
        except json.JSONDecodeError:
            continue
        if isinstance(record, dict):
            names.update(dict.fromkeys(str(name) for name in record))
    return list(names)


# Common names of each case field in public eval sets, most likely first.
FIELD_SYNONYMS: dict[str, tuple[str, ...]] = {
    "key": ("key", "id", "task_id", "case_id", "uid", "name"),
    "input": ("input", "prompt", "question", "messages", "query", "text", "instruction"),
    "target": ("target", "answer", "expected", "expected_output", "output", "label", "ideal"),
    "grader": ("grader",),
    "tags": ("tags", "tag", "labels", "category", "topic"),
    "split": ("split",),
    "metadata": ("metadata", "meta"),
}


def guess_mapping(fields: Iterable[str]) -> dict[str, str]:
    """A case field → source field guess: the first synonym the file has (case-insensitive),
    each source field used once."""
    by_lower = {name.lower(): name for name in fields}
    used: set[str] = set()
    guess: dict[str, str] = {}
    for dst, names in FIELD_SYNONYMS.items():
        for name in names:
            src = by_lower.get(name)
            if src is not None and src not in used:
                guess[dst] = src
                used.add(src)
                break
    return guess


def _jsonl_records(text: str, errors: list[RowError]) -> Iterator[tuple[int, dict[str, Any]]]:
    # split("\n"), not splitlines(): U+2028 and friends are legal inside JSON strings
    # and must not shift the line numbers we report.
    for number, raw in enumerate(text.split("\n"), start=1):
        line = raw.rstrip("\r")
        if not line.strip():
            continue
        try:
            record = json.loads(line)
        except json.JSONDecodeError as exc:
            errors.append(RowError(number, None, f"not valid JSON: {exc.msg} (column {exc.colno})"))
            continue
        if not isinstance(record, dict):
            errors.append(RowError(number, None, "not a JSON object"))
            continue
        yield number, record


def _csv_records(text: str, errors: list[RowError]) -> Iterator[tuple[int, dict[str, str]]]:
    reader = csv.reader(io.StringIO(text, newline=""))
    header: list[str] | None = None
    last_line = 0
    while True:
        start = last_line + 1
        try:
            cells = next(reader)
        except StopIteration:
            return
        except csv.Error as exc:
            errors.append(RowError(start, None, f"unreadable CSV: {exc}"))
            return
        last_line = reader.line_num
        if not cells or (len(cells) == 1 and not cells[0].strip()):
            continue
        if header is None:
            header = [name.strip() for name in cells]
            duplicates = sorted({name for name in header if header.count(name) > 1})
            if duplicates or not all(header):
                problem = f"duplicate columns {', '.join(duplicates)}" if duplicates else "a column has no name"
                errors.append(RowError(start, None, f"bad header: {problem}"))
                return
            continue
        if len(cells) != len(header):
            errors.append(RowError(start, None, f"{len(cells)} fields, but the header has {len(header)}"))
            continue
        yield start, dict(zip(header, cells, strict=True))


def _lookup(record: dict[str, Any], src: str, fmt: str) -> Any:
    if src in record:
        return record[src]
    if fmt != "jsonl" or "." not in src:
        return _MISSING
    value: Any = record
    for part in src.split("."):
        if not isinstance(value, dict) or part not in value:
            return _MISSING
        value = value[part]
    return value


def _absent(value: Any) -> bool:
    return value is _MISSING or value is None or (isinstance(value, str) and not value.strip())


class _BadField(Exception):
    pass


def _case_row(
    line: int,
    record: dict[str, Any],
    fields: dict[str, str],
    *,
    fmt: str,
    default_grader: Mapping[str, Any],
    errors: list[RowError],
) -> CaseRow | None:
    values: dict[str, Any] = {}
    bad = False
    for dst, parse in _PARSERS.items():
        try:
            values[dst] = parse(_lookup(record, fields[dst], fmt), fmt)
        except _BadField as exc:
            errors.append(RowError(line, fields[dst], str(exc)))
            bad = True
    if bad:
        return None
    used = {src.split(".")[0] if fmt == "jsonl" else src for src in fields.values()}
    extra = {name: value for name, value in record.items() if name not in used}
    row = CaseRow(line=line, **{**values, "metadata": {**extra, **values["metadata"]}})
    grader = row.grader or default_grader
    if not grader:
        errors.append(RowError(line, fields["grader"], "no grader here and no default grader for the suite"))
        return None
    try:
        validate_grader_config(grader, case=grading_case(row.key, row.input, row.target, row.metadata))
    except GraderConfigError as exc:
        culprit = fields["target"] if exc.field == "target" else fields["grader"]
        errors.append(RowError(line, culprit, str(exc)))
        return None
    return row


def check_case_record(
    record: Mapping[str, Any], *, default_grader: Mapping[str, Any]
) -> tuple[CaseRow | None, list[RowError]]:
    """One case given as an object of case fields (a change request's operation), checked
    by the same rules as a file's row: the row, or None and every problem (line 0).
    Unlike a file row, a field that is not a case field is an error, not metadata."""
    unknown = sorted(set(record) - set(CASE_FIELDS))
    errors = [RowError(0, name, f"not a case field; use {', '.join(CASE_FIELDS)}") for name in unknown]
    if errors:
        return None, errors
    identity = {name: name for name in CASE_FIELDS}
    row = _case_row(0, dict(record), identity, fmt="jsonl", default_grader=default_grader, errors=errors)
    return row, errors


def grading_case(
    key: str, case_input: str | list[dict[str, str]], target: str, metadata: Mapping[str, Any]
) -> dict[str, Any]:
    """The flat case mapping the engine's graders read: metadata fields (HumanEval's
    `test`, `entry_point`, …) at the top, then `key`, `input`, `target` (None when
    blank) and `prompt` (the text input, unless metadata has its own)."""
    case: dict[str, Any] = {**metadata, "key": key, "input": case_input, "target": target or None}
    if isinstance(case_input, str):
        case.setdefault("prompt", case_input)
    return case


def _parse_key(value: Any, fmt: str) -> str:
    if _absent(value):
        raise _BadField("missing: every case needs a key")
    if isinstance(value, bool) or not isinstance(value, str | int):
        raise _BadField("must be text or an integer")
    key = str(value).strip()
    if len(key) > MAX_KEY_LENGTH:
        raise _BadField(f"longer than {MAX_KEY_LENGTH} characters")
    if any(ord(char) < 32 or ord(char) == 127 for char in key):
        raise _BadField("contains control characters")
    if any(segment in (".", "..") for segment in key.split("/")):
        raise _BadField("must not contain '.' or '..' between slashes (a case's URL ends with its key)")
    return key


def _parse_input(value: Any, fmt: str) -> str | list[dict[str, str]]:
    if _absent(value) or value == []:
        raise _BadField("missing: every case needs an input")
    if isinstance(value, str):
        return value
    if not isinstance(value, list):
        raise _BadField("must be text or a list of {role, content} messages")
    messages = []
    for index, message in enumerate(value):
        if not isinstance(message, dict) or set(message) != {"role", "content"}:
            raise _BadField(f"message {index + 1} must be an object with exactly role and content")
        if message["role"] not in CHAT_ROLES:
            raise _BadField(f"message {index + 1}: role must be one of {', '.join(CHAT_ROLES)}")
        if not isinstance(message["content"], str):
            raise _BadField(f"message {index + 1}: content must be text")
        messages.append({"role": message["role"], "content": message["content"]})
    return messages


def _parse_target(value: Any, fmt: str) -> str:
    if value is _MISSING or value is None:
        return ""
    if isinstance(value, str):
        return value
    # A number or an object (for numeric or json graders) is kept as its JSON text.
    return json.dumps(value, ensure_ascii=False)


def _json_object(value: Any, fmt: str, what: str) -> dict[str, Any]:
    if _absent(value):
        return {}
    if fmt == "csv":
        try:
            value = json.loads(value)
        except json.JSONDecodeError as exc:
            raise _BadField(f"not valid JSON: {exc.msg} (column {exc.colno})") from None
    if not isinstance(value, dict):
        raise _BadField(f"{what} must be a JSON object")
    return value


def _parse_grader(value: Any, fmt: str) -> dict[str, Any]:
    return _json_object(value, fmt, "a grader")


def _parse_tags(value: Any, fmt: str) -> list[str]:
    if _absent(value):
        return []
    if isinstance(value, str):
        value = value.split(",")
    if not isinstance(value, list) or not all(isinstance(tag, str) for tag in value):
        raise _BadField("must be a list of text tags (or, in CSV, comma-separated)")
    tags: list[str] = []
    for raw in value:
        tag = raw.strip()
        if len(tag) > MAX_TAG_LENGTH:
            raise _BadField(f"tag longer than {MAX_TAG_LENGTH} characters")
        if tag and tag not in tags:
            tags.append(tag)
    return tags


def _parse_split(value: Any, fmt: str) -> str:
    if _absent(value):
        return ""
    split = value.strip().lower() if isinstance(value, str) else value
    if split not in SPLITS:
        raise _BadField(f"must be one of {', '.join(SPLITS)} (or empty for a hash-assigned split)")
    return str(split)


def _parse_metadata(value: Any, fmt: str) -> dict[str, Any]:
    return _json_object(value, fmt, "metadata")


_PARSERS = {
    "key": _parse_key,
    "input": _parse_input,
    "target": _parse_target,
    "grader": _parse_grader,
    "tags": _parse_tags,
    "split": _parse_split,
    "metadata": _parse_metadata,
}
