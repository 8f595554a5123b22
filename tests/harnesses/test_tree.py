"""Path rules, limits and the canonical digest (pure, no database)."""

from __future__ import annotations

import hashlib
import json
import unicodedata

import pytest

from evolab.core.errors import ValidationFailed
from evolab.harnesses.tree import (
    MAX_FILE_BYTES,
    MAX_FILES,
    MAX_PATH_CHARS,
    canonical_digest,
    normalise_path,
    normalise_tree,
)

NFC_NAME = unicodedata.normalize("NFC", "skills/café.md")
NFD_NAME = unicodedata.normalize("NFD", "skills/café.md")


def test_nfc_and_nfd_spellings_differ_as_python_strings() -> None:
    # Guard for the tests below: they only mean something if the two spellings differ.
    assert NFC_NAME != NFD_NAME


@pytest.mark.parametrize(
    "path",
    [
        "../x",
        "/etc/x",
        "a/../../x",
        "a/..",
        "..",
        "./x",
        "a/./b",
        "",
        "   ",
        "a//b",
        "a/",
        "/",
        "C:/windows/x",
        "c:x",
        "a\\b",
        "..\\x",
        "a\x00b",
        "a\nb",
        "a\u202eb.md",
        " leading.md",
        "trailing.md ",
        "x" * (MAX_PATH_CHARS + 1),
        "/".join(["d"] * 20),
    ],
)
def test_it_refuses_unsafe_paths(path: str) -> None:
    with pytest.raises(ValidationFailed) as caught:
        normalise_path(path)
    assert caught.value.field == f"files[{path!r}]"
    assert caught.value.message


def test_it_names_the_problem() -> None:
    with pytest.raises(ValidationFailed, match="absolute"):
        normalise_path("/etc/x")
    with pytest.raises(ValidationFailed, match=r"'\.\.'"):
        normalise_path("a/../../x")
    with pytest.raises(ValidationFailed, match="needs a name"):
        normalise_path("")


@pytest.mark.parametrize(
    "path", ["harness.yaml", "skills/refunds.md", ".hidden", "a/b/c/d.txt", "naïve name.md", "v1..2.md"]
)
def test_it_keeps_ordinary_paths(path: str) -> None:
    assert normalise_path(path) == path


def test_a_lone_nfd_name_is_stored_nfc() -> None:
    tree = normalise_tree({NFD_NAME: "x"})
    assert list(tree) == [NFC_NAME]


def test_nfc_and_nfd_of_one_name_in_one_tree_are_refused_as_duplicates() -> None:
    with pytest.raises(ValidationFailed, match="twice") as caught:
        normalise_tree({NFC_NAME: "one", NFD_NAME: "two"})
    assert caught.value.field == f"files[{NFD_NAME!r}]"


def test_names_differing_only_by_case_are_refused() -> None:
    with pytest.raises(ValidationFailed, match="upper/lower case"):
        normalise_tree({"System.md": "a", "system.md": "b"})


def test_a_repeated_name_in_pairs_is_refused() -> None:
    with pytest.raises(ValidationFailed, match="twice"):
        normalise_tree([("a.md", "1"), ("a.md", "2")])


def test_a_path_cannot_be_file_and_folder() -> None:
    with pytest.raises(ValidationFailed, match="is a file"):
        normalise_tree({"skills": "x", "skills/a.md": "y"})


def test_an_empty_tree_is_refused() -> None:
    with pytest.raises(ValidationFailed, match="at least one file"):
        normalise_tree({})


def test_too_many_files_are_refused() -> None:
    with pytest.raises(ValidationFailed, match=f"at most {MAX_FILES}"):
        normalise_tree({f"f{n}.md": "" for n in range(MAX_FILES + 1)})


def test_a_file_over_the_size_limit_is_refused() -> None:
    with pytest.raises(ValidationFailed, match="KiB") as caught:
        normalise_tree({"big.md": "x" * (MAX_FILE_BYTES + 1)})
    assert caught.value.field == "files['big.md']"


def test_the_size_limit_counts_utf8_bytes() -> None:
    with pytest.raises(ValidationFailed, match="KiB"):
        normalise_tree({"big.md": "é" * (MAX_FILE_BYTES // 2 + 1)})


@pytest.mark.parametrize("text", ["a\x00b", "colour \x1b[31mred", "\x7f"])
def test_control_characters_in_text_are_refused(text: str) -> None:
    with pytest.raises(ValidationFailed, match="line 1"):
        normalise_tree({"a.md": text})


def test_tabs_and_form_feeds_are_text() -> None:
    assert normalise_tree({"a.py": "\tx = 1\n\f\n"}) == {"a.py": "\tx = 1\n\f\n"}


def test_line_endings_are_normalised() -> None:
    assert normalise_tree({"a.md": "one\r\ntwo\rthree\n"}) == {"a.md": "one\ntwo\nthree\n"}


def test_tree_comes_back_sorted() -> None:
    assert list(normalise_tree({"b.md": "", "a/z.md": "", "a.md": ""})) == ["a.md", "a/z.md", "b.md"]


# Digest ---------------------------------------------------------------------------------


def test_digest_is_independent_of_order() -> None:
    one = canonical_digest({"a.md": "1", "b.md": "2"})
    two = canonical_digest({"b.md": "2", "a.md": "1"})
    assert one == two
    assert len(one) == 64
    assert int(one, 16) >= 0


def test_digest_follows_the_documented_encoding() -> None:
    files = {"system.md": "Hi ü\n", "harness.yaml": "sampling: {}\n"}
    payload = json.dumps(sorted(files.items()), ensure_ascii=False, separators=(",", ":"))
    assert canonical_digest(files) == hashlib.sha256(("evolab-tree-v1\n" + payload).encode()).hexdigest()


def test_digest_is_stable_across_releases() -> None:
    # Pinned: changing the canonical encoding would silently re-address every stored version.
    digest = canonical_digest({"harness.yaml": "sampling: {}\n", "system.md": "Hi\n"})
    assert digest == "3158ce1bb3f6ec1e63c2a34b2ae821cf7e275ee775671bbc468fc9550b6602fa"


@pytest.mark.parametrize(
    ("one", "two"),
    [
        ({"a": "bc"}, {"ab": "c"}),
        ({"a": "b", "c": "d"}, {"a": 'b","c":"d'}),
        ({"a.md": "x"}, {"a.md": "x\n"}),
        ({"a.md": ""}, {"b.md": ""}),
    ],
)
def test_different_trees_have_different_digests(one: dict[str, str], two: dict[str, str]) -> None:
    assert canonical_digest(one) != canonical_digest(two)


def test_same_files_typed_with_crlf_get_the_same_digest() -> None:
    typed = normalise_tree({"a.md": "one\r\ntwo\r\n"})
    sent = normalise_tree({"a.md": "one\ntwo\n"})
    assert canonical_digest(typed) == canonical_digest(sent)
