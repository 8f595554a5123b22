from __future__ import annotations

import json

import pytest
from hypothesis import given
from hypothesis import strategies as st

from evolab.engine.edits import (
    MAX_EDITS,
    EditError,
    FileEdit,
    ProposalDraft,
    ProposalError,
    apply_edits,
    apply_params,
    normalised_diff_key,
    param_changes,
    parse_proposal,
)
from evolab.engine.harness_config import parse_harness_config

HARNESS_YAML = """\
# Support agent harness.
sampling:
  temperature: 1.0  # MiniMax recommends 1.0
  top_p: 0.95
  max_tokens: 1024
agent:
  max_turns: 6
  loop_guard:
    window: 4
    threshold: 3
  tools: [calculator, submit_answer]

# Templates use the default layout.
"""

PROPOSAL = {
    "hypothesis": "Refund answers miss the 30-day rule.",
    "edits": [{"path": "skills/refunds.md", "search": "Refunds:", "replace": "Refunds (30 days):"}],
    "params": {"temperature": 0.7, "agent.max_turns": 8},
}


def proposal_text(**changes: object) -> str:
    return json.dumps({**PROPOSAL, **changes})


# Parsing -------------------------------------------------------------------------------


def test_it_parses_a_plain_proposal() -> None:
    draft = parse_proposal(proposal_text())

    assert draft == ProposalDraft(
        hypothesis="Refund answers miss the 30-day rule.",
        edits=(FileEdit("skills/refunds.md", "Refunds:", "Refunds (30 days):"),),
        params={"sampling.temperature": 0.7, "agent.max_turns": 8},
    )


def test_it_skips_the_reasoning_and_the_prose() -> None:
    text = (
        '<think>Maybe {"hypothesis": "draft idea", "params": {"top_p": 0.5}}? No.</think>\n'
        "Here is my change {with braces in prose}:\n" + proposal_text() + "\nHope this helps {really}."
    )

    draft = parse_proposal(text)

    assert draft.hypothesis == "Refund answers miss the 30-day rule."


def test_it_prefers_the_fenced_json_block() -> None:
    text = (
        'An example of the format: {"hypothesis": "example", "params": {"seed": 1}}\n'
        "```python\nprint({'not': 'this'})\n```\n"
        "```json\n" + json.dumps(PROPOSAL, indent=2) + "\n```\n"
    )

    assert parse_proposal(text).hypothesis == PROPOSAL["hypothesis"]


def test_it_accepts_raw_newlines_and_crlf_inside_strings() -> None:
    text = '{"hypothesis": "h", "edits": [{"path": "a.md", "search": "one\r\ntwo", "replace": "x\ny"}]}'

    edit = parse_proposal(text).edits[0]

    assert (edit.search, edit.replace) == ("one\ntwo", "x\ny")


def test_it_parses_a_delete_without_search_or_replace() -> None:
    draft = parse_proposal(proposal_text(edits=[{"path": "old.md", "delete": True}], params={}))

    assert draft.edits == (FileEdit("old.md", "", "", delete=True),)


def test_it_reports_where_the_json_is_broken() -> None:
    text = 'Proposal:\n{\n  "hypothesis": "h",\n  "edits": [],\n}\n'

    with pytest.raises(ProposalError, match=r"invalid JSON at line 5, column 1"):
        parse_proposal(text)


def test_it_reports_a_broken_proposal_rather_than_its_first_edit() -> None:
    text = '{"hypothesis": "h", "edits": [{"path": "a.md", "search": "", "replace": "x"},], "params": {}}'

    with pytest.raises(ProposalError, match=r"invalid JSON at line 1, column 78"):
        parse_proposal(text)


def test_it_reports_a_broken_fenced_block_with_its_line() -> None:
    text = 'Thoughts.\n```json\n{"hypothesis": "h",\n "edits": [}\n```'

    with pytest.raises(ProposalError, match=r"invalid JSON at line 4, column 12"):
        parse_proposal(text)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("I have no proposal this round.", "no JSON object found"),
        ("<think>just thinking</think> nothing {here}", "no JSON object found"),
        ("[1, 2, 3]", "no JSON object found"),
        (json.dumps({"edits": PROPOSAL["edits"]}), "hypothesis is missing"),
        (proposal_text(hypothesis="   "), "hypothesis is empty"),
        (proposal_text(hypothesis=["a"]), "hypothesis must be a string"),
        (proposal_text(edits={"path": "a.md"}), "edits must be a list"),
        (proposal_text(edits=["a.md"]), r"edits\[0\] must be an object"),
        (proposal_text(edits=[{"search": "a", "replace": "b"}]), r"edits\[0\].path is missing"),
        (proposal_text(edits=[{"path": 3, "search": "a", "replace": "b"}]), r"edits\[0\].path must be a string"),
        (proposal_text(edits=[{"path": " ", "search": "a", "replace": "b"}]), r"edits\[0\].path is empty"),
        (
            proposal_text(edits=[*PROPOSAL["edits"] * 2, {"path": "a.md", "search": 1, "replace": "b"}]),
            r"edits\[2\].search must be a string",
        ),
        (proposal_text(edits=[{"path": "a.md", "search": "a"}]), r"edits\[0\].replace is missing"),
        (proposal_text(edits=[{"path": "a.md", "search": "a", "replace": None}]), r"edits\[0\].replace is missing"),
        (proposal_text(edits=[{"path": "a.md", "search": "a", "replace": 2}]), r"edits\[0\].replace must be a string"),
        (proposal_text(edits=[{"path": "a.md", "delete": "yes"}]), r"edits\[0\].delete must be true or false"),
        (proposal_text(edits=[{"path": "a.md", "delete": True, "replace": "x"}]), r"a delete takes no search"),
        (
            proposal_text(edits=[{"path": "a.md", "find": "a", "replace": "b"}]),
            r"edits\[0\] has unknown field 'find'",
        ),
        (proposal_text(parameters={"temperature": 0.5}), "the proposal has unknown field 'parameters'"),
        (proposal_text(edits=[], params={}), "the proposal changes nothing"),
        (json.dumps({"hypothesis": "h"}), "the proposal changes nothing"),
        (proposal_text(edits=PROPOSAL["edits"] * (MAX_EDITS + 1)), "21 edits; a proposal may have at most 20"),
        (proposal_text(params=[0.5]), "params must be an object"),
        (proposal_text(params={"temprature": 0.5}), "'temprature' is not a known parameter"),
        (
            proposal_text(params={"max_turns": 5}),
            r"'max_turns' is not a known parameter \(did you mean agent.max_turns\?\)",
        ),
        (proposal_text(params={"templates.system": "x.md"}), "'templates.system' is not a known parameter"),
        (
            proposal_text(params={"temperature": 0.5, "sampling.temperature": 0.6}),
            "sampling.temperature is given twice",
        ),
    ],
)
def test_it_refuses_bad_proposals(text: str, message: str) -> None:
    with pytest.raises(ProposalError, match=message):
        parse_proposal(text)


def test_exactly_max_edits_are_allowed() -> None:
    assert len(parse_proposal(proposal_text(edits=PROPOSAL["edits"] * MAX_EDITS)).edits) == MAX_EDITS


# Applying edits ------------------------------------------------------------------------

FILES = {"system.md": "You are a support agent.\n", "skills/refunds.md": "Refunds:\n- ask for the order id\n"}


def draft(*edits: FileEdit, **params: object) -> ProposalDraft:
    return ProposalDraft(hypothesis="h", edits=edits, params=dict(params))


def test_it_replaces_a_unique_search_text() -> None:
    tree = apply_edits(FILES, draft(FileEdit("skills/refunds.md", "order id", "order id and the date")))

    assert tree["skills/refunds.md"] == "Refunds:\n- ask for the order id and the date\n"
    assert tree["system.md"] == FILES["system.md"]


def test_it_creates_a_missing_file_from_an_empty_search() -> None:
    tree = apply_edits(FILES, draft(FileEdit("skills/tone.md", "", "Be brief.\n")))

    assert tree["skills/tone.md"] == "Be brief.\n"


@pytest.mark.parametrize(
    ("existing", "expected"),
    [
        ("Refunds:\n", "Refunds:\nCheck the date.\n"),
        ("Refunds:", "Refunds:\nCheck the date.\n"),
        ("", "Check the date.\n"),
    ],
)
def test_an_empty_search_appends_on_a_new_line(existing: str, expected: str) -> None:
    tree = apply_edits({"a.md": existing}, draft(FileEdit("a.md", "", "Check the date.\n")))

    assert tree["a.md"] == expected


def test_it_deletes_a_file() -> None:
    tree = apply_edits(FILES, draft(FileEdit("system.md", "", "", delete=True)))

    assert set(tree) == {"skills/refunds.md"}


def test_edits_apply_in_order() -> None:
    tree = apply_edits(
        FILES,
        draft(
            FileEdit("notes.md", "", "first\n"),
            FileEdit("notes.md", "first", "second"),
            FileEdit("system.md", "", "", delete=True),
            FileEdit("system.md", "", "new system\n"),
        ),
    )

    assert tree["notes.md"] == "second\n"
    assert tree["system.md"] == "new system\n"


def test_it_never_changes_its_input() -> None:
    files = dict(FILES)

    apply_edits(files, draft(FileEdit("system.md", "support", "refund"), FileEdit("x.md", "", "x")))

    assert files == FILES


@pytest.mark.parametrize(
    ("files", "edit", "path", "message"),
    [
        (
            FILES,
            FileEdit("skills/refunds.md", "shipping", "x"),
            "skills/refunds.md",
            "search text not found in skills/refunds.md",
        ),
        (
            {"a.md": "yes yes yes"},
            FileEdit("a.md", "yes", "no"),
            "a.md",
            "search text occurs 3 times in a.md; make it unique",
        ),
        # Overlapping occurrences are ambiguous too.
        ({"a.md": "aaa"}, FileEdit("a.md", "aa", "b"), "a.md", "search text occurs 2 times in a.md"),
        (FILES, FileEdit("missing.md", "x", "y"), "missing.md", "no file missing.md"),
        (FILES, FileEdit("missing.md", "", "", delete=True), "missing.md", "no file missing.md"),
    ],
)
def test_it_refuses_edits_that_do_not_apply(files: dict[str, str], edit: FileEdit, path: str, message: str) -> None:
    with pytest.raises(EditError, match=message) as caught:
        apply_edits(files, draft(edit))

    assert caught.value.path == path


def test_a_later_edit_sees_a_failed_precondition_of_an_earlier_one() -> None:
    with pytest.raises(EditError, match=r"no file system\.md"):
        apply_edits(FILES, draft(FileEdit("system.md", "", "", delete=True), FileEdit("system.md", "You", "We")))


def test_it_applies_params_to_harness_yaml() -> None:
    tree = apply_edits({**FILES, "harness.yaml": HARNESS_YAML}, draft(temperature=0.7))

    assert parse_harness_config(tree["harness.yaml"]).sampling.temperature == 0.7


def test_it_refuses_an_edit_that_breaks_harness_yaml() -> None:
    files = {**FILES, "harness.yaml": HARNESS_YAML}

    with pytest.raises(EditError, match=r"agent\.max_turns") as caught:
        apply_edits(files, draft(FileEdit("harness.yaml", "max_turns: 6", "max_turns: 0")))

    assert caught.value.path == "harness.yaml"


# harness.yaml parameters -------------------------------------------------------------


def test_it_changes_values_in_place_and_keeps_comments() -> None:
    text = apply_params(HARNESS_YAML, {"temperature": 0.7, "agent.max_turns": 8, "agent.loop_guard.window": 5})

    assert text == HARNESS_YAML.replace("temperature: 1.0", "temperature: 0.7").replace(
        "max_turns: 6", "max_turns: 8"
    ).replace("window: 4", "window: 5")


def test_it_adds_a_missing_line_at_the_end_of_its_section() -> None:
    text = apply_params(HARNESS_YAML, {"seed": 7})

    assert "  max_tokens: 1024\n  seed: 7\nagent:\n" in text
    assert text.startswith("# Support agent harness.\n")


def test_it_adds_a_missing_section() -> None:
    text = apply_params("# only a comment\nagent:\n  max_turns: 4\n", {"top_p": 0.9, "agent.loop_guard.threshold": 2})

    assert (
        text == "# only a comment\nagent:\n  max_turns: 4\n  loop_guard:\n    threshold: 2\nsampling:\n  top_p: 0.9\n"
    )


def test_it_writes_a_harness_yaml_from_nothing() -> None:
    assert apply_params("", {"temperature": 0.5}) == "sampling:\n  temperature: 0.5\n"


def test_it_expands_a_flow_mapping_and_replaces_a_block_list() -> None:
    text = "agent:\n  loop_guard: {window: 4, threshold: 3}  # guard\n  tools:\n    - calculator\n# end\n"

    result = apply_params(text, {"agent.loop_guard.window": 6, "agent.tools": ["python"]})

    assert result == "agent:\n  loop_guard:  # guard\n    window: 6\n    threshold: 3\n  tools: [python]\n# end\n"


@pytest.mark.parametrize(
    ("params", "message"),
    [
        ({"temperature": 3}, "sampling.temperature: 3 is greater than the maximum of 2"),
        ({"agent.max_turns": "many"}, "agent.max_turns: 'many' is not of type 'integer'"),
        ({"agent.tools": ["shell"]}, "agent.tools.0"),
        ({"top_k": None}, "sampling.top_k: None is not of type 'integer'"),
        ({"frobnicate": 1}, "'frobnicate' is not a known parameter"),
    ],
)
def test_it_refuses_params_that_make_harness_yaml_invalid(params: dict[str, object], message: str) -> None:
    with pytest.raises(EditError, match=message) as caught:
        apply_params(HARNESS_YAML, params)

    assert caught.value.path == "harness.yaml"


def test_it_refuses_to_edit_a_key_written_twice() -> None:
    # YAML keeps the last of two equal keys; changing the first would silently do nothing.
    with pytest.raises(EditError, match=r"could not set sampling\.temperature in place"):
        apply_params("sampling:\n  temperature: 0.2\n  temperature: 0.3\n", {"temperature": 0.9})


@given(
    temperature=st.floats(min_value=0, max_value=2, allow_nan=False),
    max_turns=st.integers(min_value=1, max_value=100),
)
def test_params_round_trip_and_comments_survive(temperature: float, max_turns: int) -> None:
    text = apply_params(HARNESS_YAML, {"temperature": temperature, "agent.max_turns": max_turns})

    config = parse_harness_config(text)
    assert (config.sampling.temperature, config.agent.max_turns) == (temperature, max_turns)
    assert [line for line in text.splitlines() if "#" in line] == [
        "# Support agent harness.",
        f"  temperature: {text.split('temperature: ')[1].split()[0]}  # MiniMax recommends 1.0",
        "# Templates use the default layout.",
    ]


def test_param_changes_lists_changed_dotted_keys() -> None:
    new = apply_params(HARNESS_YAML, {"temperature": 0.7, "seed": 3, "agent.loop_guard.window": 5})

    assert param_changes(HARNESS_YAML, new) == {
        "agent.loop_guard.window": (4, 5),
        "sampling.seed": (None, 3),
        "sampling.temperature": (1.0, 0.7),
    }
    assert param_changes(HARNESS_YAML, HARNESS_YAML.replace("# Support", "# The support")) == {}


# Duplicate keys ----------------------------------------------------------------------

GUIDANCE = "Always check the purchase date.\nRefunds after 30 days need a manager.\n"


def test_the_same_appended_guidance_from_different_parents_has_one_key() -> None:
    parent_a = {"system.md": "You help.\n", "skills/refunds.md": "Refunds:\n- ask for the order id\n"}
    parent_b = {
        "system.md": "You help customers politely.\n",
        "workflow.md": "1. Read.\n2. Answer.\n",
        "skills/refunds.md": "Refunds:\n- ask for the order id\n- be kind\n",
    }
    edit = draft(FileEdit("skills/refunds.md", "", GUIDANCE))

    key_a = normalised_diff_key(parent_a, apply_edits(parent_a, edit))
    key_b = normalised_diff_key(parent_b, apply_edits(parent_b, edit))

    assert key_a == key_b


def test_whitespace_case_blank_lines_and_file_order_do_not_matter() -> None:
    old = {"a.md": "A\n", "b.md": "B\n"}
    new = {"a.md": "A\nCheck the date.\n", "b.md": "B\nBe brief.\n"}
    variant = {"b.md": "B\n\n  be   BRIEF.\n", "a.md": "A\n\ncheck THE date.  \n\n"}

    assert normalised_diff_key(old, new) == normalised_diff_key(dict(reversed(old.items())), variant)


def test_the_same_parameter_value_from_different_starting_values_has_one_key() -> None:
    key_a = normalised_diff_key(
        {"harness.yaml": HARNESS_YAML}, {"harness.yaml": apply_params(HARNESS_YAML, {"temperature": 0.7})}
    )
    other = HARNESS_YAML.replace("temperature: 1.0  # MiniMax recommends 1.0", "temperature: 0.9")
    key_b = normalised_diff_key({"harness.yaml": other}, {"harness.yaml": apply_params(other, {"temperature": 0.7})})

    assert key_a == key_b


@pytest.mark.parametrize(
    ("old", "new_a", "new_b"),
    [
        # Different guidance.
        ({"a.md": "A\n"}, {"a.md": "A\nCheck the date.\n"}, {"a.md": "A\nCheck the order.\n"}),
        # The same guidance in another file.
        (
            {"a.md": "A\n", "b.md": "B\n"},
            {"a.md": "A\nBe brief.\n", "b.md": "B\n"},
            {"a.md": "A\n", "b.md": "B\nBe brief.\n"},
        ),
        # Adding a line versus removing it.
        ({"a.md": "A\nBe brief.\n"}, {"a.md": "A\nBe brief.\nBe brief.\n"}, {"a.md": "A\n"}),
        # Creating a file versus deleting it.
        ({"a.md": "A\n"}, {"a.md": "A\n", "b.md": "A\n"}, {}),
        # Reordering steps is a change.
        ({"w.md": "1. Read.\n2. Answer.\n"}, {"w.md": "1. Read.\n2. Answer.\n"}, {"w.md": "2. Answer.\n1. Read.\n"}),
        # Different parameter values.
        (
            {"harness.yaml": "sampling:\n  temperature: 1.0\n"},
            {"harness.yaml": "sampling:\n  temperature: 0.7\n"},
            {"harness.yaml": "sampling:\n  temperature: 0.8\n"},
        ),
        # The same value for a different parameter.
        (
            {"harness.yaml": "sampling:\n  seed: 1\n"},
            {"harness.yaml": "sampling:\n  seed: 5\n"},
            {"harness.yaml": "sampling:\n  seed: 1\n  top_k: 5\n"},
        ),
    ],
)
def test_different_changes_have_different_keys(
    old: dict[str, str], new_a: dict[str, str], new_b: dict[str, str]
) -> None:
    assert normalised_diff_key(old, new_a) != normalised_diff_key(old, new_b)


def test_a_comment_in_harness_yaml_is_not_a_change() -> None:
    old = {"harness.yaml": HARNESS_YAML}
    commented = {"harness.yaml": HARNESS_YAML.replace("# Support", "# The support")}

    assert normalised_diff_key(old, commented) == normalised_diff_key(old, old)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("agent: 5\n", "agent is not a section"),
        ("agent: {max_turns: [\n", "agent: invalid YAML"),
    ],
)
def test_it_refuses_to_descend_into_a_section_that_is_not_one(text: str, message: str) -> None:
    with pytest.raises(EditError, match=message):
        apply_params(text, {"agent.max_turns": 4})
