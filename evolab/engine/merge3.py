"""Three-way merge of harness file trees, line by line (diff3), as plain data.

`merge_trees(base, ours, theirs)` combines two trees that both started from `base`:
a change made on one side only is taken, the same change made on both sides is taken
once, and different changes to the same lines are a conflict. Rebasing a proposal
merges (base = its base, ours = head, theirs = its candidate); reverting one merges
(base = its candidate, ours = head, theirs = its base).

Each file is aligned with its base twice (`difflib.SequenceMatcher`, base ↔ ours and
base ↔ theirs); lines matched on both sides are stable, and each stretch between stable
lines is taken from whichever side changed it, or marked as a conflict:

    <<<<<<< ours
    ours' lines
    ||||||| base
    the base's lines
    =======
    theirs' lines
    >>>>>>> theirs

Changes that touch or adjoin the same lines conflict even when a person would see how
to combine them (as in git): the merge never guesses.
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Literal

ConflictKind = Literal["content", "add/add", "delete/modify", "modify/delete"]

# A line a merge wrote as a conflict marker; "=======" alone is left out on purpose: it
# is also a Markdown heading underline.
_MARKER_LINE = re.compile(r"^(<{7}|\|{7}|>{7})( |$)", re.MULTILINE)


@dataclass(frozen=True)
class Labels:
    """What the conflict markers call each side, e.g. "head v7", "base v5", "proposal #12"."""

    ours: str = "ours"
    base: str = "base"
    theirs: str = "theirs"


@dataclass(frozen=True)
class MergeConflict:
    """A file both sides changed differently. `None` texts mean "absent on that side";
    `merged_with_markers` is the file as the merge leaves it for a person to resolve."""

    path: str
    kind: ConflictKind
    ours_text: str | None
    theirs_text: str | None
    base_text: str | None
    merged_with_markers: str


@dataclass(frozen=True)
class TreeMerge:
    """The merged tree and its conflicts (sorted by path). A conflicting path holds its
    marked text in `files`, so `files` alone is never a finished tree unless `clean`."""

    files: dict[str, str]
    conflicts: tuple[MergeConflict, ...]

    @property
    def clean(self) -> bool:
        return not self.conflicts

    @property
    def conflict_paths(self) -> list[str]:
        return [conflict.path for conflict in self.conflicts]


class UnresolvedConflict(ValueError):
    """A resolution is missing, or still holds conflict markers; `path` is the file."""

    def __init__(self, path: str, message: str) -> None:
        super().__init__(message)
        self.path = path
        self.message = message


def has_conflict_markers(text: str) -> bool:
    return _MARKER_LINE.search(text) is not None


@dataclass(frozen=True)
class _Sync:
    """A stretch of lines matched in all three: base[b0:b1] == ours[o0:o1] == theirs[t0:t1]."""

    b0: int
    b1: int
    o0: int
    o1: int
    t0: int
    t1: int


def _matches(base: Sequence[str], side: Sequence[str]) -> list[difflib.Match]:
    return difflib.SequenceMatcher(None, base, side, autojunk=False).get_matching_blocks()


def _sync_regions(base: Sequence[str], ours: Sequence[str], theirs: Sequence[str]) -> list[_Sync]:
    """Intersections of the base↔ours and base↔theirs matches, in order, ending with an
    empty region at the end of all three (so the last unstable stretch is visited)."""
    ours_blocks, theirs_blocks = _matches(base, ours), _matches(base, theirs)
    regions: list[_Sync] = []
    i = j = 0
    while i < len(ours_blocks) and j < len(theirs_blocks):
        o_base, o_side, o_len = ours_blocks[i]
        t_base, t_side, t_len = theirs_blocks[j]
        start, end = max(o_base, t_base), min(o_base + o_len, t_base + t_len)
        if start < end:
            o0, t0 = o_side + start - o_base, t_side + start - t_base
            regions.append(_Sync(start, end, o0, o0 + end - start, t0, t0 + end - start))
        if o_base + o_len < t_base + t_len:
            i += 1
        else:
            j += 1
    regions.append(_Sync(len(base), len(base), len(ours), len(ours), len(theirs), len(theirs)))
    return regions


def _block(lines: Sequence[str]) -> list[str]:
    """Lines for inside a marked conflict: a last line without a newline gets one, so the
    next marker starts its own line."""
    out = list(lines)
    if out and not out[-1].endswith("\n"):
        out[-1] += "\n"
    return out


def _marked(ours: Sequence[str], base: Sequence[str], theirs: Sequence[str], labels: Labels) -> list[str]:
    return [
        f"<<<<<<< {labels.ours}\n",
        *_block(ours),
        f"||||||| {labels.base}\n",
        *_block(base),
        "=======\n",
        *_block(theirs),
        f">>>>>>> {labels.theirs}\n",
    ]


def merge_text(base: str, ours: str, theirs: str, labels: Labels = Labels()) -> tuple[str, bool]:
    """The line-based three-way merge of one file: (merged text, True if it conflicted).
    Conflicting stretches are written with markers; the rest is merged."""
    b, o, t = base.splitlines(keepends=True), ours.splitlines(keepends=True), theirs.splitlines(keepends=True)
    out: list[str] = []
    conflicted = False
    bi = oi = ti = 0
    for sync in _sync_regions(b, o, t):
        b_part, o_part, t_part = b[bi : sync.b0], o[oi : sync.o0], t[ti : sync.t0]
        if o_part or t_part:
            if o_part == t_part or t_part == b_part:
                out.extend(o_part)
            elif o_part == b_part:
                out.extend(t_part)
            else:
                out.extend(_marked(o_part, b_part, t_part, labels))
                conflicted = True
        # Lines both sides deleted (b_part with empty o_part and t_part) are dropped.
        out.extend(b[sync.b0 : sync.b1])
        bi, oi, ti = sync.b1, sync.o1, sync.t1
    return "".join(out), conflicted


def _file_conflict(
    path: str, base: str | None, ours: str | None, theirs: str | None, labels: Labels
) -> tuple[str | None, MergeConflict | None]:
    """Merge one path that all three have differently (absent counts as a state)."""
    if base is None:
        assert ours is not None and theirs is not None
        text, _ = merge_text("", ours, theirs, labels)
        return text, MergeConflict(path, "add/add", ours, theirs, None, text)
    if ours is None or theirs is None:
        kind: ConflictKind = "delete/modify" if ours is None else "modify/delete"
        lines = [side.splitlines(keepends=True) if side is not None else [] for side in (ours, base, theirs)]
        text = "".join(_marked(lines[0], lines[1], lines[2], labels))
        return text, MergeConflict(path, kind, ours, theirs, base, text)
    text, conflicted = merge_text(base, ours, theirs, labels)
    return text, MergeConflict(path, "content", ours, theirs, base, text) if conflicted else None


def merge_trees(
    base: Mapping[str, str], ours: Mapping[str, str], theirs: Mapping[str, str], labels: Labels = Labels()
) -> TreeMerge:
    """Three-way merge of `{path: text}` trees. Per path: one side unchanged → the other
    side (so a file deleted on one side and untouched on the other is deleted); both the
    same → that; otherwise a line merge, and a conflict where it cannot merge (also a file
    deleted on one side and changed on the other, or added on both with different text)."""
    files: dict[str, str] = {}
    conflicts: list[MergeConflict] = []
    for path in sorted(base.keys() | ours.keys() | theirs.keys()):
        b, o, t = base.get(path), ours.get(path), theirs.get(path)
        if o == t or t == b:
            merged = o
        elif o == b:
            merged = t
        else:
            merged, conflict = _file_conflict(path, b, o, t, labels)
            if conflict is not None:
                conflicts.append(conflict)
        if merged is not None:
            files[path] = merged
    return TreeMerge(files=files, conflicts=tuple(conflicts))


def apply_resolutions(merge: TreeMerge, resolved: Mapping[str, str | None]) -> dict[str, str]:
    """The finished tree: each conflicting path takes its resolution (`None` deletes the
    file). Raises UnresolvedConflict for a missing resolution or one that still holds
    conflict markers; paths that did not conflict cannot be overridden here."""
    files = dict(merge.files)
    wanted = set(merge.conflict_paths)
    extra = sorted(set(resolved) - wanted)
    if extra:
        raise UnresolvedConflict(extra[0], f"{extra[0]} did not conflict; only conflicting files take a resolution.")
    for path in merge.conflict_paths:
        if path not in resolved:
            raise UnresolvedConflict(path, f"{path} has a conflict: resolve it.")
        text = resolved[path]
        if text is None:
            files.pop(path, None)
            continue
        if has_conflict_markers(text):
            raise UnresolvedConflict(path, f"{path} still has conflict markers (<<<<<<<, |||||||, >>>>>>>).")
        files[path] = text
    return files
