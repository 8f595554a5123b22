"""The evals REST API: suites, versions, cases (sealed holdout), import (422 errors), export."""

from __future__ import annotations

import json
from typing import Any

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile

from evolab.evals.change_requests import suite_policy_update
from evolab.evals.models import ChangeRequest, EvalCase, EvalSuite, SuiteVersion
from tests.conftest import Team
from tests.evals.conftest import HOLDOUT_INPUT, HOLDOUT_TARGET
from tests.evals.factories import EvalSuiteFactory, jsonl, make_version

pytestmark = pytest.mark.django_db

API = "/api/v1/projects/support-agent/suites"


def test_list_and_detail(team: Team, suite: EvalSuite) -> None:
    client = team.client_for("viewer")
    body = client.get(API).json()
    assert body["count"] == 1
    (item,) = body["items"]
    assert (item["slug"], item["latest_version"], item["latest_case_count"]) == ("support", 1, 4)
    detail = client.get(f"{API}/support").json()
    assert detail["latest"]["number"] == 1 and detail["latest"]["case_count"] == 4
    assert detail["split_counts"] == {"train": 2, "dev": 1, "holdout": 1}
    assert client.get(f"{API}/nope").status_code == 404


def test_create_suite(team: Team) -> None:
    client = team.client_for("maintainer")
    payload = {"name": "Refunds", "default_grader": {"type": "exact"}}
    response = client.post(API, json.dumps(payload), content_type="application/json")
    assert response.status_code == 201
    assert response.json()["slug"] == "refunds" and response.json()["latest_version"] is None
    again = client.post(API, json.dumps(payload), content_type="application/json")
    assert again.status_code == 409 and again.json()["field"] == "slug"
    bad = client.post(API, json.dumps({"name": "X", "default_grader": {"type": "x"}}), content_type="application/json")
    assert bad.status_code == 422 and bad.json()["field"] == "default_grader"


def test_versions(team: Team, suite: EvalSuite) -> None:
    make_version(suite, [{"key": "a"}], message="second", created_by=team.maintainer)
    items = team.client_for("viewer").get(f"{API}/support/versions").json()["items"]
    assert [(v["number"], v["case_count"], v["created_by"]) for v in items] == [(2, 1, "maintainer"), (1, 4, None)]


def test_cases_are_sealed_below_maintainer(team: Team, suite: EvalSuite) -> None:
    for persona in ("viewer", "reviewer"):
        response = team.client_for(persona).get(f"{API}/support/cases?split=holdout")
        assert HOLDOUT_INPUT.encode() not in response.content and HOLDOUT_TARGET.encode() not in response.content
        assert b"SECRET-HOLDOUT-META" not in response.content
        (case,) = response.json()["items"]
        assert case == {
            "key": "hold-1",
            "split": "holdout",
            "tags": ["policy"],
            "sealed": True,
            "input": None,
            "target": None,
            "grader": None,
            "metadata": None,
        }
    for persona in ("maintainer", "owner"):
        (case,) = team.client_for(persona).get(f"{API}/support/cases?split=holdout").json()["items"]
        assert case["sealed"] is False and case["input"] == HOLDOUT_INPUT and case["target"] == HOLDOUT_TARGET


def test_case_filters_and_pagination(team: Team, suite: EvalSuite) -> None:
    client = team.client_for("viewer")

    def keys(query: str) -> list[str]:
        return [c["key"] for c in client.get(f"{API}/support/cases{query}").json()["items"]]

    assert keys("?tag=policy") == ["refund-001", "hold-1"]
    assert keys("?q=day") == ["date-002"]
    assert keys("?q=refund+window") == []  # no match inside a sealed case
    assert keys("?limit=2&offset=1") == ["HumanEval/0", "date-002"]
    assert client.get(f"{API}/support/cases?split=bogus").status_code == 422
    chat = client.get(f"{API}/support/cases?split=dev").json()["items"][0]
    assert chat["input"] == [{"role": "user", "content": "What day is it?"}]
    make_version(suite, [{"key": "v2-only"}])
    assert keys("") == ["v2-only"] and "v2-only" not in keys("?version=1")
    assert client.get(f"{API}/support/cases?version=7").status_code == 404


HUMANEVAL_ROW = {
    "task_id": "HumanEval/9",
    "prompt": "def f():",
    "test": "def check(c): pass",
    "entry_point": "f",
    "grader": {"type": "python_tests"},
}


def _import_humaneval(team: Team) -> Any:
    upload = SimpleUploadedFile("humaneval.jsonl", jsonl([HUMANEVAL_ROW]))
    return team.client_for("maintainer").post(
        f"{API}/support/import",
        {"file": upload, "mapping": "key=task_id, input=prompt", "mode": "merge", "message": "he"},
    )


def test_import_applies_directly_where_the_policy_allows(team: Team, suite: EvalSuite) -> None:
    suite_policy_update(actor=team.owner, suite=suite, settings={"allow_direct_apply": True})
    response = _import_humaneval(team)
    assert response.status_code == 201, response.content
    assert (response.json()["number"], response.json()["case_count"], response.json()["created_by"]) == (
        2,
        5,
        "maintainer",
    )
    case = EvalCase.objects.get(version__suite=suite, version__number=2, key="HumanEval/9")
    assert case.metadata == {"test": "def check(c): pass", "entry_point": "f"}
    assert ChangeRequest.objects.get(suite=suite).applied_directly


def test_import_opens_a_change_request_otherwise(team: Team, suite: EvalSuite) -> None:
    response = _import_humaneval(team)
    assert response.status_code == 202, response.content
    body = response.json()
    assert body["status"] == "in_review" and body["operation_count"] == 1 and body["source"]["kind"] == "import"
    assert SuiteVersion.objects.filter(suite=suite).count() == 1


def test_import_failure_is_422_with_every_line(team: Team, suite: EvalSuite) -> None:
    rows: list[object] = [{"key": f"k{i}", "input": "x", "target": "y"} for i in range(30)]
    rows[16] = "not json"
    del rows[22]["input"]  # type: ignore[attr-defined]
    rows += [{"key": "dup", "target": "y"}] * 60
    upload = SimpleUploadedFile("bad.jsonl", jsonl(rows))
    response = team.client_for("maintainer").post(f"{API}/support/import", {"file": upload})
    assert response.status_code == 422
    body = response.json()
    assert body["code"] == "import_failed"
    assert [e["line"] for e in body["details"]["errors"][:2]] == [17, 23]
    assert body["details"]["errors"][1] == {
        "line": 23,
        "field": "input",
        "message": "missing: every case needs an input",
    }
    assert len(body["details"]["errors"]) == 50 and body["details"]["more"] == 62 - 50
    assert SuiteVersion.objects.filter(suite=suite).count() == 1


def test_import_request_errors(team: Team, suite: EvalSuite) -> None:
    client = team.client_for("maintainer")
    no_file = client.post(f"{API}/support/import", {"mode": "replace"})
    assert no_file.status_code == 422 and no_file.json()["field"] == "file"
    upload = SimpleUploadedFile("a.jsonl", jsonl([{"key": "a", "input": "x", "target": "y"}]))
    bad_grader = client.post(f"{API}/support/import", {"file": upload, "default_grader": "{nope"})
    assert bad_grader.status_code == 422 and bad_grader.json()["field"] == "default_grader"


def test_export(team: Team, suite: EvalSuite) -> None:
    full = team.client_for("maintainer").get(f"{API}/support/export?version=1")
    assert b"".join(full.streaming_content).count(HOLDOUT_INPUT.encode()) == 1
    partial = team.client_for("reviewer").get(f"{API}/support/export")
    body = b"".join(partial.streaming_content)
    assert b"hold-1" not in body and HOLDOUT_INPUT.encode() not in body and partial["X-Evolab-Holdout"] == "omitted"
    assert [json.loads(line)["key"] for line in body.splitlines()] == ["refund-001", "HumanEval/0", "date-002"]


def test_list_query_counts_do_not_grow(team: Team, django_assert_max_num_queries) -> None:  # type: ignore[no-untyped-def]
    client = team.client_for("viewer")
    for n in (3, 30):
        while EvalSuite.objects.count() < n:
            make_version(EvalSuiteFactory(project=team.project), [{"key": "a"}])
        with django_assert_max_num_queries(5):
            assert client.get(API).status_code == 200
    for n in (10, 100):
        suite = EvalSuiteFactory(project=team.project, slug=f"big-{n}")
        make_version(suite, [{"key": f"k{i}", "split": "holdout" if i % 2 else "train"} for i in range(n)])
        make_version(suite, [{"key": f"k{i}"} for i in range(n)])
        with django_assert_max_num_queries(7):
            assert client.get(f"{API}/big-{n}/cases?limit=100").status_code == 200
        with django_assert_max_num_queries(6):
            assert client.get(f"{API}/big-{n}/versions").status_code == 200
