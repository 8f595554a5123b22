"""Curation from runs: from a result, "add as case", "the target is wrong" and "this case
is ambiguous" open a change request of the suite through a prefilled form."""

from __future__ import annotations

import json

import pytest

from evolab.evals.models import ChangeRequest, EvalCase, SuiteVersion
from evolab.runs.models import CaseResult, Run
from tests.runs.conftest import Lab
from tests.runs.helpers import SECRET_OUTPUT, sealed_run
from tests.runs.scored_runs import scored_run

WRONG = "296751577"


@pytest.fixture
def failing(lab: Lab) -> tuple[Run, CaseResult]:
    """A run where the first dev case failed with a recognisable output."""
    case = EvalCase.objects.filter(version=lab.suite_version).order_by("key").first()
    assert case is not None
    run = scored_run(
        lab.team.project, lab.harness, lab.suite_version, {case.key: [0.0]}, outputs={case.key: "<b>the model's answer</b>"}
    )
    return run, CaseResult.objects.get(run=run, case=case)


def url(run: Run, result: CaseResult, kind: str) -> str:
    return f"/p/{run.project.slug}/runs/{run.number}/results/{result.pk}/curate/{kind}/"


def test_the_result_page_offers_curation_to_reviewers_only(lab: Lab, failing: tuple[Run, CaseResult]) -> None:
    run, result = failing
    page = f"/p/{run.project.slug}/runs/{run.number}/results/{result.pk}/"
    html = lab.team.client_for("reviewer").get(page).content.decode()
    for kind in ("add", "target", "ambiguous"):
        assert url(run, result, kind) in html
    assert "/curate/" not in lab.team.client_for("viewer").get(page).content.decode()


def test_the_form_is_prefilled_from_the_result(lab: Lab, failing: tuple[Run, CaseResult]) -> None:
    run, result = failing
    html = lab.team.client_for("reviewer").get(url(run, result, "target")).content.decode()
    assert "&lt;b&gt;the model&#x27;s answer&lt;/b&gt;</textarea>" in html  # the output, as the proposed target
    assert result.case.target in html and result.case.input.split(" ")[0] in html


def test_the_target_is_wrong_opens_an_edit(lab: Lab, failing: tuple[Run, CaseResult]) -> None:
    run, result = failing
    response = lab.team.client_for("reviewer").post(
        url(run, result, "target"),
        {"title": "Fix it", "reason": "The product is off by one", "target": WRONG},
    )
    change_request = ChangeRequest.objects.get()
    assert response.status_code == 302
    assert response["Location"] == f"/p/{run.project.slug}/suites/demo/changes/{change_request.number}/"
    assert change_request.author == lab.team.reviewer and change_request.status == "in_review"
    assert change_request.operations[0]["op"] == "edit"
    assert change_request.operations[0]["key"] == result.case.key
    assert change_request.operations[0]["changes"] == {"target": WRONG}
    assert "The product is off by one" in change_request.description
    assert result.case.input in change_request.description and "<b>the model's answer</b>" in change_request.description
    assert change_request.source == {
        "kind": "result",
        "action": "target",
        "run": run.number,
        "result": result.pk,
        "case": result.case.key,
        "sample": 0,
        "suite_version": lab.suite_version.number,
    }


def test_add_as_case_opens_an_add_with_the_edited_values(lab: Lab, failing: tuple[Run, CaseResult]) -> None:
    run, result = failing
    lab.team.client_for("reviewer").post(
        url(run, result, "add"),
        {
            "title": "New case",
            "key": "arith-new",
            "input": "What is 2 + 2?",
            "target": "4",
            "tags": "arithmetic, curated, arithmetic",
            "split": "dev",
        },
    )
    op = ChangeRequest.objects.get().operations[0]
    assert op["op"] == "add"
    case = op["case"]
    assert (case["key"], case["input"], case["target"], case["tags"], case["split"]) == (
        "arith-new",
        "What is 2 + 2?",
        "4",
        ["arithmetic", "curated"],
        "dev",
    )
    assert case["metadata"]["curated_from"] == {"run": run.number, "result": result.pk, "case": result.case.key}


def test_ambiguous_opens_a_retag_or_a_delete(lab: Lab, failing: tuple[Run, CaseResult]) -> None:
    run, result = failing
    client = lab.team.client_for("reviewer")
    client.post(url(run, result, "ambiguous"), {"title": "Ambiguous", "reason": "Which rounding?", "proposal": "retag"})
    client.post(url(run, result, "ambiguous"), {"title": "Drop it", "reason": "Unanswerable", "proposal": "delete"})
    retag, delete = ChangeRequest.objects.order_by("number")
    assert retag.operations[0]["op"] == "retag"
    assert retag.operations[0]["tags"] == [*result.case.tags, "ambiguous"]
    assert "This case is ambiguous." in retag.description and "Which rounding?" in retag.description
    assert delete.operations[0]["op"] == "delete"


@pytest.mark.parametrize(
    ("kind", "data", "message"),
    [
        ("target", {"title": "t", "reason": "", "target": WRONG}, "This field is required."),
        ("ambiguous", {"title": "t", "reason": "", "proposal": "retag"}, "This field is required."),
        ("add", {"title": "t", "key": "arith-001", "input": "x", "target": "", "split": "dev"}, "exists already"),
        ("add", {"title": "t", "key": "k", "input": "x", "split": "holdout"}, "Select a valid choice"),
    ],
)
def test_bad_input_says_why_and_opens_nothing(
    lab: Lab, failing: tuple[Run, CaseResult], kind: str, data: dict[str, str], message: str
) -> None:
    run, result = failing
    response = lab.team.client_for("reviewer").post(url(run, result, kind), data)
    assert response.status_code == 422
    assert message in response.content.decode()
    assert not ChangeRequest.objects.exists()


def test_an_unchanged_target_is_refused(lab: Lab, failing: tuple[Run, CaseResult]) -> None:
    run, result = failing
    response = lab.team.client_for("reviewer").post(
        url(run, result, "target"), {"title": "t", "reason": "r", "target": result.case.target}
    )
    assert response.status_code == 422 and "same as the current one" in response.content.decode()
    assert not ChangeRequest.objects.exists()


def test_chat_input_must_stay_a_message_list(lab: Lab, failing: tuple[Run, CaseResult]) -> None:
    run, result = failing
    data = {"title": "t", "key": "chat-1", "target": "4", "split": "dev", "chat": "on"}
    client = lab.team.client_for("reviewer")
    assert client.post(url(run, result, "add"), {**data, "input": "[not json"}).status_code == 422
    assert not ChangeRequest.objects.exists()
    messages = [{"role": "user", "content": "2 + 2?"}]
    assert client.post(url(run, result, "add"), {**data, "input": json.dumps(messages)}).status_code == 302
    assert ChangeRequest.objects.get().operations[0]["case"]["input"] == messages


def test_viewers_and_unknown_kinds_are_refused(lab: Lab, failing: tuple[Run, CaseResult]) -> None:
    run, result = failing
    assert lab.team.client_for("viewer").get(url(run, result, "target")).status_code == 403
    assert lab.team.client_for("viewer").post(url(run, result, "target"), {"title": "x"}).status_code == 403
    assert lab.team.client_for("reviewer").get(url(run, result, "other")).status_code == 404
    assert lab.team.client_for("outsider").get(url(run, result, "target")).status_code == 404


def test_holdout_results_only_for_those_who_see_the_holdout(lab: Lab) -> None:
    run = sealed_run(lab)
    result = CaseResult.objects.filter(run=run, case__split="holdout").order_by("pk").first()
    assert result is not None
    reviewer = lab.team.client_for("reviewer")
    assert reviewer.get(url(run, result, "target")).status_code == 403
    assert reviewer.post(url(run, result, "target"), {"title": "t", "reason": "r", "target": "x"}).status_code == 403
    page = reviewer.get(f"/p/{run.project.slug}/runs/{run.number}/results/{result.pk}/").content.decode()
    assert "/curate/" not in page and SECRET_OUTPUT not in page
    maintainer = lab.team.client_for("maintainer")
    assert SECRET_OUTPUT in maintainer.get(url(run, result, "target")).content.decode()
    response = maintainer.post(url(run, result, "target"), {"title": "t", "reason": "r", "target": "30 days"})
    assert response.status_code == 302
    assert ChangeRequest.objects.get().touches_holdout
    assert SuiteVersion.objects.filter(suite=run.suite_version.suite).count() == 1  # nothing applied yet
