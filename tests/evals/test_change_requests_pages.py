"""The change-request pages: list, review page (diff, redaction, duplicates, audit), decisions, policy."""

from __future__ import annotations

import pytest

from evolab.core.models import AuditEvent
from evolab.evals.change_requests import change_request_open, change_request_vote
from evolab.evals.models import ChangeRequest, ChangeRequestStatus, EvalSuite, SuiteVersion
from tests.conftest import Team
from tests.evals.conftest import HOLDOUT_INPUT, HOLDOUT_TARGET

pytestmark = pytest.mark.django_db

NEW_TARGET = "SECRET-NEW-HOLDOUT-TARGET 45 days"


def _url(suite: EvalSuite, tail: str = "") -> str:
    return f"/p/support-agent/suites/{suite.slug}/changes/{tail}"


@pytest.fixture
def holdout_cr(team: Team, suite: EvalSuite) -> ChangeRequest:
    """Edits a train case and the holdout case, and adds a near-copy of an existing input."""
    return change_request_open(
        suite=suite,
        author=team.maintainer,
        title="Fix targets",
        operations=[
            {"op": "edit", "key": "refund-001", "changes": {"target": "yes, within 30 days"}},
            {"op": "edit", "key": "hold-1", "changes": {"target": NEW_TARGET}},
            {"op": "add", "case": {"key": "refund-dup", "input": "can i get a REFUND", "target": "yes"}},
            {"op": "add", "case": {"key": "hold-dup", "input": HOLDOUT_INPUT.lower(), "target": "x", "split": "dev"}},
        ],
        source={"kind": "result", "run": 7, "result": 70, "reason": "target_wrong"},
    )


def test_page_shows_a_field_level_diff_sealed_below_maintainer(
    team: Team, suite: EvalSuite, holdout_cr: ChangeRequest
) -> None:
    for persona in ("viewer", "reviewer"):
        response = team.client_for(persona).get(_url(suite, f"{holdout_cr.number}/"))
        body = response.content.decode()
        assert response.status_code == 200
        assert "yes, within 30 days" in body and "refund-dup" in body  # the visible diff
        assert "target_wrong" in body  # the source
        assert all(secret not in body for secret in (HOLDOUT_INPUT, HOLDOUT_TARGET, NEW_TARGET, "SECRET-HOLDOUT-META"))
        assert "hold-1" in body and "shown to maintainers and owners only" in body
        # The duplicate of the held-out input is counted, never named with its text.
        assert "involve held-out cases" in body and "hold-dup</code> is" not in body
    assert not AuditEvent.objects.filter(action="holdout.viewed").exists()
    body = team.client_for("maintainer").get(_url(suite, f"{holdout_cr.number}/")).content.decode()
    assert NEW_TARGET in body and HOLDOUT_TARGET in body
    assert "refund-dup</code> is an exact duplicate" in body and "hold-dup</code> is an exact duplicate" in body
    (audit,) = AuditEvent.objects.filter(action="holdout.viewed")
    assert audit.actor == team.maintainer and audit.after["keys"] == ["hold-1"]


def test_htmx_gets_the_diff_panel_only(team: Team, suite: EvalSuite, holdout_cr: ChangeRequest) -> None:
    response = team.client_for("reviewer").get(_url(suite, f"{holdout_cr.number}/?page=1"), HTTP_HX_REQUEST="true")
    body = response.content.decode()
    assert body.lstrip().startswith('<section id="diff"') and "<html" not in body
    assert NEW_TARGET not in body and "refund-001" in body


def test_list_filters_by_status_and_links_from_the_suite(
    team: Team, suite: EvalSuite, holdout_cr: ChangeRequest
) -> None:
    client = team.client_for("viewer")
    suite_page = client.get(f"/p/support-agent/suites/{suite.slug}/").content.decode()
    assert _url(suite) in suite_page
    assert "Fix targets" in client.get(_url(suite)).content.decode()
    assert "Fix targets" not in client.get(_url(suite, "?status=applied")).content.decode()
    assert "Fix targets" in client.get(_url(suite, "?status=in_review")).content.decode()


def test_vote_and_apply_through_the_pages(team: Team, suite: EvalSuite) -> None:
    change_request = change_request_open(
        suite=suite,
        author=team.reviewer,
        title="Retag",
        operations=[{"op": "retag", "key": "date-002", "tags": ["tools", "calendar"]}],
    )
    maintainer = team.client_for("maintainer")
    refused = maintainer.post(_url(suite, f"{change_request.number}/apply/"), follow=True)
    assert "needs 1 approval, has 0" in refused.content.decode()
    assert SuiteVersion.objects.filter(suite=suite).count() == 1
    voted = team.client_for("owner").post(_url(suite, f"{change_request.number}/vote/"), {"value": "approve"})
    assert voted.status_code == 302
    applied = maintainer.post(_url(suite, f"{change_request.number}/apply/"), follow=True)
    assert "Applied as v2" in applied.content.decode()
    change_request.refresh_from_db()
    assert change_request.status == ChangeRequestStatus.APPLIED and change_request.applied_version.number == 2
    viewer_page = team.client_for("viewer").get(_url(suite, f"{change_request.number}/")).content.decode()
    assert "applied" in viewer_page and "?version=2" in viewer_page


def test_comments_on_holdout_cases_are_hidden_below_maintainer(
    team: Team, suite: EvalSuite, holdout_cr: ChangeRequest
) -> None:
    url = _url(suite, f"{holdout_cr.number}/comment/")
    team.client_for("maintainer").post(url, {"text": "SECRET-COMMENT about the held-out target", "case_key": "hold-1"})
    team.client_for("reviewer").post(url, {"text": "general remark"})
    refused = team.client_for("reviewer").post(url, {"text": "probe", "case_key": "hold-1"}, follow=True)
    assert "No case with that key" in refused.content.decode()
    reviewer_page = team.client_for("reviewer").get(_url(suite, f"{holdout_cr.number}/")).content.decode()
    assert "general remark" in reviewer_page and "SECRET-COMMENT" not in reviewer_page
    assert "SECRET-COMMENT" in team.client_for("owner").get(_url(suite, f"{holdout_cr.number}/")).content.decode()


def test_policy_page_is_for_owners_and_direct_apply_button_follows_it(team: Team, suite: EvalSuite) -> None:
    change_request = change_request_open(
        suite=suite, author=team.maintainer, title="Small", operations=[{"op": "retag", "key": "date-002", "tags": []}]
    )
    page = _url(suite, f"{change_request.number}/")
    assert "Apply directly" not in team.client_for("maintainer").get(page).content.decode()
    policy_url = f"/p/support-agent/suites/{suite.slug}/policy/"
    assert team.client_for("maintainer").get(policy_url).status_code == 403
    bad = team.client_for("owner").post(
        policy_url,
        {"approvals_needed": 3, "approvals_needed_holdout": 1, "approver_min_role": "reviewer", "direct_max_ops": 5},
    )
    assert bad.status_code == 422 and "at least as many approvals" in bad.content.decode()
    saved = team.client_for("owner").post(
        policy_url,
        {
            "approvals_needed": 1,
            "approvals_needed_holdout": 2,
            "approver_min_role": "maintainer",
            "allow_direct_apply": "on",
            "direct_max_ops": 3,
        },
    )
    assert saved.status_code == 302
    suite.refresh_from_db()
    assert (
        suite.change_policy["allow_direct_apply"] is True and suite.change_policy["approver_min_role"] == "maintainer"
    )
    assert AuditEvent.objects.filter(action="suite.policy.update", actor=team.owner).exists()
    assert "Apply directly" in team.client_for("maintainer").get(page).content.decode()
    team.client_for("maintainer").post(_url(suite, f"{change_request.number}/apply/"), {"direct": "1"})
    change_request.refresh_from_db()
    assert change_request.applied_directly and change_request.status == ChangeRequestStatus.APPLIED


def test_holdout_views_on_case_page_suite_page_and_export_are_audited(team: Team, suite: EvalSuite) -> None:
    maintainer = team.client_for("maintainer")
    maintainer.get(f"/p/support-agent/suites/{suite.slug}/v/1/cases/hold-1/")
    maintainer.get(f"/p/support-agent/suites/{suite.slug}/v/1/cases/refund-001/")
    maintainer.get(f"/p/support-agent/suites/{suite.slug}/")
    b"".join(maintainer.get(f"/p/support-agent/suites/{suite.slug}/export/").streaming_content)
    events = list(AuditEvent.objects.filter(action="holdout.viewed").order_by("pk"))
    assert [(event.after["where"], event.after["keys"]) for event in events] == [
        ("case page v1", ["hold-1"]),
        ("suite page v1", ["hold-1"]),
        ("export v1", ["hold-1"]),
    ]
    reviewer = team.client_for("reviewer")
    reviewer.get(f"/p/support-agent/suites/{suite.slug}/v/1/cases/hold-1/")
    reviewer.get(f"/p/support-agent/suites/{suite.slug}/")
    assert AuditEvent.objects.filter(action="holdout.viewed").count() == 3


def test_review_page_query_count_is_constant(team: Team, suite: EvalSuite, django_assert_max_num_queries) -> None:  # type: ignore[no-untyped-def]
    client = team.client_for("maintainer")
    for n in (5, 60):
        change_request = change_request_open(
            suite=suite,
            author=team.maintainer,
            title=f"{n} cases",
            operations=[
                {"op": "add", "case": {"key": f"n{n}-{i}", "input": f"q {i} {n}", "target": "a"}} for i in range(n)
            ],
        )
        for i in range(3):
            change_request_vote(
                actor=team.owner if i else team.reviewer, change_request=change_request, value="approve"
            )
        with django_assert_max_num_queries(16):
            assert client.get(_url(suite, f"{change_request.number}/")).status_code == 200
