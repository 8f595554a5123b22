from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from evolab.engine.merge3 import (
    Labels,
    TreeMerge,
    UnresolvedConflict,
    apply_resolutions,
    has_conflict_markers,
    merge_text,
    merge_trees,
)

BASE = "one\ntwo\nthree\nfour\nfive\nsix\nseven\n"


def _lines(*items: str) -> str:
    return "".join(f"{item}\n" for item in items)


# --- one file ---------------------------------------------------------------------


def test_changes_to_different_lines_merge_cleanly() -> None:
    ours = BASE.replace("two", "TWO")
    theirs = BASE.replace("six", "SIX")

    assert merge_text(BASE, ours, theirs) == (_lines("one", "TWO", "three", "four", "five", "SIX", "seven"), False)


def test_an_insertion_and_a_deletion_elsewhere_merge_cleanly() -> None:
    ours = BASE.replace("three\n", "three\nthree and a half\n")
    theirs = BASE.replace("six\n", "")

    merged, conflicted = merge_text(BASE, ours, theirs)

    assert not conflicted
    assert merged == _lines("one", "two", "three", "three and a half", "four", "five", "seven")


def test_the_same_change_on_both_sides_is_taken_once() -> None:
    both = BASE.replace("four", "FOUR") + "eight\n"

    assert merge_text(BASE, both, both) == (both, False)


def test_lines_deleted_on_both_sides_stay_deleted() -> None:
    ours = BASE.replace("three\n", "").replace("one", "ONE")
    theirs = BASE.replace("three\n", "").replace("seven", "SEVEN")

    assert merge_text(BASE, ours, theirs) == (_lines("ONE", "two", "four", "five", "six", "SEVEN"), False)


def test_different_changes_to_the_same_lines_conflict_with_markers() -> None:
    ours = BASE.replace("four", "FOUR")
    theirs = BASE.replace("four", "4")

    merged, conflicted = merge_text(BASE, ours, theirs)

    assert conflicted
    assert merged == (
        _lines("one", "two", "three")
        + "<<<<<<< ours\nFOUR\n||||||| base\nfour\n=======\n4\n>>>>>>> theirs\n"
        + _lines("five", "six", "seven")
    )
    assert has_conflict_markers(merged)


def test_insertions_at_the_same_place_conflict() -> None:
    ours = BASE.replace("seven\n", "seven\neight\n")
    theirs = BASE.replace("seven\n", "seven\nhuit\n")

    merged, conflicted = merge_text(BASE, ours, theirs, Labels(ours="head v7", base="base v5", theirs="proposal #3"))

    assert conflicted
    assert merged.endswith("seven\n<<<<<<< head v7\neight\n||||||| base v5\n=======\nhuit\n>>>>>>> proposal #3\n")


def test_changes_to_adjoining_lines_conflict_rather_than_guess() -> None:
    ours = BASE.replace("three", "THREE")
    theirs = BASE.replace("four", "FOUR")

    merged, conflicted = merge_text(BASE, ours, theirs)

    assert conflicted
    assert "<<<<<<< ours\nTHREE\nfour\n||||||| base\nthree\nfour\n=======\nthree\nFOUR\n>>>>>>> theirs\n" in merged


def test_a_conflict_on_a_last_line_without_newline_keeps_markers_on_their_own_lines() -> None:
    merged, conflicted = merge_text("a\nb", "a\nB", "a\nbee")

    assert conflicted
    assert merged == "a\n<<<<<<< ours\nB\n||||||| base\nb\n=======\nbee\n>>>>>>> theirs\n"


def test_a_newline_added_at_the_end_by_one_side_merges() -> None:
    assert merge_text("a\nmid\nb", "a\nmid\nb\n", "A\nmid\nb") == ("A\nmid\nb\n", False)


# --- file trees -------------------------------------------------------------------


def test_files_changed_on_one_side_only_are_taken_from_that_side() -> None:
    base = {"a.md": "a\n", "b.md": "b\n", "gone.md": "x\n"}
    ours = {"a.md": "A\n", "b.md": "b\n", "gone.md": "x\n", "new-ours.md": "o\n"}
    theirs = {"a.md": "a\n", "b.md": "B\n", "new-theirs.md": "t\n"}

    merge = merge_trees(base, ours, theirs)

    assert merge.clean
    assert merge.files == {"a.md": "A\n", "b.md": "B\n", "new-ours.md": "o\n", "new-theirs.md": "t\n"}


def test_a_file_deleted_on_one_side_and_unchanged_on_the_other_is_deleted() -> None:
    base = {"a.md": "a\n", "b.md": "b\n"}

    assert merge_trees(base, {"b.md": "b\n"}, base).files == {"b.md": "b\n"}
    assert merge_trees(base, base, {"a.md": "a\n"}).files == {"a.md": "a\n"}


def test_a_file_deleted_on_both_sides_or_added_identically_merges() -> None:
    merge = merge_trees({"a.md": "a\n"}, {"n.md": "same\n"}, {"n.md": "same\n"})

    assert merge == TreeMerge(files={"n.md": "same\n"}, conflicts=())


def test_deleted_against_modified_conflicts_both_ways() -> None:
    base = {"a.md": "a\nb\n"}

    deleted_by_us = merge_trees(base, {}, {"a.md": "a\nB\n"})
    deleted_by_them = merge_trees(base, {"a.md": "a\nB\n"}, {})

    (ours_gone,) = deleted_by_us.conflicts
    assert (ours_gone.kind, ours_gone.ours_text, ours_gone.theirs_text, ours_gone.base_text) == (
        "delete/modify",
        None,
        "a\nB\n",
        "a\nb\n",
    )
    assert ours_gone.merged_with_markers == "<<<<<<< ours\n||||||| base\na\nb\n=======\na\nB\n>>>>>>> theirs\n"
    assert deleted_by_us.files["a.md"] == ours_gone.merged_with_markers
    (theirs_gone,) = deleted_by_them.conflicts
    assert theirs_gone.kind == "modify/delete" and theirs_gone.theirs_text is None


def test_a_file_added_on_both_sides_with_different_text_conflicts() -> None:
    merge = merge_trees({}, {"n.md": "ours\n"}, {"n.md": "theirs\n"})

    (conflict,) = merge.conflicts
    assert (conflict.path, conflict.kind, conflict.base_text) == ("n.md", "add/add", None)
    assert conflict.merged_with_markers == "<<<<<<< ours\nours\n||||||| base\n=======\ntheirs\n>>>>>>> theirs\n"


def test_content_conflicts_are_listed_by_path_and_the_rest_merges() -> None:
    base = {"a.md": BASE, "b.md": BASE, "c.md": "c\n"}
    ours = {"a.md": BASE.replace("one", "1"), "b.md": BASE.replace("one", "uno"), "c.md": "c\n"}
    theirs = {"a.md": BASE.replace("seven", "7"), "b.md": BASE.replace("one", "eins"), "c.md": "C\n"}

    merge = merge_trees(base, ours, theirs)

    assert merge.conflict_paths == ["b.md"]
    assert merge.files["a.md"] == BASE.replace("one", "1").replace("seven", "7")
    assert merge.files["c.md"] == "C\n"
    assert merge.conflicts[0].kind == "content" and "<<<<<<< ours\nuno\n" in merge.files["b.md"]


# --- resolutions ------------------------------------------------------------------


def _conflicted() -> TreeMerge:
    return merge_trees(
        {"a.md": "a\n", "b.md": "b\n", "d.md": "d\n"},
        {"a.md": "A\n", "b.md": "b\n"},
        {"a.md": "aa\n", "b.md": "B\n", "d.md": "D\n"},
    )


def test_resolutions_finish_the_tree_and_none_deletes() -> None:
    merge = _conflicted()
    assert merge.conflict_paths == ["a.md", "d.md"]

    assert apply_resolutions(merge, {"a.md": "A and aa\n", "d.md": None}) == {"a.md": "A and aa\n", "b.md": "B\n"}


@pytest.mark.parametrize(
    ("resolved", "path", "message"),
    [
        ({"a.md": "x\n"}, "d.md", "d.md has a conflict: resolve it."),
        ({"a.md": "<<<<<<< ours\nA\n", "d.md": None}, "a.md", "a.md still has conflict markers"),
        ({"a.md": "x\n", "d.md": "ok\n>>>>>>> theirs\n"}, "d.md", "d.md still has conflict markers"),
        ({"a.md": "x\n", "d.md": None, "b.md": "changed\n"}, "b.md", "b.md did not conflict"),
    ],
)
def test_unfinished_resolutions_are_refused(resolved: dict[str, str | None], path: str, message: str) -> None:
    with pytest.raises(UnresolvedConflict) as raised:
        apply_resolutions(_conflicted(), resolved)

    assert raised.value.path == path and message in raised.value.message


def test_a_markdown_underline_is_not_a_conflict_marker() -> None:
    assert not has_conflict_markers("Title\n=======\ntext\n")
    assert not has_conflict_markers("a <<<<<<< b\n")
    assert has_conflict_markers("x\n||||||| base\n")
    assert has_conflict_markers(">>>>>>>\n")


# --- properties -------------------------------------------------------------------

# Few distinct lines, so sides often touch the same ones; one without a newline.
texts = st.lists(st.sampled_from(["a\n", "b\n", "c\n", "d\n", "e\n", "f"]), max_size=12).map("".join)
trees = st.dictionaries(st.sampled_from(["a.md", "b.md", "skills/c.md"]), texts, max_size=3)


@given(base=texts, other=texts)
def test_merging_with_an_unchanged_side_gives_the_other_side(base: str, other: str) -> None:
    assert merge_text(base, base, other) == (other, False)
    assert merge_text(base, other, base) == (other, False)


@given(base=texts, both=texts)
def test_the_same_change_on_both_sides_merges_to_it(base: str, both: str) -> None:
    assert merge_text(base, both, both) == (both, False)


@given(base=texts, ours=texts, theirs=texts)
def test_conflicts_do_not_depend_on_which_side_is_ours(base: str, ours: str, theirs: str) -> None:
    merged, conflicted = merge_text(base, ours, theirs)
    swapped, swapped_conflicted = merge_text(base, theirs, ours)

    assert conflicted == swapped_conflicted
    assert conflicted == has_conflict_markers(merged)
    if not conflicted:
        assert merged == swapped


@given(
    size=st.integers(min_value=3, max_value=30),
    data=st.data(),
)
def test_changes_separated_by_an_untouched_line_always_merge(size: int, data: st.DataObject) -> None:
    base = [f"base {i}\n" for i in range(size)]
    keep = data.draw(st.integers(min_value=1, max_value=size - 2), label="untouched line")
    new_lines = st.lists(st.sampled_from(["x\n", "y\n", "z\n"]), max_size=3)

    def edit(lines: list[str], low: int, high: int, side: str) -> list[str]:
        start = data.draw(st.integers(min_value=low, max_value=high), label=f"{side} start")
        end = data.draw(st.integers(min_value=start, max_value=high), label=f"{side} end")
        inserted = [f"{side} {line}" for line in data.draw(new_lines, label=f"{side} lines")]
        return lines[:start] + inserted + lines[end:]

    ours = edit(base, 0, keep, "ours")
    theirs = edit(base, keep + 1, size, "theirs")
    kept_ours = ours[: ours.index(base[keep])]
    kept_theirs = theirs[theirs.index(base[keep]) + 1 :]

    merged, conflicted = merge_text("".join(base), "".join(ours), "".join(theirs))

    assert not conflicted
    assert merged == "".join([*kept_ours, base[keep], *kept_theirs])


@given(base=trees, other=trees)
def test_tree_merges_with_an_unchanged_side_give_the_other_side(base: dict[str, str], other: dict[str, str]) -> None:
    assert merge_trees(base, base, other) == TreeMerge(files=other, conflicts=())
    assert merge_trees(base, other, base) == TreeMerge(files=other, conflicts=())
    assert merge_trees(base, other, other) == TreeMerge(files=other, conflicts=())


@given(base=trees, ours=trees, theirs=trees)
def test_tree_conflicts_do_not_depend_on_which_side_is_ours(
    base: dict[str, str], ours: dict[str, str], theirs: dict[str, str]
) -> None:
    merge, swapped = merge_trees(base, ours, theirs), merge_trees(base, theirs, ours)

    assert merge.conflict_paths == swapped.conflict_paths
    assert {path: text for path, text in merge.files.items() if path not in merge.conflict_paths} == {
        path: text for path, text in swapped.files.items() if path not in swapped.conflict_paths
    }
