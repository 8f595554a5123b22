"""`run_eval --fail-under` leaves disputed cases out of its gate, as proposal decisions do."""

from __future__ import annotations

import json
from io import StringIO
from pathlib import Path

import pytest
from django.core.management import CommandError, call_command

from evolab.evals.discussion import case_dispute_open
from tests.runs.conftest import Lab
from tests.runs.helpers import targets

pytestmark = pytest.mark.django_db(transaction=True)


def _run_eval(lab: Lab, *args: str) -> str:
    out = StringIO()
    call_command("run_eval", lab.team.project.slug, "--suite", "demo", *args, stdout=out, stderr=StringIO())
    return out.getvalue()


def test_a_disputed_case_does_not_fail_the_gate(lab: Lab, tmp_path: Path) -> None:
    answers = sorted(targets(lab).items())
    wrong = answers[0][0]
    path = tmp_path / "outputs.jsonl"
    path.write_text(
        "\n".join(json.dumps({"key": key, "output": "wrong" if key == wrong else target}) for key, target in answers)
    )
    with pytest.raises(CommandError, match=r"below --fail-under 1\.000"):
        _run_eval(lab, "--outputs", str(path), "--inline", "--fail-under", "100%")

    case_dispute_open(actor=lab.team.reviewer, suite=lab.suite_version.suite, key=wrong, reason="bad target")  # type: ignore[arg-type]
    output = _run_eval(lab, "--outputs", str(path), "--inline", "--fail-under", "100%")
    assert "1 disputed case(s) left out of the gate: overall 100.0%" in output
    assert output.rstrip().endswith("OK")
