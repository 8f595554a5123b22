"""Harness file trees as plain data: path rules, limits, the canonical digest, and diffs.

Pure Python, no ORM: actions call `normalise_tree` before anything is stored, so every
stored tree already obeys these rules and its digest is stable.

Canonical form (documented because the digest depends on it):
- paths are NFC-normalised, relative, '/'-separated, with no empty, '.' or '..' segment;
- text is valid Unicode with every line ending turned into '\\n' (browsers submit
  textareas with CRLF; the same file must not get two digests by the way it arrived);
- the digest is SHA-256 over a version tag plus the compact JSON of the path-sorted
  `[path, text]` pairs. JSON quoting makes the encoding unambiguous: no choice of names
  or contents can make two different trees serialise to the same bytes.
"""

from __future__ import annotations

import difflib
import hashlib
import json
import re
import unicodedata
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from itertools import zip_longest
from typing import Literal

from evolab.core.errors import ValidationFailed

MAX_FILES = 200
MAX_FILE_BYTES = 256 * 1024
MAX_TREE_BYTES = 2 * 1024 * 1024
MAX_PATH_CHARS = 255
MAX_SEGMENT_CHARS = 100
MAX_DEPTH = 16
# Rename detection compares every removed file with every added one; beyond this many
# pairs only identical contents count as renames, so a huge diff stays fast.
MAX_SIMILARITY_PAIRS = 2500
RENAME_SIMILARITY = 0.6
DIFF_CONTEXT = 3

DIGEST_TAG = "evolab-tree-v1\n"

# Unicode categories never allowed in a path: controls, format characters (bidi
# overrides can make `a.md‮dm.b` display as something else), surrogates, private use,
# and line/paragraph separators.
_FORBIDDEN_PATH_CATEGORIES = {"Cc", "Cf", "Cs", "Co", "Zl", "Zp"}
# In file text: C0 controls other than tab, newline, carriage return and form feed, plus
# DEL. NUL marks a binary file; escape sequences would make a file look different in a
# terminal than in the browser.
_FORBIDDEN_TEXT = re.compile(r"[\x00-\x08\x0b\x0e-\x1f\x7f]")
_DRIVE = re.compile(r"^[A-Za-z]:")


def _path_error(path: object, message: str) -> ValidationFailed:
    return ValidationFailed(message, field=f"files[{path!r}]", details={"path": path})


def normalise_path(path: str) -> str:
    """Return `path` in canonical form, or raise ValidationFailed naming it.

    Refused: empty names, absolute paths (also `C:`), backslashes, empty, '.' and '..'
    segments, segments with leading or trailing whitespace, control and format
    characters, paths longer than MAX_PATH_CHARS or deeper than MAX_DEPTH.
    """
    if not isinstance(path, str):
        raise _path_error(path, "A file path must be text.")
    if path == "" or path.strip() == "":
        raise _path_error(path, "A file needs a name.")
    nfc = unicodedata.normalize("NFC", path)
    for char in nfc:
        if unicodedata.category(char) in _FORBIDDEN_PATH_CATEGORIES:
            raise _path_error(path, f"{path!r}: file names cannot contain the control character U+{ord(char):04X}.")
    if "\\" in nfc:
        raise _path_error(path, f"{path!r}: use '/' to separate folders, not '\\'.")
    if nfc.startswith("/") or _DRIVE.match(nfc):
        raise _path_error(path, f"{path!r}: paths are relative to the harness; absolute paths are refused.")
    if len(nfc) > MAX_PATH_CHARS:
        raise _path_error(path, f"{path[:40]!r}…: a path may have at most {MAX_PATH_CHARS} characters.")
    segments = nfc.split("/")
    if len(segments) > MAX_DEPTH:
        raise _path_error(path, f"{path!r}: folders may nest at most {MAX_DEPTH} deep.")
    for segment in segments:
        if segment == "":
            raise _path_error(path, f"{path!r}: empty folder or file name (a doubled or trailing '/').")
        if segment in (".", ".."):
            raise _path_error(path, f"{path!r}: '{segment}' segments are refused; paths must stay inside the harness.")
        if segment != segment.strip():
            raise _path_error(path, f"{path!r}: names cannot start or end with whitespace.")
        if len(segment) > MAX_SEGMENT_CHARS:
            raise _path_error(path, f"{path!r}: a single name may have at most {MAX_SEGMENT_CHARS} characters.")
    return nfc


def normalise_text(path: str, text: str) -> str:
    """Text with '\\n' line endings; refuses non-text, control characters and oversize files."""
    if not isinstance(text, str):
        raise _path_error(path, f"{path}: the content must be text.")
    text = text.replace("\r\n", "\n").replace("\r", "\n")
    bad = _FORBIDDEN_TEXT.search(text)
    if bad is not None:
        line = text.count("\n", 0, bad.start()) + 1
        kind = (
            "a NUL byte (binary data?)" if bad.group() == "\x00" else f"the control character U+{ord(bad.group()):04X}"
        )
        raise _path_error(path, f"{path}: line {line} contains {kind}; harness files must be plain text.")
    try:
        size = len(text.encode("utf-8"))
    except UnicodeEncodeError:
        # Lone surrogates survive JSON decoding but are not text.
        raise _path_error(path, f"{path}: the content is not valid Unicode text.") from None
    if size > MAX_FILE_BYTES:
        raise _path_error(path, f"{path}: {size:,} bytes; a file may have at most {MAX_FILE_BYTES // 1024} KiB.")
    return text


def normalise_tree(files: Mapping[str, str] | Iterable[tuple[str, str]]) -> dict[str, str]:
    """Validate a whole tree and return it canonical: normalised paths, sorted keys.

    Takes pairs as well as a mapping so that callers reading archives can pass names that
    repeat (a zip may hold one name twice) and have them refused instead of overwritten.
    Refuses two names that are equal after NFC normalisation or that differ only by case
    (they would overwrite each other on macOS and Windows), a path that is both a file
    and a folder, more than MAX_FILES files, and trees above MAX_TREE_BYTES.
    """
    pairs = list(files.items()) if isinstance(files, Mapping) else list(files)
    if not pairs:
        raise ValidationFailed("A harness needs at least one file.", field="files")
    if len(pairs) > MAX_FILES:
        raise ValidationFailed(f"{len(pairs)} files; a harness may have at most {MAX_FILES}.", field="files")
    tree: dict[str, str] = {}
    originals: dict[str, str] = {}
    folded: dict[str, str] = {}
    total = 0
    for raw_path, raw_text in pairs:
        path = normalise_path(raw_path)
        if path in tree:
            first = originals[path]
            how = "" if first == raw_path else " (the same name after Unicode normalisation)"
            raise _path_error(raw_path, f"{path!r} appears twice{how}.")
        key = path.casefold()
        if key in folded:
            raise _path_error(raw_path, f"{path!r} and {folded[key]!r} differ only by upper/lower case.")
        text = normalise_text(raw_path, raw_text)
        total += len(text.encode("utf-8"))
        tree[path] = text
        originals[path] = raw_path
        folded[key] = path
    if total > MAX_TREE_BYTES:
        raise ValidationFailed(
            f"{total:,} bytes in all; a harness may have at most {MAX_TREE_BYTES // (1024 * 1024)} MiB.", field="files"
        )
    for path in tree:
        # A name used as a file must not also be a folder: no file system can hold both.
        parts = path.split("/")
        for depth in range(1, len(parts)):
            folder = "/".join(parts[:depth])
            if folder in tree:
                raise _path_error(originals[path], f"{folder!r} is a file, so {path!r} cannot be inside it.")
    return dict(sorted(tree.items()))


def canonical_digest(files: Mapping[str, str]) -> str:
    """SHA-256 (hex) of a tree already passed through `normalise_tree`.

    Independent of the mapping's order; see the module docstring for the encoding.
    """
    pairs = sorted(files.items())
    payload = json.dumps(pairs, ensure_ascii=False, separators=(",", ":"))
    return hashlib.sha256((DIGEST_TAG + payload).encode("utf-8")).hexdigest()


# Diffs ---------------------------------------------------------------------------------

FileStatus = Literal["added", "removed", "modified", "renamed"]
LineKind = Literal["context", "add", "del"]


@dataclass(frozen=True)
class DiffLine:
    kind: LineKind
    old_no: int | None
    new_no: int | None
    text: str


@dataclass(frozen=True)
class SplitRow:
    """One row of a side-by-side view; a side is None where that version has no line."""

    old_no: int | None
    old_text: str | None
    new_no: int | None
    new_text: str | None

    @property
    def old_kind(self) -> str:
        if self.old_no is None:
            return "empty"
        return "context" if self.new_no is not None and self.old_text == self.new_text else "del"

    @property
    def new_kind(self) -> str:
        if self.new_no is None:
            return "empty"
        return "context" if self.old_no is not None and self.old_text == self.new_text else "add"


@dataclass(frozen=True)
class Hunk:
    old_start: int
    old_count: int
    new_start: int
    new_count: int
    lines: tuple[DiffLine, ...]
    rows: tuple[SplitRow, ...]

    @property
    def header(self) -> str:
        return f"@@ -{self.old_start},{self.old_count} +{self.new_start},{self.new_count} @@"


@dataclass(frozen=True)
class FileDiff:
    status: FileStatus
    old_path: str | None
    new_path: str | None
    hunks: tuple[Hunk, ...]
    added: int
    removed: int
    # 1.0 for a rename with identical content; None unless renamed.
    similarity: float | None = None
    # Set when the texts differ only in whether the last line ends with a newline.
    note: str = ""

    @property
    def path(self) -> str:
        return self.new_path or self.old_path or ""

    @property
    def unified(self) -> str:
        """The file's change as a standard unified diff (`---`/`+++` headers, hunks)."""
        old = f"a/{self.old_path}" if self.old_path else "/dev/null"
        new = f"b/{self.new_path}" if self.new_path else "/dev/null"
        out = [f"--- {old}", f"+++ {new}"]
        marks = {"context": " ", "add": "+", "del": "-"}
        for hunk in self.hunks:
            out.append(hunk.header)
            out.extend(marks[line.kind] + line.text for line in hunk.lines)
        if self.note:
            out.append(f"\\ {self.note}")
        return "\n".join(out) + "\n"


@dataclass(frozen=True)
class TreeDiff:
    files: tuple[FileDiff, ...]
    unchanged: int = 0
    counts: dict[str, int] = field(default_factory=dict)

    @property
    def added(self) -> int:
        return sum(f.added for f in self.files)

    @property
    def removed(self) -> int:
        return sum(f.removed for f in self.files)

    @property
    def summary(self) -> str:
        """E.g. "1 added, 2 modified"; statuses with no file are left out."""
        return ", ".join(f"{count} {status}" for status, count in self.counts.items() if count)


def _lines(text: str) -> list[str]:
    """Lines without their endings; a final newline does not start an extra empty line."""
    lines = text.split("\n")
    if lines[-1] == "":
        lines.pop()
    return lines


def _hunks(old_text: str, new_text: str, context: int = DIFF_CONTEXT) -> tuple[tuple[Hunk, ...], int, int]:
    old, new = _lines(old_text), _lines(new_text)
    matcher = difflib.SequenceMatcher(None, old, new, autojunk=False)
    hunks: list[Hunk] = []
    added = removed = 0
    for group in matcher.get_grouped_opcodes(context):
        lines: list[DiffLine] = []
        rows: list[SplitRow] = []
        for tag, i1, i2, j1, j2 in group:
            if tag == "equal":
                for offset in range(i2 - i1):
                    i, j = i1 + offset, j1 + offset
                    lines.append(DiffLine("context", i + 1, j + 1, old[i]))
                    rows.append(SplitRow(i + 1, old[i], j + 1, new[j]))
                continue
            lines.extend(DiffLine("del", i + 1, None, old[i]) for i in range(i1, i2))
            lines.extend(DiffLine("add", None, j + 1, new[j]) for j in range(j1, j2))
            removed += i2 - i1
            added += j2 - j1
            # Side by side, a replaced block pairs its lines in order; leftovers face a gap.
            for i, j in zip_longest(range(i1, i2), range(j1, j2)):
                rows.append(
                    SplitRow(
                        None if i is None else i + 1,
                        None if i is None else old[i],
                        None if j is None else j + 1,
                        None if j is None else new[j],
                    )
                )
        first, last = group[0], group[-1]
        old_start, old_end, new_start, new_end = first[1], last[2], first[3], last[4]
        hunks.append(
            Hunk(
                # Unified-diff convention: an empty range starts at the line before it.
                old_start=old_start + 1 if old_end > old_start else old_start,
                old_count=old_end - old_start,
                new_start=new_start + 1 if new_end > new_start else new_start,
                new_count=new_end - new_start,
                lines=tuple(lines),
                rows=tuple(rows),
            )
        )
    return tuple(hunks), added, removed


def _file_diff(
    status: FileStatus,
    old_path: str | None,
    new_path: str | None,
    old_text: str,
    new_text: str,
    similarity: float | None = None,
) -> FileDiff:
    hunks, added, removed = _hunks(old_text, new_text)
    note = ""
    if old_text != new_text and not hunks:
        note = "No newline at end of file" if old_text.endswith("\n") else "Newline added at end of file"
    return FileDiff(status, old_path, new_path, hunks, added, removed, similarity, note)


def _similarity(old_text: str, new_text: str) -> float:
    matcher = difflib.SequenceMatcher(None, _lines(old_text), _lines(new_text), autojunk=False)
    # The cheap upper bounds first: most unrelated pairs stop here.
    if matcher.real_quick_ratio() < RENAME_SIMILARITY or matcher.quick_ratio() < RENAME_SIMILARITY:
        return 0.0
    return matcher.ratio()


def _pair_renames(
    old: Mapping[str, str], new: Mapping[str, str], removed: list[str], added: list[str]
) -> list[tuple[str, str, float]]:
    """Pair removed with added files: identical content first, then the most similar."""
    pairs: list[tuple[str, str, float]] = []
    by_content: dict[str, list[str]] = {}
    for path in added:
        by_content.setdefault(new[path], []).append(path)
    left: list[str] = []
    for path in removed:
        candidates = by_content.get(old[path])
        if candidates:
            pairs.append((path, candidates.pop(0), 1.0))
        else:
            left.append(path)
    taken = {new_path for _, new_path, _ in pairs}
    right = [path for path in added if path not in taken]
    if not left or not right or len(left) * len(right) > MAX_SIMILARITY_PAIRS:
        return pairs
    scored = sorted(
        (
            (score, old_path, new_path)
            for old_path in left
            for new_path in right
            if old[old_path]
            and new[new_path]
            and (score := _similarity(old[old_path], new[new_path])) >= RENAME_SIMILARITY
        ),
        key=lambda item: (-item[0], item[1], item[2]),
    )
    used_old: set[str] = set()
    used_new: set[str] = set()
    for score, old_path, new_path in scored:
        if old_path in used_old or new_path in used_new:
            continue
        used_old.add(old_path)
        used_new.add(new_path)
        pairs.append((old_path, new_path, round(score, 3)))
    return pairs


def diff_trees(old: Mapping[str, str], new: Mapping[str, str]) -> TreeDiff:
    """Per-file differences from `old` to `new`, in path order; unchanged files are counted.

    A removed file and an added file count as one rename when their contents are equal
    or at least RENAME_SIMILARITY alike (by lines).
    """
    removed = sorted(set(old) - set(new))
    added = sorted(set(new) - set(old))
    renames = _pair_renames(old, new, removed, added)
    renamed_old = {old_path for old_path, _, _ in renames}
    renamed_new = {new_path for _, new_path, _ in renames}
    files: list[FileDiff] = []
    unchanged = 0
    for path in sorted(set(old) & set(new)):
        if old[path] == new[path]:
            unchanged += 1
        else:
            files.append(_file_diff("modified", path, path, old[path], new[path]))
    files.extend(_file_diff("added", None, path, "", new[path]) for path in added if path not in renamed_new)
    files.extend(_file_diff("removed", path, None, old[path], "") for path in removed if path not in renamed_old)
    files.extend(
        _file_diff("renamed", old_path, new_path, old[old_path], new[new_path], score)
        for old_path, new_path, score in renames
    )
    files.sort(key=lambda f: f.path)
    counts = {
        status: sum(1 for f in files if f.status == status) for status in ("added", "removed", "modified", "renamed")
    }
    return TreeDiff(files=tuple(files), unchanged=unchanged, counts=counts)
