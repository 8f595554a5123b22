"""suite_create and suite_version_import: atomicity, merge/replace, splits, audit, immutability."""

from __future__ import annotations

import io

import pytest

from evolab.core.errors import Conflict, ValidationFailed
from evolab.core.models import AuditEvent
from evolab.evals import actions
from evolab.evals.exporting import export_jsonl
from evolab.evals.importing import ImportFailed
from evolab.evals.models import EvalCase, EvalCaseTag, EvalSuite, ImmutableRecordError, SuiteVersion
from evolab.evals.splits import assign_split
from tests.conftest import Team
from tests.evals.factories import EXACT, EvalSuiteFactory, csv_bytes, jsonl

pytestmark = pytest.mark.django_db

CASE_FIELDS = ("key", "input", "target", "grader", "tags", "split", "metadata")


def _cases(version: SuiteVersion) -> list[tuple[object, ...]]:
    return list(EvalCase.objects.filter(version=version).order_by("id").values_list(*CASE_FIELDS))


def _import(team: Team, suite: EvalSuite, data: bytes, **kwargs: object) -> SuiteVersion:
    kwargs.setdefault("fmt", "jsonl")
    return actions.suite_version_import(actor=team.maintainer, suite=suite, source=data, **kwargs)  # type: ignore[arg-type]


def _rows(keys: str, **extra: object) -> list[dict[str, object]]:
    return [{"key": k, "input": f"q {k}", "target": k.upper(), **extra} for k in keys]


def test_suite_create_records_audit(team: Team) -> None:
    suite = actions.suite_create(actor=team.maintainer, project=team.project, slug="", name="Refund policy")
    assert suite.slug == "refund-policy" and suite.default_grader == {}
    event = AuditEvent.objects.get(action="suite.create")
    assert (event.project_id, event.object_label, event.actor) == (team.project.pk, "refund-policy", team.maintainer)


def test_suite_create_refuses_duplicates_and_bad_graders(team: Team) -> None:
    actions.suite_create(actor=team.maintainer, project=team.project, slug="s", name="S")
    with pytest.raises(Conflict):
        actions.suite_create(actor=team.maintainer, project=team.project, slug="s", name="Other")
    with pytest.raises(ValidationFailed) as caught:
        actions.suite_create(
            actor=team.maintainer, project=team.project, slug="t", name="T", default_grader={"type": "?"}
        )
    assert caught.value.field == "default_grader"
    assert EvalSuite.objects.count() == 1


def test_import_creates_a_version_with_cases_tags_and_audit(team: Team) -> None:
    suite = EvalSuiteFactory(project=team.project)
    version = _import(team, suite, jsonl(_rows("abc", tags=["t1", "t2"])), message="first")
    assert (version.number, version.case_count, version.message, version.created_by) == (1, 3, "first", team.maintainer)
    assert version.default_grader == EXACT
    assert [c[0] for c in _cases(version)] == ["a", "b", "c"]
    assert EvalCaseTag.objects.filter(case__version=version, tag="t2").count() == 3
    assert [c[5] for c in _cases(version)] == [assign_split(k) for k in "abc"]
    event = AuditEvent.objects.get(action="suite.version.create")
    assert event.after["number"] == 1 and event.after["cases"] == 3 and event.object_label == f"{suite.slug} v1"


def test_a_failed_import_creates_nothing(team: Team) -> None:
    """The done-means file: line 17 is not JSON, line 23 lacks input."""
    suite = EvalSuiteFactory(project=team.project)
    _import(team, suite, jsonl(_rows("xy")))
    lines: list[object] = list(_rows([f"k{i}" for i in range(1, 26)]))  # type: ignore[arg-type]
    lines[16] = "this is not json"
    del lines[22]["input"]  # type: ignore[attr-defined]
    before = (
        SuiteVersion.objects.count(),
        EvalCase.objects.count(),
        EvalCaseTag.objects.count(),
        AuditEvent.objects.count(),
    )
    with pytest.raises(ImportFailed) as caught:
        _import(team, suite, jsonl(lines))
    assert [e["line"] for e in caught.value.details["errors"]] == [17, 23]
    after = (
        SuiteVersion.objects.count(),
        EvalCase.objects.count(),
        EvalCaseTag.objects.count(),
        AuditEvent.objects.count(),
    )
    assert after == before


def test_import_from_a_csv_stream(team: Team) -> None:
    suite = EvalSuiteFactory(project=team.project, default_grader={"type": "llm_judge", "rubric": "Polite?"})
    data = csv_bytes(["id", "prompt"], [["r1", "Dear sir,\nI want a refund."]], bom=True)
    version = _import(team, suite, io.BytesIO(data), fmt="csv", mapping={"key": "id", "input": "prompt"})  # type: ignore[arg-type]
    assert _cases(version) == [("r1", "Dear sir,\nI want a refund.", "", {}, [], assign_split("r1"), {})]


def test_replace_keeps_only_the_files_cases(team: Team) -> None:
    suite = EvalSuiteFactory(project=team.project)
    _import(team, suite, jsonl(_rows("abc")))
    v2 = _import(team, suite, jsonl([{"key": "b", "input": "new b", "target": "B2"}, *_rows("d")]), base="replace")
    assert [(c[0], c[1]) for c in _cases(v2)] == [("b", "new b"), ("d", "q d")]
    assert v2.number == 2 and v2.case_count == 2
    assert AuditEvent.objects.filter(action="suite.version.create").first().after["removed"] == 2  # type: ignore[union-attr]


def test_merge_starts_from_the_latest_version(team: Team) -> None:
    suite = EvalSuiteFactory(project=team.project)
    v1 = _import(team, suite, jsonl(_rows("abc", tags=["old"])))
    v2 = _import(team, suite, jsonl([{"key": "b", "input": "new b", "target": "B2"}, *_rows("d")]), base="merge")
    assert [(c[0], c[1], c[4]) for c in _cases(v2)] == [
        ("a", "q a", ["old"]),
        ("b", "new b", []),
        ("c", "q c", ["old"]),
        ("d", "q d", []),
    ]
    assert v2.case_count == 4
    assert [c[1] for c in _cases(v1)] == ["q a", "q b", "q c"]  # v1 untouched
    assert EvalCaseTag.objects.filter(case__version=v2, tag="old").count() == 2


def test_a_row_without_split_keeps_its_keys_earlier_split(team: Team) -> None:
    suite = EvalSuiteFactory(project=team.project)
    key = next(k for k in (f"k{i}" for i in range(100)) if assign_split(k) == "train")
    _import(team, suite, jsonl([{"key": key, "input": "x", "target": "y", "split": "holdout"}]))
    v2 = _import(team, suite, jsonl([{"key": key, "input": "x2", "target": "y"}, *_rows("z")]))
    assert [(c[0], c[5]) for c in _cases(v2)] == [(key, "holdout"), ("z", assign_split("z"))]
    v3 = _import(team, suite, jsonl([{"key": key, "input": "x3", "target": "y", "split": "dev"}]))
    assert _cases(v3)[0][5] == "dev"


def test_default_grader_is_copied_onto_the_version(team: Team) -> None:
    suite = EvalSuiteFactory(project=team.project, default_grader={})
    with pytest.raises(ImportFailed):
        _import(team, suite, jsonl(_rows("a")))
    v1 = _import(team, suite, jsonl(_rows("a")), default_grader={"type": "exact", "strip": True})
    v2 = _import(team, suite, jsonl(_rows("a")), default_grader={"type": "contains"})
    suite.refresh_from_db()
    assert v1.default_grader == {"type": "exact", "strip": True}
    assert v2.default_grader == suite.default_grader == {"type": "contains"}
    with pytest.raises(ValidationFailed) as caught:
        _import(team, suite, jsonl(_rows("a")), default_grader={"type": "regex"})
    assert caught.value.field == "default_grader"


def test_versions_and_cases_are_immutable(team: Team) -> None:
    suite = EvalSuiteFactory(project=team.project)
    version = _import(team, suite, jsonl(_rows("a")))
    case = EvalCase.objects.get(version=version)
    case.target = "changed"
    with pytest.raises(ImmutableRecordError):
        case.save()
    with pytest.raises(ImmutableRecordError):
        version.save()
    with pytest.raises(ImmutableRecordError):
        EvalCase.objects.filter(pk=case.pk).update(target="changed")
    with pytest.raises(ImmutableRecordError):
        SuiteVersion.objects.filter(pk=version.pk).update(message="changed")
    assert EvalCase.objects.get(pk=case.pk).target == "A"


def test_export_round_trips_through_import(team: Team) -> None:
    suite = EvalSuiteFactory(project=team.project)
    rows = [
        {
            "key": "chat",
            "input": [{"role": "user", "content": "héllo\u2028"}],
            "target": "x",
            "tags": ["a"],
            "split": "holdout",
        },
        {
            "key": "HumanEval/1",
            "input": "def f():",
            "target": "",
            "grader": {"type": "python_tests", "tests": "assert f()"},
        },
        {"key": "n", "input": "1+1", "target": 2, "extra": {"nested": [1, None]}, "metadata": {"m": 1}},
    ]
    v1 = _import(team, suite, jsonl(rows))
    exported = "".join(export_jsonl(v1, include_holdout=True)).encode()
    other = EvalSuiteFactory(project=team.project)
    v2 = _import(team, other, exported)
    assert _cases(v2) == _cases(v1)
    without = "".join(export_jsonl(v1, include_holdout=False))
    assert "chat" not in without and without.count("\n") == 2


def test_import_rejects_an_unknown_mode(team: Team) -> None:
    suite = EvalSuiteFactory(project=team.project)
    with pytest.raises(ValidationFailed):
        _import(team, suite, jsonl(_rows("a")), base="append")
