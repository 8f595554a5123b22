"""Parsing and validation of import files (no database)."""

from __future__ import annotations

import json

import pytest

from evolab.core.errors import ValidationFailed
from evolab.evals.importing import ImportFailed, RowError, parse_mapping, read_cases
from tests.evals.factories import EXACT, csv_bytes, jsonl


def _rows(n: int) -> list[dict[str, object]]:
    return [{"key": f"k{i}", "input": f"question {i}", "target": str(i)} for i in range(1, n + 1)]


def test_it_reads_jsonl() -> None:
    rows = read_cases(jsonl(_rows(3)), fmt="jsonl", default_grader=EXACT)
    assert [(r.line, r.key, r.input, r.target) for r in rows] == [
        (1, "k1", "question 1", "1"),
        (2, "k2", "question 2", "2"),
        (3, "k3", "question 3", "3"),
    ]
    assert rows[0].split == "" and rows[0].tags == [] and rows[0].grader == {} and rows[0].metadata == {}


def test_it_reports_not_json_on_line_17_and_missing_input_on_line_23() -> None:
    lines: list[object] = list(_rows(25))
    lines[16] = '{"key": "k17", "input": '
    del lines[22]["input"]  # type: ignore[attr-defined]
    with pytest.raises(ImportFailed) as caught:
        read_cases(jsonl(lines), fmt="jsonl", default_grader=EXACT)
    errors = caught.value.errors
    assert [(e.line, e.field) for e in errors] == [(17, None), (23, "input")]
    assert "not valid JSON" in errors[0].message
    assert caught.value.code == "import_failed" and caught.value.status == 422


def test_jsonl_line_numbers_count_blank_lines_and_ignore_unicode_line_separators() -> None:
    text = '{"key": "a", "input": "x\u2028y", "target": "t"}\n\n   \n{"key": "b"}\r\n'
    with pytest.raises(ImportFailed) as caught:
        read_cases(text.encode(), fmt="jsonl", default_grader=EXACT)
    assert [(e.line, e.field) for e in caught.value.errors] == [(4, "input")]


def test_it_rejects_a_line_that_is_not_an_object() -> None:
    with pytest.raises(ImportFailed) as caught:
        read_cases(b'["a", "b"]\n', fmt="jsonl", default_grader=EXACT)
    assert caught.value.errors == [RowError(1, None, "not a JSON object")]


def test_it_reads_csv_with_a_bom_and_quoted_newlines() -> None:
    data = csv_bytes(
        ["key", "input", "target", "tags"],
        [["a", "line one\nline two\r\nline three", "x", "math, easy"], ["b", 'say "hi"', "", ""]],
        bom=True,
    )
    rows = read_cases(data, fmt="csv", default_grader={"type": "contains", "substrings": "hi"})
    assert [r.key for r in rows] == ["a", "b"]  # the BOM is not part of the first column name
    assert rows[0].input == "line one\nline two\r\nline three"
    assert rows[0].tags == ["math", "easy"]
    assert rows[1].input == 'say "hi"' and rows[1].target == ""
    assert (rows[0].line, rows[1].line) == (2, 5)


def test_csv_errors_name_the_line_where_the_record_starts() -> None:
    data = csv_bytes(["key", "input"], [["a", "one\ntwo\nthree"], ["b", ""], ["c", "fine"]])
    with pytest.raises(ImportFailed) as caught:
        read_cases(data, fmt="csv", default_grader={"type": "llm_judge", "rubric": "good?"})
    assert [(e.line, e.field) for e in caught.value.errors] == [(5, "input")]


def test_csv_rejects_ragged_rows_and_bad_json_cells() -> None:
    data = b'key,input,grader\na,x,"{""type"": ""regex"", ""pattern"": ""x""}"\nb,y\nc,z,{not json\n'
    with pytest.raises(ImportFailed) as caught:
        read_cases(data, fmt="csv", default_grader=EXACT)
    assert [(e.line, e.field) for e in caught.value.errors] == [(3, None), (4, "grader")]


def test_csv_grader_metadata_and_split_cells() -> None:
    data = csv_bytes(
        ["id", "question", "answer", "grader", "split", "metadata", "source"],
        [["q1", "2+2?", "4", '{"type": "numeric", "tolerance": 0.1}', "Holdout ", '{"difficulty": 1}', "gsm"]],
    )
    mapping = parse_mapping(["key=id", "input=question", "target=answer"])
    (row,) = read_cases(data, fmt="csv", mapping=mapping)
    assert row.grader == {"type": "numeric", "tolerance": 0.1}
    assert row.split == "holdout"
    assert row.metadata == {"source": "gsm", "difficulty": 1}


def test_mapping_with_dotted_paths_and_unmapped_fields_kept_in_metadata() -> None:
    data = jsonl([{"id": 7, "question": {"text": "why?", "lang": "en"}, "answer": "because", "extra": [1, 2]}])
    mapping = parse_mapping(["key=id", "input=question.text", "target=answer"])
    (row,) = read_cases(data, fmt="jsonl", mapping=mapping, default_grader=EXACT)
    assert (row.key, row.input, row.target) == ("7", "why?", "because")
    assert row.metadata == {"extra": [1, 2]}


def test_humaneval_rows_import_with_the_rest_in_metadata() -> None:
    row = {
        "task_id": "HumanEval/0",
        "prompt": "def add(a, b):\n    ",
        "canonical_solution": "return a + b\n",
        "test": "def check(candidate):\n    assert candidate(1, 2) == 3\n",
        "entry_point": "add",
    }
    mapping = parse_mapping(["key=task_id", "input=prompt"])
    (case,) = read_cases(jsonl([row]), fmt="jsonl", mapping=mapping, default_grader={"type": "python_tests"})
    assert case.key == "HumanEval/0" and case.input == row["prompt"] and case.target == ""
    assert case.metadata == {k: row[k] for k in ("canonical_solution", "test", "entry_point")}


def test_a_grader_that_lacks_case_data_is_an_error_of_that_row() -> None:
    rows = [
        {"key": "h1", "input": "def f(): ...", "entry_point": "f", "test": "def check(c): pass"},
        {"key": "h2", "input": "x"},
    ]
    with pytest.raises(ImportFailed) as caught:
        read_cases(jsonl(rows), fmt="jsonl", default_grader={"type": "python_tests"})
    assert [(e.line, e.field) for e in caught.value.errors] == [(2, "grader")]
    assert "tests" in caught.value.errors[0].message


def test_invalid_grader_and_missing_grader_are_reported() -> None:
    rows = [
        {"key": "a", "input": "x", "target": "y", "grader": {"type": "telepathy"}},
        {"key": "b", "input": "x", "target": "y"},
        {"key": "c", "input": "x", "grader": "exact"},
    ]
    with pytest.raises(ImportFailed) as caught:
        read_cases(jsonl(rows), fmt="jsonl")
    messages = {e.line: (e.field, e.message) for e in caught.value.errors}
    assert messages[1][0] == "grader" and "telepathy" in messages[1][1]
    assert messages[2] == ("grader", "no grader here and no default grader for the suite")
    assert messages[3][0] == "grader" and "JSON object" in messages[3][1]


def test_duplicate_keys_name_both_lines() -> None:
    rows = [*_rows(3), {"key": "k2", "input": "again", "target": "x"}]
    with pytest.raises(ImportFailed) as caught:
        read_cases(jsonl(rows), fmt="jsonl", default_grader=EXACT)
    (error,) = caught.value.errors
    assert (error.line, error.field) == (4, "key")
    assert "duplicate key 'k2'" in error.message and "line 2" in error.message


def test_more_than_50_errors_are_truncated_with_a_count() -> None:
    rows = [{"key": f"k{i}", "target": "x"} for i in range(120)]
    with pytest.raises(ImportFailed) as caught:
        read_cases(jsonl(rows), fmt="jsonl", default_grader=EXACT)
    failed = caught.value
    assert len(failed.errors) == 120
    assert len(failed.details["errors"]) == 50 and failed.details["more"] == 70
    assert failed.details["errors"][0] == {"line": 1, "field": "input", "message": "missing: every case needs an input"}
    assert failed.lines()[-1] == "…and 70 more"
    assert "120 errors" in failed.message


@pytest.mark.parametrize(
    ("value", "problem"),
    [
        ([{"role": "user"}], "exactly role and content"),
        ([{"role": "wizard", "content": "hi"}], "role must be one of"),
        ([{"role": "user", "content": 3}], "content must be text"),
        ({"text": "hi"}, "text or a list"),
        ([], "missing"),
    ],
)
def test_input_must_be_text_or_chat_messages(value: object, problem: str) -> None:
    with pytest.raises(ImportFailed) as caught:
        read_cases(jsonl([{"key": "a", "input": value, "target": "x"}]), fmt="jsonl", default_grader=EXACT)
    (error,) = caught.value.errors
    assert error.field == "input" and problem in error.message


def test_chat_input_tags_split_and_targets() -> None:
    messages = [{"role": "system", "content": "Be brief."}, {"role": "user", "content": "2+2?"}]
    rows = [
        {"key": "a", "input": messages, "target": 4, "tags": ["math", " math", "easy"], "split": "dev"},
        {"key": "b", "input": "x", "target": {"answer": 4}, "tags": "a,b,,c"},
    ]
    a, b = read_cases(jsonl(rows), fmt="jsonl", default_grader=EXACT)
    assert a.input == messages and a.target == "4" and a.tags == ["math", "easy"] and a.split == "dev"
    assert json.loads(b.target) == {"answer": 4} and b.tags == ["a", "b", "c"]


@pytest.mark.parametrize(
    ("row", "field"),
    [
        ({"key": "", "input": "x"}, "key"),
        ({"key": "a\nb", "input": "x"}, "key"),
        ({"key": 1.5, "input": "x"}, "key"),
        ({"key": "a/../b", "input": "x"}, "key"),
        ({"key": "a", "input": "x", "split": "test"}, "split"),
        ({"key": "a", "input": "x", "tags": [1]}, "tags"),
        ({"key": "a", "input": "x", "metadata": [1]}, "metadata"),
    ],
)
def test_field_validation(row: dict[str, object], field: str) -> None:
    with pytest.raises(ImportFailed) as caught:
        read_cases(jsonl([{**row, "target": "t"}]), fmt="jsonl", default_grader=EXACT)
    assert [e.field for e in caught.value.errors] == [field]


def test_bad_requests_are_validation_errors() -> None:
    with pytest.raises(ValidationFailed) as caught:
        read_cases(b"\n\n", fmt="jsonl", default_grader=EXACT)
    assert caught.value.field == "file"
    with pytest.raises(ValidationFailed) as caught:
        read_cases(b"", fmt="xml")
    assert caught.value.field == "format"
    with pytest.raises(ImportFailed) as failed:
        read_cases(b'{"key": "a"}\n\xff\xfe\n', fmt="jsonl", default_grader=EXACT)
    assert failed.value.errors == [RowError(2, None, "not UTF-8 text")]


@pytest.mark.parametrize("pairs", [["input"], ["colour=prompt"], ["input=a", "input=b"], ["=x"]])
def test_parse_mapping_rejects_bad_pairs(pairs: list[str]) -> None:
    with pytest.raises(ValidationFailed) as caught:
        parse_mapping(pairs)
    assert caught.value.field == "mapping"


def test_parse_mapping() -> None:
    assert parse_mapping([" key = task_id ", "", "input=question.text"]) == {"key": "task_id", "input": "question.text"}


def test_it_refuses_a_file_over_the_size_limit(monkeypatch: pytest.MonkeyPatch) -> None:
    import io

    from evolab.core.errors import ValidationFailed
    from evolab.evals import importing

    monkeypatch.setattr(importing, "MAX_IMPORT_BYTES", 100)
    with pytest.raises(ValidationFailed) as refused:
        importing.read_cases(io.BytesIO(b'{"key": "a", "input": "x"}\n' * 10), fmt="jsonl")
    assert refused.value.field == "file"
