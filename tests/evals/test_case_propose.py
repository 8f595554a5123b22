"""The case page's "propose a change" form: it opens a change request editing (only the
changed fields) or deleting the case, from the latest version; holdout rules hold."""

from __future__ import annotations

import json
from typing import Any

import pytest

from evolab.core.models import AuditEvent
from evolab.evals.models import ChangeRequest, ChangeRequestStatus, EvalSuite
from tests.conftest import Team
from tests.evals.conftest import HOLDOUT_INPUT
from tests.evals.factories import make_version

pytestmark = pytest.mark.django_db

PROPOSE = "/p/support-agent/suites/support/propose/{key}/"
CASE = "/p/support-agent/suites/support/v/{number}/cases/{key}/"


def _form(**changes: Any) -> dict[str, Any]:
    """refund-001 as it is in v1, which the tests change field by field."""
    data = {
        "title": "Fix refund",
        "reason": "The policy changed.",
        "action": "edit",
        "input": "Can I get a refund?",
        "target": "yes",
        "tags": "policy",
        "split": "train",
        "grader": "",
    }
    return {**data, **changes}


def test_the_case_page_links_the_form_for_reviewers_on_the_latest_version(team: Team, suite: EvalSuite) -> None:
    link = PROPOSE.format(key="refund-001").encode()
    assert link in team.client_for("reviewer").get(CASE.format(number=1, key="refund-001")).content
    assert link not in team.client_for("viewer").get(CASE.format(number=1, key="refund-001")).content
    # Not on a held-out case for a reviewer, who cannot see or change it.
    assert b"/propose/hold-1/" not in team.client_for("reviewer").get(CASE.format(number=1, key="hold-1")).content
    assert b"/propose/hold-1/" in team.client_for("maintainer").get(CASE.format(number=1, key="hold-1")).content
    # An older version's page offers no form: change requests start from the latest.
    make_version(suite, [{"key": "refund-001", "input": "Can I get a refund?", "target": "no"}])
    assert link not in team.client_for("reviewer").get(CASE.format(number=1, key="refund-001")).content


def test_the_form_is_prefilled_from_the_latest_version(team: Team, suite: EvalSuite) -> None:
    body = team.client_for("reviewer").get(PROPOSE.format(key="date-002")).content.decode()
    assert "What day is it?" in body and "tools" in body and 'value="holdout"' not in body
    assert 'value="holdout"' in team.client_for("maintainer").get(PROPOSE.format(key="date-002")).content.decode()


def test_an_edit_holds_only_the_changed_fields(team: Team, suite: EvalSuite) -> None:
    grader = {"type": "contains"}
    response = team.client_for("reviewer").post(
        PROPOSE.format(key="refund-001"),
        _form(target="yes, within 30 days", tags="policy, money", grader=json.dumps(grader)),
    )
    change_request = ChangeRequest.objects.get()
    assert response.status_code == 302 and response["Location"].endswith(f"/changes/{change_request.number}/")
    assert change_request.status == ChangeRequestStatus.IN_REVIEW and change_request.author == team.reviewer
    assert change_request.title == "Fix refund" and change_request.description == "The policy changed."
    ((op,),) = [change_request.operations]
    assert op["op"] == "edit" and op["key"] == "refund-001"
    assert op["changes"] == {"target": "yes, within 30 days", "tags": ["policy", "money"], "grader": grader}
    assert change_request.source == {"kind": "case", "case": "refund-001", "suite_version": 1}


def test_a_chat_case_stays_a_chat_case(team: Team, suite: EvalSuite) -> None:
    messages = [{"role": "user", "content": "What date is it?"}]
    client = team.client_for("reviewer")
    # (the fixture's case has no target, which its grader needs: the edit gives it one)
    data = _form(title="Reword", input=json.dumps(messages), target="Tuesday", tags="tools", split="dev")
    assert client.post(PROPOSE.format(key="date-002"), data).status_code == 302
    assert ChangeRequest.objects.get().operations[0]["changes"] == {"input": messages, "target": "Tuesday"}
    bad = client.post(PROPOSE.format(key="date-002"), {**data, "input": "not json"})
    assert bad.status_code == 422 and b"Chat input is JSON" in bad.content
    assert ChangeRequest.objects.count() == 1


def test_delete_and_nothing_changed(team: Team, suite: EvalSuite) -> None:
    client = team.client_for("reviewer")
    unchanged = client.post(PROPOSE.format(key="refund-001"), _form())
    assert unchanged.status_code == 422 and b"Nothing is changed" in unchanged.content
    assert not ChangeRequest.objects.exists()
    assert client.post(PROPOSE.format(key="HumanEval/0"), {"title": "Drop", "action": "delete"}).status_code == 302
    assert ChangeRequest.objects.get().operations == [{"op": "delete", "key": "HumanEval/0", "holdout": False}]


def test_holdout_rules(team: Team, suite: EvalSuite) -> None:
    reviewer = team.client_for("reviewer")
    assert reviewer.get(PROPOSE.format(key="hold-1")).status_code == 403
    assert reviewer.post(PROPOSE.format(key="hold-1"), {"title": "x", "action": "delete"}).status_code == 403
    # A reviewer cannot move a case into holdout: the choice is not offered, so it is refused.
    moved = reviewer.post(PROPOSE.format(key="refund-001"), _form(split="holdout"))
    assert moved.status_code == 422 and not ChangeRequest.objects.exists()
    maintainer = team.client_for("maintainer")
    page = maintainer.get(PROPOSE.format(key="hold-1"))
    assert page.status_code == 200 and HOLDOUT_INPUT.encode() in page.content
    (event,) = AuditEvent.objects.filter(action="holdout.viewed")
    assert event.after["keys"] == ["hold-1"] and event.after["where"] == "propose form v1"
    response = maintainer.post(PROPOSE.format(key="refund-001"), _form(split="holdout"))
    assert response.status_code == 302
    change_request = ChangeRequest.objects.get()
    assert change_request.operations[0]["changes"] == {"split": "holdout"} and change_request.moves_holdout


def test_unknown_case_is_404(team: Team, suite: EvalSuite) -> None:
    assert team.client_for("reviewer").get(PROPOSE.format(key="nope")).status_code == 404
