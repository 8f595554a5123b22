"""import_suite and export_suite, as a CI script would run them."""

from __future__ import annotations

import io
import json
from pathlib import Path

import pytest
from django.core.management import CommandError, call_command

from evolab.core.models import AuditEvent
from evolab.evals.models import EvalCase, EvalSuite, SuiteVersion
from tests.conftest import Team
from tests.evals.factories import csv_bytes, jsonl

pytestmark = pytest.mark.django_db

HUMANEVAL = [
    {
        "task_id": f"HumanEval/{i}",
        "prompt": f"def f{i}(x):\n    ",
        "canonical_solution": "return x\n",
        "test": f"def check(c):\n    assert c({i}) == {i}\n",
        "entry_point": f"f{i}",
    }
    for i in range(3)
]


def _run(*args: str) -> tuple[str, str]:
    out, err = io.StringIO(), io.StringIO()
    call_command(*args, stdout=out, stderr=err)
    return out.getvalue(), err.getvalue()


def test_import_creates_the_suite_and_a_version(team: Team, tmp_path: Path) -> None:
    path = tmp_path / "humaneval.jsonl"
    path.write_bytes(jsonl(HUMANEVAL))
    out, _ = _run(
        "import_suite",
        "support-agent",
        "humaneval",
        str(path),
        "--map",
        "key=task_id",
        "--map",
        "input=prompt",
        "--default-grader",
        '{"type": "python_tests"}',
        "--message",
        "HumanEval subset",
    )
    assert "Created suite humaneval." in out and "support-agent/humaneval v1: 3 cases." in out
    suite = EvalSuite.objects.get(slug="humaneval")
    assert suite.default_grader == {"type": "python_tests"}
    case = EvalCase.objects.get(version__suite=suite, key="HumanEval/1")
    assert set(case.metadata) == {"canonical_solution", "test", "entry_point"}
    event = AuditEvent.objects.get(action="suite.version.create")
    assert event.actor is None and event.actor_label == "system"


def test_import_csv_as_a_user(team: Team, tmp_path: Path) -> None:
    path = tmp_path / "cases.csv"
    path.write_bytes(csv_bytes(["key", "input", "target"], [["a", "x\ny", "z"]], bom=True))
    _run(
        "import_suite",
        "support-agent",
        "s",
        str(path),
        "--as-user",
        "maintainer",
        "--default-grader",
        '{"type": "exact"}',
    )
    version = SuiteVersion.objects.get(suite__slug="s")
    assert version.created_by == team.maintainer
    with pytest.raises(CommandError, match="reviewer cannot import"):
        _run("import_suite", "support-agent", "s", str(path), "--as-user", "reviewer")
    with pytest.raises(CommandError, match="outsider cannot import"):
        _run("import_suite", "support-agent", "s", str(path), "--as-user", "outsider")


def test_a_failing_import_exits_non_zero_with_the_lines_on_stderr(team: Team, tmp_path: Path) -> None:
    rows: list[object] = [{"key": f"k{i}", "input": "x", "target": "y"} for i in range(25)]
    rows[16] = "{broken"
    del rows[22]["input"]  # type: ignore[attr-defined]
    path = tmp_path / "bad.jsonl"
    path.write_bytes(jsonl(rows))
    err = io.StringIO()
    with pytest.raises(CommandError, match="2 errors; nothing was imported"):
        call_command(
            "import_suite", "support-agent", "s", str(path), "--default-grader", '{"type": "exact"}', stderr=err
        )
    assert f"{path}: line 17: not valid JSON" in err.getvalue()
    assert f"{path}: line 23, input: missing" in err.getvalue()
    assert not SuiteVersion.objects.exists()


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["nope", "s", "{file}"], "No project 'nope'"),
        (["support-agent", "s", "{missing}"], "No such file"),
        (["support-agent", "s", "{file}", "--default-grader", "[x"], "not valid JSON"),
        (["support-agent", "s", "{file}", "--map", "colour=x"], "mapping: 'colour' is not a case field"),
    ],
)
def test_import_argument_errors(team: Team, tmp_path: Path, args: list[str], message: str) -> None:
    path = tmp_path / "ok.jsonl"
    path.write_bytes(jsonl([{"key": "a", "input": "x", "target": "y"}]))
    filled = [a.format(file=path, missing=tmp_path / "missing.jsonl") for a in args]
    with pytest.raises(CommandError, match=message):
        _run("import_suite", *filled)


def test_export_to_stdout_and_file_round_trips(team: Team, tmp_path: Path) -> None:
    source = tmp_path / "in.jsonl"
    rows = [
        {"key": f"k{i}", "input": f"q{i}", "target": "t", "split": s} for i, s in enumerate(["train", "holdout", "dev"])
    ]
    source.write_bytes(jsonl(rows))
    _run("import_suite", "support-agent", "s", str(source), "--default-grader", '{"type": "exact"}')
    out, _ = _run("export_suite", "support-agent", "s")
    assert [json.loads(line)["key"] for line in out.splitlines()] == ["k0", "k1", "k2"]
    target = tmp_path / "out.jsonl"
    _, err = _run("export_suite", "support-agent", "s", "--version", "1", "--output", str(target), "--without-holdout")
    assert "Wrote v1" in err and [json.loads(line)["key"] for line in target.read_text().splitlines()] == ["k0", "k2"]
    _run("import_suite", "support-agent", "s", str(tmp_path / "out.jsonl"))
    assert SuiteVersion.objects.get(suite__slug="s", number=2).case_count == 2
    with pytest.raises(CommandError, match="No such suite version"):
        _run("export_suite", "support-agent", "s", "--version", "9")
    with pytest.raises(CommandError, match="No suite"):
        _run("export_suite", "support-agent", "nope")
