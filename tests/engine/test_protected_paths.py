from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from evolab.engine.protected_paths import (
    PathViolation,
    check_proposal_paths,
    matching_pattern,
    validate_patterns,
)

PROTECTED = ["system.md", "skills/safety/*", "policies/**", "harness.yaml", "workflow/"]


@pytest.mark.parametrize(
    ("path", "pattern"),
    [
        ("system.md", "system.md"),
        ("SYSTEM.MD", "system.md"),
        ("System.md", "system.md"),
        ("skills/safety/refusals.md", "skills/safety/*"),
        ("Skills/Safety/Refusals.md", "skills/safety/*"),
        # A folder matched by `*` is protected with all it holds.
        ("skills/safety/extra/deep.md", "skills/safety/*"),
        ("policies/a.md", "policies/**"),
        ("policies/a/b/c.md", "policies/**"),
        ("harness.yaml", "harness.yaml"),
        # A trailing slash on a pattern means the folder and everything below.
        ("workflow", "workflow"),
        ("workflow/steps.md", "workflow"),
    ],
)
def test_it_refuses_protected_paths(path: str, pattern: str) -> None:
    assert check_proposal_paths([path], PROTECTED) == [
        PathViolation(path, f"{path} is protected (pattern {pattern!r})")
    ]


@pytest.mark.parametrize(
    "path",
    [
        "skills/refunds.md",
        "skills/safety.md",
        "skills/safetynet/x.md",
        "system.md.bak",
        "docs/system.md",
        "workflow.md",
        "policies.md",
        "harness.yml",
        ".hidden/notes_1-2.md",
    ],
)
def test_it_accepts_plain_paths_outside_the_patterns(path: str) -> None:
    assert check_proposal_paths([path], PROTECTED) == []


@pytest.mark.parametrize(
    ("path", "rule"),
    [
        ("", "the path is empty"),
        ("/system.md", "is absolute"),
        ("skills/../system.md", "has a '..' segment"),
        ("./system.md", "has a '.' segment"),
        ("skills//refunds.md", "has an empty segment"),
        ("skills/", "ends with '/'"),
        ("skills\\refunds.md", "contains a backslash"),
        ("skills/refunds.md\n", "contains the control character U+000A"),
        ("skills/re\tfunds.md", "contains the control character U+0009"),
        ("\u0455ystem.md", "contains '\u0455' (U+0455)"),
        ("sy\u200dstem.md", "(U+200D)"),
        ("\uff53ystem.md", "(U+FF53)"),
        ("skills/my notes.md", "contains ' ' (U+0020)"),
        ("C:/system.md", "contains ':'"),
    ],
)
def test_it_refuses_paths_that_are_not_plain(path: str, rule: str) -> None:
    [violation] = check_proposal_paths([path], [])

    assert violation.path == path
    assert violation.reason.startswith("not a plain relative path: ")
    assert rule in violation.reason


def test_it_reports_each_bad_path_once_in_order() -> None:
    paths = ["skills/refunds.md", "system.md", "../x", "system.md"]

    assert [v.path for v in check_proposal_paths(paths, PROTECTED)] == ["system.md", "../x"]


def test_matching_pattern_names_the_pattern() -> None:
    assert matching_pattern("policies/x.md", PROTECTED) == "policies/**"
    assert matching_pattern("skills/x.md", PROTECTED) is None
    assert matching_pattern("skills/x.md", ["skills/*.md"]) == "skills/*.md"
    assert matching_pattern("skills/sub/x.md", ["skills/*.md"]) is None
    assert matching_pattern("a/b/c/skill.md", ["**/skill.md"]) == "**/skill.md"


def test_validate_patterns_normalises() -> None:
    assert validate_patterns([" System.md ", "./skills//safety/", "policies/**/**", "", "system.md"]) == [
        "system.md",
        "skills/safety",
        "policies/**",
    ]


@pytest.mark.parametrize(
    ("pattern", "message"),
    [
        ("/etc/passwd", "is absolute"),
        ("skills/../system.md", "contains '..'"),
        ("..", "contains '..'"),
        ("skills\\safety", "backslash"),
        ("\u0455ystem.md", "no allowed path can contain"),
        ("./", "matches nothing"),
    ],
)
def test_validate_patterns_refuses_bad_patterns(pattern: str, message: str) -> None:
    with pytest.raises(ValueError, match=message) as caught:
        validate_patterns(["system.md", pattern])

    assert repr(pattern) in str(caught.value)


# Properties ----------------------------------------------------------------------------

SEGMENT = st.text(alphabet="abcdefghijklmnopqrstuvwxyz0123456789_-", min_size=1, max_size=8)
FILE_NAME = st.builds(lambda stem, ext: f"{stem}.{ext}", SEGMENT, st.sampled_from(["md", "txt", "yaml"]))


@st.composite
def protected_path(draw: st.DrawFn) -> str:
    """A plain path that PROTECTED covers."""
    kind = draw(st.sampled_from(["system", "safety", "policies", "harness", "workflow"]))
    if kind == "system":
        return "system.md"
    if kind == "harness":
        return "harness.yaml"
    if kind == "safety":
        return f"skills/safety/{draw(FILE_NAME)}"
    if kind == "workflow":
        return "/".join(["workflow", *draw(st.lists(SEGMENT, max_size=2)), draw(FILE_NAME)])
    return "/".join(["policies", *draw(st.lists(SEGMENT, max_size=3)), draw(FILE_NAME)])


CONFUSABLES = {
    "a": ["\u0430", "\uff41"],  # Cyrillic a, full-width a
    "e": ["\u0435", "\uff45"],
    "o": ["\u043e", "\u03bf", "\uff4f"],  # Cyrillic o, Greek omicron, full-width o
    "p": ["\u0440", "\uff50"],
    "c": ["\u0441", "\uff43"],
    "s": ["\u0455", "\uff53"],
    "i": ["\u0456", "\uff49"],
    "y": ["\u0443", "\uff59"],
    "m": ["\uff4d"],
    "l": ["\uff4c"],
    ".": ["\uff0e"],
    "/": ["\uff0f"],
}
INVISIBLE = ["\u200d", "\u200b", "\u200c", "\ufeff", "\u00ad"]


@st.composite
def disguised(draw: st.DrawFn, path: str) -> str:
    """`path` after one to four tricks a model might use to slip past a pattern."""
    tricks = draw(
        st.lists(
            st.sampled_from(
                ["case", "dotdot", "slash", "dot", "confusable", "invisible", "trailing", "double", "backslash"]
            ),
            min_size=1,
            max_size=4,
        )
    )
    for trick in tricks:
        parts = path.split("/")
        if trick == "case":
            path = "".join(c.upper() if draw(st.booleans()) else c for c in path)
        elif trick == "dotdot":
            where = draw(st.integers(0, len(parts) - 1))
            detour = draw(st.sampled_from(["skills", "..", "x"]))
            path = "/".join([*parts[:where], detour, "..", *parts[where:]])
        elif trick == "slash":
            path = "/" + path
        elif trick == "dot":
            where = draw(st.integers(0, len(parts) - 1))
            path = "/".join([*parts[:where], ".", *parts[where:]])
        elif trick == "confusable":
            spots = [i for i, c in enumerate(path) if c.lower() in CONFUSABLES]
            if spots:
                i = draw(st.sampled_from(spots))
                path = path[:i] + draw(st.sampled_from(CONFUSABLES[path[i].lower()])) + path[i + 1 :]
        elif trick == "invisible":
            i = draw(st.integers(0, len(path)))
            path = path[:i] + draw(st.sampled_from(INVISIBLE)) + path[i:]
        elif trick == "trailing":
            path += draw(st.sampled_from(["/", "//", "/."]))
        elif trick == "double":
            i = draw(st.sampled_from([i for i, c in enumerate(path) if c == "/"] or [0]))
            path = path[:i] + "/" + path[i:]
        else:
            path = path.replace("/", "\\", draw(st.integers(1, 3))) if "/" in path else "\\" + path
    return path


@given(st.data())
def test_no_disguise_of_a_protected_path_gets_through(data: st.DataObject) -> None:
    path = data.draw(protected_path())
    variant = data.draw(disguised(path))

    assert check_proposal_paths([variant], PROTECTED) != []


@given(
    st.builds(
        lambda folder, middle, name: "/".join([folder, *middle, name]),
        st.sampled_from(["docs", "skills", "notes/deep", "Skills"]),
        st.lists(SEGMENT, max_size=3),
        FILE_NAME,
    ).filter(lambda path: not path.casefold().startswith("skills/safety/"))
)
def test_plain_paths_outside_every_pattern_are_accepted(path: str) -> None:
    assert check_proposal_paths([path], PROTECTED) == []
