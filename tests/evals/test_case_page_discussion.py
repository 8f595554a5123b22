"""The case discussion and the disputed flag: who may do what, plain escaped text, a
thread that carries on across versions, and holdout sealing."""

from __future__ import annotations

import pytest

from evolab.core.errors import Conflict, ValidationFailed
from evolab.core.models import AuditEvent
from evolab.evals import discussion
from evolab.evals.models import CaseComment, CaseDispute, EvalSuite
from tests.conftest import Team
from tests.evals.factories import make_version

SUITE = "/p/support-agent/suites/support"
CASE = SUITE + "/v/{number}/cases/{key}/"


def test_a_reviewer_comments_and_everyone_reads_it(team: Team, suite: EvalSuite) -> None:
    response = team.client_for("reviewer").post(SUITE + "/comment/refund-001/", {"body": "Is 'yes' enough?", "version": "1"})
    assert response.status_code == 302 and response["Location"].endswith("/v/1/cases/refund-001/#discussion")
    html = team.client_for("viewer").get(CASE.format(number=1, key="refund-001")).content.decode()
    assert "Is &#x27;yes&#x27; enough?" in html
    assert 'id="case-comment-form"' not in html  # a viewer reads, never writes


def test_a_viewer_may_not_comment(team: Team, suite: EvalSuite) -> None:
    response = team.client_for("viewer").post(SUITE + "/comment/refund-001/", {"body": "hi", "version": "1"})
    assert response.status_code == 403
    assert not CaseComment.objects.exists()


def test_comments_are_plain_escaped_text(team: Team, suite: EvalSuite) -> None:
    body = "<script>alert(1)</script> **not bold** \u202e"
    team.client_for("reviewer").post(SUITE + "/comment/refund-001/", {"body": body, "version": "1"})
    html = team.client_for("viewer").get(CASE.format(number=1, key="refund-001")).content.decode()
    assert "<script>alert(1)" not in html
    assert "&lt;script&gt;alert(1)&lt;/script&gt; **not bold**" in html
    assert "U+202E" in html  # the bidi override is made visible, not obeyed


def test_an_empty_comment_changes_nothing_and_says_why_to_htmx(team: Team, suite: EvalSuite) -> None:
    response = team.client_for("reviewer").post(
        SUITE + "/comment/refund-001/", {"body": "   ", "version": "1"}, HTTP_HX_REQUEST="true"
    )
    assert response.status_code == 200
    assert "Write a comment." in response.content.decode()
    assert 'id="discussion"' in response.content.decode()
    assert not CaseComment.objects.exists()


def test_the_thread_carries_on_in_a_new_version(team: Team, suite: EvalSuite) -> None:
    team.client_for("reviewer").post(SUITE + "/comment/refund-001/", {"body": "first remark", "version": "1"})
    make_version(suite, [{"key": "refund-001", "input": "Can I get a refund?", "target": "yes, in 30 days"}])
    html = team.client_for("viewer").get(CASE.format(number=2, key="refund-001")).content.decode()
    assert "first remark" in html


def test_a_comment_on_an_unknown_case_is_404(team: Team, suite: EvalSuite) -> None:
    response = team.client_for("reviewer").post(SUITE + "/comment/nope/", {"body": "x", "version": "1"})
    assert response.status_code == 404
    with pytest.raises(ValidationFailed):
        discussion.case_comment_add(actor=team.reviewer, suite=suite, key="nope", body="x")  # type: ignore[arg-type]


def test_dispute_open_and_resolve(team: Team, suite: EvalSuite) -> None:
    reviewer, maintainer = team.client_for("reviewer"), team.client_for("maintainer")
    reviewer.post(SUITE + "/dispute/refund-001/", {"reason": "'yes' is not an answer", "version": "1"})
    dispute = CaseDispute.objects.get()
    assert dispute.resolved_at is None and dispute.opened_by == team.reviewer
    assert discussion.disputed_keys(suite.pk) == {"refund-001"}
    html = team.client_for("viewer").get(CASE.format(number=1, key="refund-001")).content.decode()
    assert "⚠ disputed" in html and "&#x27;yes&#x27; is not an answer" in html

    assert reviewer.post(SUITE + "/resolve-dispute/refund-001/", {"note": "fine", "version": "1"}).status_code == 403
    response = maintainer.post(
        SUITE + "/resolve-dispute/refund-001/", {"note": "Target rewritten", "version": "1"}, HTTP_HX_REQUEST="true"
    )
    assert "Dispute resolved" in response.content.decode()
    dispute.refresh_from_db()
    assert dispute.resolved_by == team.maintainer and dispute.resolution_note == "Target rewritten"
    assert discussion.disputed_keys(suite.pk) == set()
    actions = list(AuditEvent.objects.filter(object_type="case_dispute").values_list("action", flat=True))
    assert sorted(actions) == ["case.dispute.open", "case.dispute.resolve"]


def test_one_open_dispute_per_case(team: Team, suite: EvalSuite) -> None:
    discussion.case_dispute_open(actor=team.reviewer, suite=suite, key="refund-001", reason="a")  # type: ignore[arg-type]
    with pytest.raises(Conflict):
        discussion.case_dispute_open(actor=team.owner, suite=suite, key="refund-001", reason="b")  # type: ignore[arg-type]
    discussion.case_dispute_resolve(actor=team.owner, suite=suite, key="refund-001", note="ok")  # type: ignore[arg-type]
    with pytest.raises(Conflict):
        discussion.case_dispute_resolve(actor=team.owner, suite=suite, key="refund-001", note="again")  # type: ignore[arg-type]
    discussion.case_dispute_open(actor=team.reviewer, suite=suite, key="refund-001", reason="c")  # type: ignore[arg-type]
    assert CaseDispute.objects.filter(resolved_at__isnull=True).count() == 1


def test_a_dispute_needs_a_reason_and_a_resolution_a_note(team: Team, suite: EvalSuite) -> None:
    response = team.client_for("reviewer").post(SUITE + "/dispute/refund-001/", {"reason": "", "version": "1"})
    assert response.status_code == 302
    assert not CaseDispute.objects.exists()
    discussion.case_dispute_open(actor=team.reviewer, suite=suite, key="refund-001", reason="a")  # type: ignore[arg-type]
    with pytest.raises(ValidationFailed):
        discussion.case_dispute_resolve(actor=team.owner, suite=suite, key="refund-001", note=" ")  # type: ignore[arg-type]


def test_a_holdout_thread_is_sealed_below_maintainer(team: Team, suite: EvalSuite) -> None:
    team.client_for("maintainer").post(SUITE + "/comment/hold-1/", {"body": "SECRET-IN-COMMENT", "version": "1"})
    assert CaseComment.objects.count() == 1
    assert team.client_for("reviewer").post(SUITE + "/comment/hold-1/", {"body": "x", "version": "1"}).status_code == 403
    assert team.client_for("reviewer").post(SUITE + "/dispute/hold-1/", {"reason": "x", "version": "1"}).status_code == 403
    html = team.client_for("reviewer").get(CASE.format(number=1, key="hold-1")).content.decode()
    assert "SECRET" not in html
    assert "visible to maintainers and owners only" in html
    fragment = team.client_for("reviewer").get(
        CASE.format(number=1, key="hold-1") + "?panel=discussion", HTTP_HX_REQUEST="true"
    )
    assert fragment.status_code == 200 and "SECRET" not in fragment.content.decode()
    assert "SECRET-IN-COMMENT" in team.client_for("owner").get(CASE.format(number=1, key="hold-1")).content.decode()


def test_the_disputed_flag_of_a_holdout_case_shows_without_its_reason(team: Team, suite: EvalSuite) -> None:
    discussion.case_dispute_open(actor=team.owner, suite=suite, key="hold-1", reason="SECRET-REASON")  # type: ignore[arg-type]
    html = team.client_for("reviewer").get(CASE.format(number=1, key="hold-1")).content.decode()
    assert "⚠ disputed" in html and "SECRET-REASON" not in html
