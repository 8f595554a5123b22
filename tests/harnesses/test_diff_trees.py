"""diff_trees: statuses, rename detection, unified hunks and side-by-side rows (pure)."""

from __future__ import annotations

from evolab.harnesses.tree import diff_trees

SKILL = "".join(f"Rule {n}: answer refunds politely.\n" for n in range(10))


def _by_path(diff: object) -> dict[str, object]:
    return {f.path: f for f in diff.files}  # type: ignore[attr-defined]


def test_identical_trees_have_no_file_diffs() -> None:
    diff = diff_trees({"a.md": "x\n"}, {"a.md": "x\n"})
    assert diff.files == ()
    assert diff.unchanged == 1


def test_added_removed_and_modified_files() -> None:
    old = {"keep.md": "same\n", "gone.md": "bye\n", "edit.md": "one\ntwo\nthree\n"}
    new = {"keep.md": "same\n", "new.md": "hello\n", "edit.md": "one\nTWO\nthree\n"}
    diff = diff_trees(old, new)
    files = _by_path(diff)
    assert [f.status for f in diff.files] == ["modified", "removed", "added"]
    assert files["new.md"].old_path is None and files["new.md"].added == 1
    assert files["gone.md"].new_path is None and files["gone.md"].removed == 1
    assert (files["edit.md"].added, files["edit.md"].removed) == (1, 1)
    assert diff.counts == {"added": 1, "removed": 1, "modified": 1, "renamed": 0}
    assert diff.summary == "1 added, 1 removed, 1 modified"
    assert diff.unchanged == 1


def test_unified_hunk_lines_and_header() -> None:
    old = "".join(f"line {n}\n" for n in range(1, 11))
    new = old.replace("line 5\n", "line five\n")
    (file_diff,) = diff_trees({"a.md": old}, {"a.md": new}).files
    (hunk,) = file_diff.hunks
    assert hunk.header == "@@ -2,7 +2,7 @@"
    kinds = [(line.kind, line.old_no, line.new_no, line.text) for line in hunk.lines]
    assert ("del", 5, None, "line 5") in kinds
    assert ("add", None, 5, "line five") in kinds
    assert kinds[0] == ("context", 2, 2, "line 2")
    assert file_diff.unified.splitlines()[:3] == ["--- a/a.md", "+++ b/a.md", "@@ -2,7 +2,7 @@"]
    assert "-line 5" in file_diff.unified and "+line five" in file_diff.unified


def test_split_rows_pair_replaced_lines_and_leave_gaps() -> None:
    (file_diff,) = diff_trees({"a.md": "a\nb\nc\n"}, {"a.md": "a\nB\nB2\nc\n"}).files
    rows = [(r.old_no, r.old_text, r.new_no, r.new_text) for r in file_diff.hunks[0].rows]
    assert rows == [(1, "a", 1, "a"), (2, "b", 2, "B"), (None, None, 3, "B2"), (3, "c", 4, "c")]
    kinds = [(r.old_kind, r.new_kind) for r in file_diff.hunks[0].rows]
    assert kinds == [("context", "context"), ("del", "add"), ("empty", "add"), ("context", "context")]


def test_added_file_diff_is_all_additions() -> None:
    (file_diff,) = diff_trees({}, {"new.md": "a\nb\n"}).files
    assert file_diff.status == "added"
    assert file_diff.unified.splitlines()[:3] == ["--- /dev/null", "+++ b/new.md", "@@ -0,0 +1,2 @@"]


def test_rename_with_identical_content() -> None:
    (file_diff,) = diff_trees({"skills/old.md": SKILL}, {"skills/new.md": SKILL}).files
    assert (file_diff.status, file_diff.old_path, file_diff.new_path) == ("renamed", "skills/old.md", "skills/new.md")
    assert file_diff.similarity == 1.0
    assert file_diff.hunks == ()


def test_rename_with_small_edit_is_detected_by_similarity() -> None:
    edited = SKILL.replace("Rule 3", "Rule three")
    (file_diff,) = diff_trees({"a.md": SKILL}, {"b.md": edited}).files
    assert file_diff.status == "renamed"
    assert 0.6 <= file_diff.similarity < 1.0
    assert (file_diff.added, file_diff.removed) == (1, 1)


def test_unrelated_remove_and_add_are_not_a_rename() -> None:
    diff = diff_trees({"a.md": SKILL}, {"b.md": "Something else entirely.\nNothing alike.\n"})
    assert sorted(f.status for f in diff.files) == ["added", "removed"]


def test_each_removed_file_pairs_with_at_most_one_added_file() -> None:
    diff = diff_trees({"a.md": SKILL}, {"b.md": SKILL, "c.md": SKILL})
    assert sorted(f.status for f in diff.files) == ["added", "renamed"]


def test_a_change_of_final_newline_is_shown() -> None:
    (file_diff,) = diff_trees({"a.md": "x\n"}, {"a.md": "x"}).files
    assert file_diff.status == "modified"
    assert file_diff.note == "No newline at end of file"
