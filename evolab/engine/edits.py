"""Proposals as edits: parse a proposer's answer, apply it to a harness tree, key the change.

A proposer answers with one JSON object — a hypothesis, search/replace edits and
parameter changes — somewhere in free text. `parse_proposal` finds and checks it,
`apply_edits` turns it into a new file tree (editing `harness.yaml` in place so comments
survive), and `normalised_diff_key` names what a change does so that the same idea
proposed again from another parent is recognised as a duplicate.
"""

from __future__ import annotations

import difflib
import hashlib
import json
import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

import yaml

from evolab.engine.harness_config import HARNESS_SCHEMA, HARNESS_YAML, HarnessConfigError, parse_harness_config

MAX_EDITS = 20
DIFF_KEY_TAG = "evolab-diff-key-v1\n"


def _schema_leaves(schema: Mapping[str, Any], prefix: str) -> list[str]:
    keys: list[str] = []
    for name, sub in schema.get("properties", {}).items():
        if sub.get("type") == "object":
            keys.extend(_schema_leaves(sub, f"{prefix}{name}."))
        else:
            keys.append(f"{prefix}{name}")
    return keys


# Dotted keys a proposal may set, e.g. `sampling.temperature`, `agent.loop_guard.window`.
KNOWN_PARAMS: tuple[str, ...] = tuple(
    key
    for section in ("sampling", "agent")
    for key in _schema_leaves(HARNESS_SCHEMA["properties"][section], f"{section}.")
)


class ProposalError(ValueError):
    """The proposer's answer is not a usable proposal; the message says why."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class EditError(ValueError):
    """A proposal cannot be applied to a tree; `path` is the file at fault."""

    def __init__(self, path: str, message: str) -> None:
        super().__init__(message)
        self.path = path
        self.message = message


@dataclass(frozen=True)
class FileEdit:
    path: str
    search: str
    replace: str
    delete: bool = False


@dataclass(frozen=True)
class ProposalDraft:
    hypothesis: str
    edits: tuple[FileEdit, ...] = ()
    # Dotted keys in canonical form (`sampling.temperature`), values as given.
    params: dict[str, Any] = field(default_factory=dict)
    # Which case tags the proposer expects to improve (informational).
    target_tags: tuple[str, ...] = ()


def canonical_param_key(name: str) -> str | None:
    """`temperature` → `sampling.temperature`; None if the key is not a known parameter."""
    key = name if "." in name else f"sampling.{name}"
    return key if key in KNOWN_PARAMS else None


# Parsing ---------------------------------------------------------------------------------

_LEADING_THINK = re.compile(r"\A\s*<think>.*?</think>", re.DOTALL)
_FENCE_LINE = re.compile(r"^[ \t]*```[ \t]*([\w+-]*)[^\n]*$", re.MULTILINE)
# Braces in prose ("{x}") are not attempts at JSON; their parse errors are not reported.
_JSON_LIKE = re.compile(r"\{\s*[\"}]")
# Models often write raw newlines inside JSON strings (multi-line search text); accept them.
_DECODER = json.JSONDecoder(strict=False)
_PROPOSAL_KEYS = ("hypothesis", "edits", "params", "target_tags")
_EDIT_KEYS = ("path", "search", "replace", "delete")


def _invalid_json(exc: json.JSONDecodeError) -> ProposalError:
    return ProposalError(f"invalid JSON at line {exc.lineno}, column {exc.colno}: {exc.msg}")


def _fenced_bodies(text: str, start: int) -> Iterator[tuple[int, int]]:
    """(start, end) offsets of the bodies of ```json and unlabelled fences."""
    label: str | None = None
    body_start = 0
    for match in _FENCE_LINE.finditer(text, start):
        if label is None:
            label, body_start = match.group(1).lower(), match.end() + 1
            continue
        if label in ("json", ""):
            yield body_start, match.start()
        label = None


def _from_fences(text: str, start: int) -> dict[str, Any] | None:
    """The first fenced block holding a JSON object; raises for a broken one if none parses."""
    first_error: json.JSONDecodeError | None = None
    for body_start, body_end in _fenced_bodies(text, start):
        brace = text.find("{", body_start, body_end)
        if brace == -1 or text[body_start:brace].strip():
            continue
        try:
            # Decoding the whole text (not a slice) keeps line numbers true to the answer.
            value, _ = _DECODER.raw_decode(text, brace)
        except json.JSONDecodeError as exc:
            first_error = first_error or exc
            continue
        if isinstance(value, dict):
            return value
    if first_error is not None:
        raise _invalid_json(first_error)
    return None


def _from_braces(text: str, start: int) -> dict[str, Any]:
    """The first object in the text with a proposal key, else the first object at all.

    A `{` that starts a broken object hides the `{`s inside it, so a broken proposal is
    reported as broken instead of being mistaken for its first edit. The error reported is
    from the attempt that got furthest: the intended object, not a brace in the prose.
    """
    found: list[dict[str, Any]] = []
    furthest: tuple[int, json.JSONDecodeError] | None = None
    position = text.find("{", start)
    while position != -1:
        try:
            value, end = _DECODER.raw_decode(text, position)
        except json.JSONDecodeError as exc:
            end = max(exc.pos, position + 1)
            progress = exc.pos - position
            if _JSON_LIKE.match(text, position) and (furthest is None or progress > furthest[0]):
                furthest = (progress, exc)
        else:
            if isinstance(value, dict):
                if any(key in value for key in _PROPOSAL_KEYS):
                    return value
                found.append(value)
        position = text.find("{", end)
    if furthest is not None:
        raise _invalid_json(furthest[1])
    if found:
        return found[0]
    raise ProposalError("no JSON object found in the answer")


def _find_object(text: str) -> dict[str, Any]:
    think = _LEADING_THINK.match(text)
    start = think.end() if think else 0
    fenced = _from_fences(text, start)
    return fenced if fenced is not None else _from_braces(text, start)


def _unknown_keys(where: str, data: Mapping[str, Any], allowed: tuple[str, ...]) -> None:
    unknown = [key for key in data if key not in allowed]
    if unknown:
        raise ProposalError(f"{where} has unknown field {unknown[0]!r} (allowed: {', '.join(allowed)})")


def _parse_edit(index: int, raw: Any) -> FileEdit:
    where = f"edits[{index}]"
    if not isinstance(raw, dict):
        raise ProposalError(f"{where} must be an object")
    _unknown_keys(where, raw, _EDIT_KEYS)
    path = raw.get("path")
    if not isinstance(path, str):
        raise ProposalError(f"{where}.path {'is missing' if path is None else 'must be a string'}")
    if not path.strip():
        raise ProposalError(f"{where}.path is empty")
    delete = raw.get("delete", False)
    if not isinstance(delete, bool):
        raise ProposalError(f"{where}.delete must be true or false")
    search = raw.get("search", "")
    replace = raw.get("replace")
    if not isinstance(search, str):
        raise ProposalError(f"{where}.search must be a string")
    if delete:
        if search or replace:
            raise ProposalError(f"{where}: a delete takes no search or replace text")
        return FileEdit(path, "", "", delete=True)
    if replace is None:
        raise ProposalError(f"{where}.replace is missing")
    if not isinstance(replace, str):
        raise ProposalError(f"{where}.replace must be a string")
    # Stored trees use '\n' only; search text with '\r\n' would never be found.
    return FileEdit(path, search.replace("\r\n", "\n"), replace.replace("\r\n", "\n"))


def _parse_params(raw: Any) -> dict[str, Any]:
    if not isinstance(raw, dict):
        raise ProposalError("params must be an object")
    params: dict[str, Any] = {}
    for name, value in raw.items():
        key = canonical_param_key(name)
        if key is None:
            hint = f" (did you mean agent.{name}?)" if f"agent.{name}" in KNOWN_PARAMS else ""
            raise ProposalError(f"params: {name!r} is not a known parameter{hint}")
        if key in params:
            raise ProposalError(f"params: {key} is given twice")
        params[key] = value
    return params


def parse_proposal(text: str) -> ProposalDraft:
    """Find the proposal object in a proposer's answer and check its shape.

    Skips a leading `<think>…</think>` block, prefers a fenced json block, else takes the
    first parseable `{…}` in the text. Raises ProposalError with a message fit to show to
    the proposer (it names the field, or the line and column of a JSON error).
    """
    data = _find_object(text)
    _unknown_keys("the proposal", data, _PROPOSAL_KEYS)
    hypothesis = data.get("hypothesis")
    if hypothesis is None:
        raise ProposalError("hypothesis is missing")
    if not isinstance(hypothesis, str):
        raise ProposalError("hypothesis must be a string")
    if not hypothesis.strip():
        raise ProposalError("hypothesis is empty")
    raw_edits = data.get("edits", [])
    if raw_edits is None:
        raw_edits = []
    if not isinstance(raw_edits, list):
        raise ProposalError("edits must be a list")
    if len(raw_edits) > MAX_EDITS:
        raise ProposalError(f"{len(raw_edits)} edits; a proposal may have at most {MAX_EDITS}")
    edits = tuple(_parse_edit(index, raw) for index, raw in enumerate(raw_edits))
    raw_params = data.get("params", {})
    params = _parse_params({} if raw_params is None else raw_params)
    if not edits and not params:
        raise ProposalError("the proposal changes nothing: give at least one edit or parameter")
    tags = data.get("target_tags") or []
    if not isinstance(tags, list) or not all(isinstance(tag, str) for tag in tags):
        raise ProposalError("target_tags must be a list of strings")
    return ProposalDraft(hypothesis=hypothesis.strip(), edits=edits, params=params, target_tags=tuple(tags))


# Applying --------------------------------------------------------------------------------


def _occurrences(text: str, search: str) -> int:
    """Occurrences of `search`, overlapping ones included: each would be a different edit."""
    count, position = 0, text.find(search)
    while position != -1:
        count += 1
        position = text.find(search, position + 1)
    return count


def _apply_edit(tree: dict[str, str], edit: FileEdit) -> None:
    path = edit.path
    if edit.delete:
        if path not in tree:
            raise EditError(path, f"no file {path}")
        del tree[path]
        return
    if edit.search == "":
        existing = tree.get(path)
        if existing is None:
            tree[path] = edit.replace
        else:
            separator = "\n" if existing and not existing.endswith("\n") else ""
            tree[path] = existing + separator + edit.replace
        return
    if path not in tree:
        raise EditError(path, f"no file {path}")
    text = tree[path]
    count = _occurrences(text, edit.search)
    if count == 0:
        raise EditError(path, f"search text not found in {path}")
    if count > 1:
        raise EditError(path, f"search text occurs {count} times in {path}; make it unique")
    tree[path] = text.replace(edit.search, edit.replace, 1)


def _check_harness_yaml(text: str) -> None:
    try:
        parse_harness_config(text)
    except HarnessConfigError as exc:
        raise EditError(HARNESS_YAML, f"{exc.field}: {exc.message}") from None


def apply_edits(files: Mapping[str, str], draft: ProposalDraft) -> dict[str, str]:
    """The tree after the draft's edits (in order) and then its parameters.

    `files` is not changed. A harness.yaml that the edits or parameters changed must
    still be valid. Raises EditError naming the file at fault.
    """
    tree = dict(files)
    for edit in draft.edits:
        _apply_edit(tree, edit)
    if draft.params:
        tree[HARNESS_YAML] = apply_params(tree.get(HARNESS_YAML, ""), draft.params)
    elif HARNESS_YAML in tree and tree[HARNESS_YAML] != files.get(HARNESS_YAML):
        _check_harness_yaml(tree[HARNESS_YAML])
    return tree


# harness.yaml parameters -------------------------------------------------------------------
#
# The file is edited as text, line by line, so a reviewer's comments and layout survive a
# proposal. This handles the block style harness.yaml is written in; a flow mapping on the
# way (`loop_guard: {window: 4}`) is expanded into block lines. The result is re-read and
# checked, so a layout the editor does not understand fails loudly instead of silently.

_KEY_LINE = re.compile(
    r"^(?P<head>(?P<indent> *)(?P<q>[\"']?)(?P<key>[A-Za-z_][\w-]*)(?P=q) *:)(?P<rest>(?:[ \t].*)?)$"
)
_COMMENT = re.compile(r"[ \t]+#")


def _is_content(line: str) -> bool:
    stripped = line.strip()
    return bool(stripped) and not stripped.startswith("#")


def _indent(line: str) -> int:
    return len(line) - len(line.lstrip(" "))


def _flow(value: Any) -> str:
    dumped = yaml.safe_dump(value, default_flow_style=True, allow_unicode=True, width=1_000_000)
    return dumped.removesuffix("\n...\n").removesuffix("\n")


def _split_comment(rest: str) -> tuple[str, str]:
    match = _COMMENT.search(rest)
    return (rest, "") if match is None else (rest[: match.start()], rest[match.start() :])


def _block_end(lines: list[str], start: int, end: int, indent: int) -> int:
    """Index after the last content line of the value of a key indented by `indent`."""
    last = start
    for index in range(start, end):
        line = lines[index]
        if not _is_content(line):
            continue
        # YAML lets a list's "- item" lines sit at the same indent as their key.
        if _indent(line) < indent or (_indent(line) == indent and not line.lstrip().startswith("- ")):
            break
        last = index + 1
    return last


def _find_key(lines: list[str], start: int, end: int, key: str) -> tuple[int, re.Match[str]] | None:
    child_indent: int | None = None
    for index in range(start, end):
        if not _is_content(lines[index]):
            continue
        indent = _indent(lines[index])
        if child_indent is None:
            child_indent = indent
        if indent != child_indent:
            continue
        match = _KEY_LINE.match(lines[index])
        if match and match["key"] == key:
            return index, match
    return None


def _child_indent(lines: list[str], start: int, end: int, parent_indent: int) -> int:
    for index in range(start, end):
        if _is_content(lines[index]):
            return _indent(lines[index])
    return parent_indent + 2 if parent_indent >= 0 else 0


def _set_value(text: str, path: list[str], value: Any) -> str:
    lines = text.split("\n")
    # The whole file is the top-level block; keep a final newline's empty tail outside it.
    start, end, parent_indent = 0, len(lines) - (1 if lines[-1] == "" else 0), -1
    for depth, key in enumerate(path):
        found = _find_key(lines, start, end, key)
        if found is None:
            indent = _child_indent(lines, start, end, parent_indent)
            last_content = max((i for i in range(start, end) if _is_content(lines[i])), default=None)
            insert_at = last_content + 1 if last_content is not None else (end if parent_indent < 0 else start)
            new_lines = [f"{' ' * (indent + 2 * offset)}{name}:" for offset, name in enumerate(path[depth:-1])]
            new_lines.append(f"{' ' * (indent + 2 * (len(path) - 1 - depth))}{path[-1]}: {_flow(value)}")
            lines[insert_at:insert_at] = new_lines
            return "\n".join(lines)
        index, match = found
        indent = len(match["indent"])
        block_end = _block_end(lines, index + 1, end, indent)
        inline, comment = _split_comment(match["rest"])
        if depth == len(path) - 1:
            # A block value (a list written one item a line) is replaced by its flow form.
            lines[index:block_end] = [f"{match['head']} {_flow(value)}{comment}"]
            return "\n".join(lines)
        if inline.strip():
            section = ".".join(path[: depth + 1])
            try:
                existing = yaml.safe_load(inline)
            except yaml.YAMLError:
                raise EditError(HARNESS_YAML, f"{section}: invalid YAML") from None
            if existing is not None and not isinstance(existing, dict):
                raise EditError(HARNESS_YAML, f"{section} is not a section")
            children = [f"{' ' * (indent + 2)}{name}: {_flow(item)}" for name, item in (existing or {}).items()]
            lines[index:block_end] = [match["head"] + comment, *children]
            block_end = index + 1 + len(children)
        start, end, parent_indent = index + 1, block_end, indent
    raise AssertionError("unreachable: the last key returns")


def _load_mapping(text: str) -> dict[str, Any]:
    try:
        data = yaml.safe_load(text) if text.strip() else None
    except yaml.YAMLError as exc:
        raise EditError(HARNESS_YAML, f"invalid YAML: {exc}") from None
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise EditError(HARNESS_YAML, "the file must be a mapping of sections")
    return data


def _flatten(data: Mapping[str, Any], prefix: str = "") -> dict[str, Any]:
    flat: dict[str, Any] = {}
    for key, value in data.items():
        if isinstance(value, dict):
            flat.update(_flatten(value, f"{prefix}{key}."))
        else:
            flat[f"{prefix}{key}"] = value
    return flat


def apply_params(yaml_text: str, params: Mapping[str, Any]) -> str:
    """harness.yaml text with `params` set, everything else (comments too) left as it was.

    Keys are dotted (`sampling.temperature`, `agent.max_turns`); a bare name means
    `sampling.<name>`. A missing line is added at the end of its section, a missing
    section at the end of the file. Raises EditError for an unknown key or a result
    that `parse_harness_config` refuses.
    """
    text = yaml_text
    for name, value in params.items():
        key = canonical_param_key(name)
        if key is None:
            raise EditError(HARNESS_YAML, f"{name!r} is not a known parameter")
        if text and not text.endswith("\n"):
            text += "\n"
        text = _set_value(text, key.split("."), value)
        _check_harness_yaml(text)
        # Guards against a layout the line editor misread (e.g. the key written twice).
        if _flatten(_load_mapping(text)).get(key) != value:
            raise EditError(HARNESS_YAML, f"could not set {key} in place; edit harness.yaml by hand")
    return text


def param_changes(old_yaml: str, new_yaml: str) -> dict[str, tuple[Any, Any]]:
    """Dotted keys whose value differs, as (old, new); None stands for "not set"."""
    old = _flatten(_load_mapping(old_yaml))
    new = _flatten(_load_mapping(new_yaml))
    return {
        key: (old.get(key), new.get(key)) for key in sorted(old.keys() | new.keys()) if old.get(key) != new.get(key)
    }


# Duplicate detection -------------------------------------------------------------------------


def _normalised_lines(text: str) -> list[str]:
    return [collapsed for line in text.split("\n") if (collapsed := " ".join(line.split()).casefold())]


def _canonical_value(value: Any) -> Any:
    # 1 and 1.0 are the same temperature; bool is an int subclass and must stay a bool.
    if isinstance(value, float) and value.is_integer():
        return int(value)
    if isinstance(value, list):
        return [_canonical_value(item) for item in value]
    return value


def normalised_diff_key(old_files: Mapping[str, str], new_files: Mapping[str, str]) -> str:
    """SHA-256 (hex) naming what the change from `old_files` to `new_files` does.

    Each changed file contributes its added and removed lines (whitespace collapsed,
    case-folded, blank lines dropped, each list sorted), so the same guidance appended to
    the same file gives the same key even when the parents differ elsewhere. Changes to
    harness.yaml contribute as (parameter, new value), so comments and layout do not count.
    """
    files: list[list[Any]] = []
    params: list[list[Any]] = []
    for path in sorted(old_files.keys() | new_files.keys()):
        old_text, new_text = old_files.get(path, ""), new_files.get(path, "")
        if old_text == new_text:
            continue
        if path == HARNESS_YAML:
            try:
                changes = param_changes(old_text, new_text)
            except EditError:
                pass
            else:
                params.extend([key, _canonical_value(new)] for key, (_, new) in changes.items())
                continue
        old_lines, new_lines = _normalised_lines(old_text), _normalised_lines(new_text)
        added: list[str] = []
        removed: list[str] = []
        matcher = difflib.SequenceMatcher(None, old_lines, new_lines, autojunk=False)
        for tag, i1, i2, j1, j2 in matcher.get_opcodes():
            if tag != "equal":
                removed.extend(old_lines[i1:i2])
                added.extend(new_lines[j1:j2])
        if added or removed:
            files.append([path, sorted(added), sorted(removed)])
    payload = json.dumps({"files": files, "params": params}, ensure_ascii=False, separators=(",", ":"))
    return hashlib.sha256((DIFF_KEY_TAG + payload).encode("utf-8")).hexdigest()
