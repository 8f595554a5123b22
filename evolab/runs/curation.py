"""Curation from runs: a result becomes a change request of its suite.

Three kinds, each a small form prefilled from the result and its case, which the person
edits before submitting:

* ``add`` — "add as case": a new case with the result's input and the output as the
  proposed target;
* ``target`` — "the target is wrong": an edit of the case's target, prefilled with the
  output, with the reason;
* ``ambiguous`` — "this case is ambiguous": a retag that adds the ``ambiguous`` tag (or,
  if the person prefers, deleting the case), the description carrying the input, the
  output and the reason, so reviewers decide on a rewrite with the evidence in front
  of them.

Nothing is written here: `curation_request` builds the title, description, operations
and source of the change request; `evals.change_requests.change_request_open` opens it.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

from evolab.core.errors import ValidationFailed
from evolab.evals.case_text import input_as_text, parse_input, parse_tags
from evolab.evals.selectors import CaseView
from evolab.runs.models import Run
from evolab.runs.selectors import ResultView

Kind = Literal["add", "target", "ambiguous"]
KINDS: dict[str, str] = {
    "add": "Add as case",
    "target": "The target is wrong",
    "ambiguous": "This case is ambiguous",
}
AMBIGUOUS_TAG = "ambiguous"
# Output quoted in a description is cut here; the change request links to the result.
QUOTE_MAX_CHARS = 4_000


def _quote(text: str) -> str:
    text = text or ""
    if len(text) > QUOTE_MAX_CHARS:
        text = text[:QUOTE_MAX_CHARS] + f"\n… ({len(text) - QUOTE_MAX_CHARS:,} more characters)"
    return "\n".join(f"    {line}" for line in text.splitlines() or [""])


@dataclass(frozen=True)
class Prefill:
    """What the form starts with."""

    title: str
    key: str
    input: str
    chat: bool
    target: str
    tags: str
    split: str


def prefill(kind: Kind, run: Run, result: ResultView, case: CaseView) -> Prefill:
    output = result.output or ""
    titles = {
        "add": f"Add case from run {run.number}: {case.key}",
        "target": f"Fix the target of {case.key}",
        "ambiguous": f"{case.key} is ambiguous",
    }
    return Prefill(
        title=titles[kind][:200],
        key=f"{case.key}-run{run.number}-s{result.sample + 1}"[:200],
        input=input_as_text(case.input),
        chat=case.is_chat,
        target=output,
        tags=", ".join(case.tags),
        split=case.split,
    )


def source_of(kind: Kind, run: Run, result: ResultView) -> dict[str, Any]:
    """Where the change request came from, kept on it so its page can link back."""
    return {
        "kind": "result",
        "action": kind,
        "run": run.number,
        "result": result.id,
        "case": result.case_key,
        "sample": result.sample,
        "suite_version": run.suite_version.number,
    }


def _evidence(run: Run, result: ResultView, case: CaseView) -> str:
    verdict = "passed" if result.passed else "failed" if result.passed is not None else "not graded"
    score = f"{result.score:.3f}" if result.score is not None else "—"
    return (
        f"From run {run.number}, case {case.key} (suite v{run.suite_version.number}), sample {result.sample + 1}: "
        f"{verdict}, score {score}.\n\n"
        f"Input:\n{_quote(input_as_text(case.input))}\n\n"
        f"Target:\n{_quote(case.target or '')}\n\n"
        f"Output:\n{_quote(result.output or '')}"
    )


@dataclass(frozen=True)
class CurationRequest:
    title: str
    description: str
    operations: list[dict[str, Any]]
    source: dict[str, Any]


def curation_request(
    kind: Kind, run: Run, result: ResultView, case: CaseView, data: dict[str, Any]
) -> CurationRequest:
    """The change request for the cleaned form `data` (title, reason, and per kind: key,
    input, target, tags, split / target / proposal)."""
    reason = (data.get("reason") or "").strip()
    title = (data.get("title") or "").strip()
    if not title:
        raise ValidationFailed("Give the change request a title.", field="title")
    operations: list[dict[str, Any]]
    if kind == "add":
        new_case = {
            "key": data["key"].strip(),
            "input": parse_input(data["input"], chat=bool(data.get("chat"))),
            "target": data.get("target") or "",
            "grader": case.grader or {},
            "tags": parse_tags(data.get("tags") or ""),
            "split": data["split"],
            "metadata": {"curated_from": {"run": run.number, "result": result.id, "case": case.key}},
        }
        if not new_case["key"]:
            raise ValidationFailed("A case needs a key.", field="key")
        operations = [{"op": "add", "case": new_case}]
        lead = "Add a case made from a run's result."
    elif kind == "target":
        if not reason:
            raise ValidationFailed("Say why the target is wrong.", field="reason")
        target = data.get("target") or ""
        if target == (case.target or ""):
            raise ValidationFailed("The new target is the same as the current one.", field="target")
        operations = [{"op": "edit", "key": case.key, "changes": {"target": target}}]
        lead = "The target of this case looks wrong."
    else:
        if not reason:
            raise ValidationFailed("Say what makes the case ambiguous.", field="reason")
        if data.get("proposal") == "delete":
            operations = [{"op": "delete", "key": case.key}]
        else:
            tags = case.tags if AMBIGUOUS_TAG in case.tags else [*case.tags, AMBIGUOUS_TAG]
            operations = [{"op": "retag", "key": case.key, "tags": tags}]
        lead = "This case is ambiguous."
    parts = [lead]
    if reason:
        parts.append(f"Reason: {reason}")
    parts.append(_evidence(run, result, case))
    return CurationRequest(
        title=title[:200], description="\n\n".join(parts), operations=operations, source=source_of(kind, run, result)
    )
