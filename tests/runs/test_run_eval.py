"""`manage.py run_eval`: runs in-process with --inline against the session simulator,
prints the score table, and fails (CommandError, exit status 1) below its gates."""

from __future__ import annotations

import json
import re
from io import StringIO
from pathlib import Path

import pytest
from django.core.management import CommandError, call_command

from evolab.runs.management.commands.run_eval import parse_threshold
from evolab.runs.models import Run, RunSource, RunStatus
from tests.runs.conftest import Lab
from tests.runs.helpers import targets

pytestmark = pytest.mark.django_db(transaction=True)


def _run_eval(lab: Lab, *args: str) -> str:
    out = StringIO()
    call_command("run_eval", lab.team.project.slug, "--suite", "demo", *args, stdout=out, stderr=StringIO())
    return out.getvalue()


def test_it_runs_inline_and_prints_the_score_table(lab: Lab) -> None:
    output = _run_eval(lab, "--inline", "--fail-under", "0", "--as-user", "maintainer")
    run = Run.objects.get()
    assert run.status == RunStatus.COMPLETED and run.created_by == lab.team.maintainer
    assert output.startswith(f"Run {run.number} · harness v1 · demo@v1 · dev · k=1 · 12 results · backend")
    assert "[simulated]" in output and "estimate $" in output
    assert re.search(r"^group\s+cases\s+scored\s+pass\s+95% interval$", output, re.M)
    assert re.search(r"^split dev\s+12\s+12\s+\d+\.\d% ±\d+\.\d\s+\[\d+\.\d%, \d+\.\d%\]$", output, re.M)
    assert re.search(r"^tag \w+\s+2\s+2 ", output, re.M)
    assert re.search(r"^overall\s+12\s+12 ", output, re.M)
    assert re.search(
        r"^results 12/12 · errors 0 · tokens [\d,]+ in / [\d,]+ out · spend \$\d\.\d{4} · wall time", output, re.M
    )
    assert output.rstrip().endswith("OK")


def test_it_fails_below_the_threshold(lab: Lab) -> None:
    with pytest.raises(CommandError, match=r"FAILED: score 0\.\d+ is below --fail-under 1\.000"):
        _run_eval(lab, "--inline", "--fail-under", "100%", "--backend", lab.backend.name)
    assert Run.objects.get().status == RunStatus.COMPLETED


def test_it_fails_on_errors_beyond_max_errors(lab: Lab, tmp_path: Path) -> None:
    path = tmp_path / "outputs.jsonl"
    rows = sorted(targets(lab).items())[1:]  # the first case has no output: errored
    path.write_text("\n".join(json.dumps({"key": key, "output": target}) for key, target in rows))
    with pytest.raises(CommandError, match=r"FAILED: 1 results errored \(--max-errors 0\)$"):
        _run_eval(lab, "--outputs", str(path), "--inline")
    assert "errors 1" in _run_eval(lab, "--outputs", str(path), "--inline", "--max-errors", "1")


def test_it_fails_when_the_run_stops_at_its_cost_cap(lab: Lab) -> None:
    with pytest.raises(CommandError, match=r"FAILED: the run ended stopped \(cost cap \$0\.0000"):
        _run_eval(lab, "--inline", "--no-cache", "--cost-cap", "0.00001")
    assert Run.objects.get().status == RunStatus.STOPPED


def test_it_scores_a_file_of_outputs(lab: Lab, tmp_path: Path) -> None:
    path = tmp_path / "outputs.jsonl"
    path.write_text("\n".join(json.dumps({"key": key, "output": target}) for key, target in targets(lab).items()))
    output = _run_eval(lab, "--outputs", str(path), "--inline", "--fail-under", "0.9")
    run = Run.objects.get()
    assert run.source == RunSource.OUTPUTS and 'backend "pre-recorded outputs"' in output
    assert lab.simulator.stats()["chat_requests"] == 0


def test_a_bad_outputs_line_is_named(lab: Lab, tmp_path: Path) -> None:
    path = tmp_path / "outputs.jsonl"
    path.write_text('{"key": "a", "output": "x"}\n\n{"key": "b", "sample": -1, "output": "x"}\n')
    with pytest.raises(CommandError, match=r"outputs\.jsonl: line 3: \"sample\" must be an integer from 0 to 19"):
        _run_eval(lab, "--outputs", str(path), "--inline")
    assert not Run.objects.exists()


def test_it_refuses_what_it_cannot_run(lab: Lab) -> None:
    with pytest.raises(CommandError, match="may not start runs in 'support-agent'"):
        _run_eval(lab, "--as-user", "viewer")
    with pytest.raises(CommandError, match="suite_version: Suite 'demo' has no v4"):
        _run_eval(lab, "--suite-version", "4")
    with pytest.raises(CommandError, match="--fail-under takes a score"):
        _run_eval(lab, "--fail-under", "high")
    assert not Run.objects.exists()


def test_a_timeout_cancels_the_run(lab: Lab) -> None:
    with pytest.raises(CommandError, match=r"timed out after 0\.1 s; run 1 was cancelled"):
        _run_eval(lab, "--timeout", "0.1")  # no worker and not --inline: nothing runs it
    run = Run.objects.get()
    assert run.status == RunStatus.CANCELLED and run.stop_reason == "cancelled by system"


@pytest.mark.parametrize(("text", "value"), [("0.7", 0.7), ("70%", 0.7), ("0", 0.0), ("100%", 1.0)])
def test_thresholds_read_as_scores_or_percentages(text: str, value: float) -> None:
    assert parse_threshold(text) == pytest.approx(value)


@pytest.mark.parametrize("text", ["70", "-0.1", "abc", "120%"])
def test_ambiguous_thresholds_are_refused(text: str) -> None:
    with pytest.raises(CommandError):
        parse_threshold(text)
