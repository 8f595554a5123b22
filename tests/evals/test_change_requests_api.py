"""Change requests over the REST API: open / list / get / vote / apply / close, holdout sealed."""

from __future__ import annotations

import json
from typing import Any

import pytest
from django.test import Client

from evolab.core.models import AuditEvent
from evolab.evals.models import EvalSuite, SuiteVersion
from tests.conftest import Team
from tests.evals.conftest import HOLDOUT_INPUT, HOLDOUT_TARGET

pytestmark = pytest.mark.django_db

API = "/api/v1/projects/support-agent/suites/support/change-requests"


def _post(client: Client, url: str, body: dict[str, Any]) -> Any:
    return client.post(url, data=json.dumps(body), content_type="application/json")


def test_lifecycle_over_the_api(team: Team, suite: EvalSuite) -> None:
    reviewer = team.client_for("reviewer")
    opened = _post(
        reviewer,
        API,
        {
            "title": "Target is wrong",
            "operations": [{"op": "edit", "key": "refund-001", "changes": {"target": "no"}}],
            "source": {"kind": "result", "run": 3, "result": 9, "reason": "target_wrong"},
        },
    )
    assert opened.status_code == 201, opened.content
    body = opened.json()
    assert (body["number"], body["status"], body["author"], body["base_version"]) == (1, "in_review", "reviewer", 1)
    assert body["source"]["reason"] == "target_wrong"
    assert [item["number"] for item in team.client_for("viewer").get(API).json()["items"]] == [1]
    conflict = _post(team.client_for("maintainer"), f"{API}/1/apply", {})
    assert conflict.status_code == 409 and conflict.json()["details"]["blockers"] == ["needs 1 approval, has 0"]
    own_vote = _post(reviewer, f"{API}/1/vote", {"value": "approve"})
    assert own_vote.status_code == 200 and own_vote.json()["status"] == "in_review"  # the author's own vote
    assert _post(team.client_for("owner"), f"{API}/1/vote", {"value": "approve"}).json()["status"] == "approved"
    applied = _post(team.client_for("maintainer"), f"{API}/1/apply", {})
    assert applied.status_code == 201
    assert applied.json()["version"]["number"] == 2 and applied.json()["change_request"]["applied_version"] == 2
    detail = team.client_for("viewer").get(f"{API}/1").json()
    assert detail["status"] == "applied" and detail["changes"][0]["fields"] == [
        {"name": "target", "old": "yes", "new": "no"}
    ]
    assert [vote["counts"] for vote in detail["votes"]] == [False, True]
    assert team.client_for("viewer").get(f"{API}?status=applied").json()["count"] == 1
    assert team.client_for("viewer").get(f"{API}?status=open").json()["count"] == 0


def test_bad_operation_is_422_naming_it_and_writes_nothing(team: Team, suite: EvalSuite) -> None:
    response = _post(
        team.client_for("maintainer"),
        API,
        {
            "title": "x",
            "operations": [{"op": "retag", "key": "date-002", "tags": []}, {"op": "delete", "key": "ghost"}],
        },
    )
    assert response.status_code == 422
    assert response.json()["details"]["errors"] == ["operation 2 (delete 'ghost'): no case 'ghost' in the suite"]
    assert team.client_for("viewer").get(API + "?status=all").json()["count"] == 0


def test_holdout_is_sealed_in_the_api_below_maintainer(team: Team, suite: EvalSuite) -> None:
    opened = _post(
        team.client_for("maintainer"),
        API,
        {"title": "Holdout fix", "operations": [{"op": "edit", "key": "hold-1", "changes": {"target": "NEW-SECRET"}}]},
    )
    assert opened.json()["touches_holdout"] is True
    sealed = team.client_for("reviewer").get(f"{API}/1")
    text = sealed.content.decode()
    assert all(secret not in text for secret in (HOLDOUT_INPUT, HOLDOUT_TARGET, "NEW-SECRET"))
    body = sealed.json()
    assert body["changes"][0]["sealed"] is True and body["changes"][0]["fields"] == []
    assert body["operations"] == [{"op": "edit", "key": "hold-1", "holdout": True, "sealed": True}]
    assert body["blockers"] == ["needs 2 approvals, has 0"]
    assert not AuditEvent.objects.filter(action="holdout.viewed").exists()
    full = team.client_for("owner").get(f"{API}/1").json()
    assert full["changes"][0]["fields"] == [{"name": "target", "old": HOLDOUT_TARGET, "new": "NEW-SECRET"}]
    assert AuditEvent.objects.get(action="holdout.viewed").after["keys"] == ["hold-1"]


def test_close_by_author_or_maintainer_only(team: Team, suite: EvalSuite) -> None:
    _post(
        team.client_for("maintainer"),
        API,
        {"title": "x", "operations": [{"op": "retag", "key": "date-002", "tags": []}]},
    )
    assert _post(team.client_for("reviewer"), f"{API}/1/close", {}).status_code == 403
    closed = _post(team.client_for("maintainer"), f"{API}/1/close", {"reason": "duplicate"})
    assert closed.status_code == 200 and closed.json()["status"] == "closed"
    assert _post(team.client_for("owner"), f"{API}/1/vote", {"value": "approve"}).status_code == 409
    assert SuiteVersion.objects.filter(suite=suite).count() == 1


def test_a_draft_is_submitted_for_review_by_its_author_or_a_maintainer(team: Team, suite: EvalSuite) -> None:
    reviewer = team.client_for("reviewer")
    body = {"title": "Retag", "operations": [{"op": "retag", "key": "refund-001", "tags": ["x"]}], "draft": True}
    assert _post(reviewer, API, body).json()["status"] == "draft"
    assert _post(team.client_for("owner"), API, {**body, "title": "Owner's"}).json()["number"] == 2
    # Another reviewer's draft is not this reviewer's to submit; a maintainer may.
    refused = _post(reviewer, f"{API}/2/submit", {})
    assert refused.status_code == 403
    submitted = _post(reviewer, f"{API}/1/submit", {})
    assert submitted.status_code == 200 and submitted.json()["status"] == "in_review"
    again = _post(reviewer, f"{API}/1/submit", {})
    assert again.status_code == 409 and "Only a draft" in again.json()["message"]
    assert _post(team.client_for("maintainer"), f"{API}/2/submit", {}).json()["status"] == "in_review"
    assert _post(team.client_for("viewer"), f"{API}/1/submit", {}).status_code == 403
    assert AuditEvent.objects.filter(action="suite.change_request.submit").count() == 2


def test_comments_general_and_anchored_with_holdout_sealed(team: Team, suite: EvalSuite) -> None:
    maintainer = team.client_for("maintainer")
    ops = [
        {"op": "edit", "key": "refund-001", "changes": {"target": "no"}},
        {"op": "edit", "key": "hold-1", "changes": {"target": "45 days"}},
    ]
    assert _post(maintainer, API, {"title": "Fix", "operations": ops}).status_code == 201
    reviewer = team.client_for("reviewer")
    general = _post(reviewer, f"{API}/1/comments", {"text": "  Looks right.  "})
    assert general.status_code == 201
    assert {k: general.json()[k] for k in ("author", "case_key", "text")} == {
        "author": "reviewer",
        "case_key": "",
        "text": "Looks right.",
    }
    assert _post(reviewer, f"{API}/1/comments", {"text": "why no?", "case_key": "refund-001"}).status_code == 201
    # A reviewer cannot anchor to the held-out case (it answers as a missing key), nor post empty text.
    sealed = _post(reviewer, f"{API}/1/comments", {"text": "hm", "case_key": "hold-1"})
    assert sealed.status_code == 422 and sealed.json()["field"] == "case_key"
    assert _post(reviewer, f"{API}/1/comments", {"text": "   "}).status_code == 422
    assert _post(maintainer, f"{API}/1/comments", {"text": "checked", "case_key": "hold-1"}).status_code == 201
    assert _post(team.client_for("viewer"), f"{API}/1/comments", {"text": "x"}).status_code == 403
    comments = team.client_for("viewer").get(f"{API}/1").json()["comments"]
    assert [(c["case_key"], c["text"]) for c in comments] == [("", "Looks right."), ("refund-001", "why no?")]
    assert [c["case_key"] for c in maintainer.get(f"{API}/1").json()["comments"]] == ["", "refund-001", "hold-1"]
