"""The case page: history across versions with who and why and a field-level diff,
holdout sealing of that diff, and its query count."""

from __future__ import annotations

from typing import Any

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from evolab.evals.case_history import case_history
from evolab.evals.change_requests import change_request_apply, change_request_open, change_request_vote
from evolab.evals.models import EvalSuite
from evolab.projects.models import Role
from tests.conftest import Team
from tests.evals.conftest import HOLDOUT_INPUT, HOLDOUT_TARGET
from tests.evals.factories import make_version

CASE = "/p/support-agent/suites/support/v/{number}/cases/{key}/"


def base_cases() -> list[dict[str, Any]]:
    return [
        {"key": "refund-001", "input": "Can I get a refund?", "target": "yes", "tags": ["policy"]},
        {
            "key": "hold-1",
            "input": HOLDOUT_INPUT,
            "target": HOLDOUT_TARGET,
            "split": "holdout",
            "tags": ["policy"],
            "metadata": {"canonical_solution": "SECRET-HOLDOUT-META"},
        },
    ]


@pytest.fixture
def versions(team: Team, suite: EvalSuite) -> EvalSuite:
    """v2 edits refund-001's target and tags, and hold-1's target; v3 deletes refund-001;
    v4 restores it unchanged from v2; v5 changes nothing of either."""
    v2 = base_cases()
    v2[0] = {**v2[0], "target": "yes, within 30 days", "tags": ["policy", "refunds"]}
    v2[1] = {**v2[1], "target": "SECRET-NEW-TARGET 45 days"}
    make_version(suite, v2, created_by=team.maintainer, message="Refund window is 30 days")
    make_version(suite, [v2[1]], created_by=team.owner, message="Drop refund-001 for rework")
    make_version(suite, v2, created_by=team.maintainer, message="Bring refund-001 back")
    make_version(suite, v2, created_by=team.maintainer, message="No change to these cases")
    return suite


def test_history_lists_each_change_with_who_and_why(team: Team, versions: EvalSuite) -> None:
    entries = case_history(versions, "refund-001", viewer_role=Role.VIEWER)
    assert [(e.number, e.kind, e.author, e.message) for e in entries] == [
        (4, "restored", "maintainer", "Bring refund-001 back"),
        (3, "deleted", "owner", "Drop refund-001 for rework"),
        (2, "changed", "maintainer", "Refund window is 30 days"),
        (1, "added", "system", "test version"),
    ]
    changed = {c.field: (c.before, c.after) for c in entries[2].changes}
    assert changed == {"tags": (["policy"], ["policy", "refunds"]), "target": ("yes", "yes, within 30 days")}
    assert entries[1].in_version is False


def test_unknown_key_has_no_history(versions: EvalSuite) -> None:
    assert case_history(versions, "nope", viewer_role=Role.OWNER) == []


def test_holdout_diff_is_sealed_below_maintainer(versions: EvalSuite) -> None:
    sealed = case_history(versions, "hold-1", viewer_role=Role.REVIEWER)
    change = next(e for e in sealed if e.number == 2).changes
    assert [(c.field, c.before, c.after, c.sealed) for c in change] == [("target", None, None, True)]
    shown = case_history(versions, "hold-1", viewer_role=Role.MAINTAINER)
    change = next(e for e in shown if e.number == 2).changes
    assert [(c.field, c.before, c.after) for c in change] == [("target", HOLDOUT_TARGET, "SECRET-NEW-TARGET 45 days")]


def test_the_page_shows_the_history_and_the_diff(team: Team, versions: EvalSuite) -> None:
    response = team.client_for("viewer").get(CASE.format(number=2, key="refund-001"))
    assert response.status_code == 200
    html = response.content.decode()
    assert "History across versions" in html
    assert "Refund window is 30 days" in html and "Drop refund-001 for rework" in html
    assert "yes, within 30 days" in html
    assert 'data-version="3"' in html and "deleted" in html
    # The runs panel is loaded from the runs app.
    assert "/p/support-agent/suites/support/case-runs/refund-001/" in html


def test_the_page_never_shows_holdout_text_to_a_reviewer(team: Team, versions: EvalSuite) -> None:
    html = team.client_for("reviewer").get(CASE.format(number=2, key="hold-1")).content.decode()
    assert "changed · sealed (holdout)" in html
    assert "SECRET" not in html
    html = team.client_for("maintainer").get(CASE.format(number=2, key="hold-1")).content.decode()
    assert "SECRET-NEW-TARGET" in html


def test_message_and_text_are_escaped(team: Team, suite: EvalSuite) -> None:
    make_version(
        suite,
        [{"key": "refund-001", "input": "Can I get a refund?", "target": "<script>alert(1)</script>"}],
        message="<img src=x onerror=alert(2)>",
    )
    html = team.client_for("viewer").get(CASE.format(number=2, key="refund-001")).content.decode()
    assert "<script>alert(1)" not in html and "&lt;script&gt;alert(1)" in html
    assert "<img src=x" not in html


def test_page_queries_do_not_grow_with_versions(team: Team, suite: EvalSuite) -> None:
    client = team.client_for("reviewer")
    url = CASE.format(number=1, key="refund-001")
    client.get(url)  # warm the session and the template cache
    with CaptureQueriesContext(connection) as few:
        assert client.get(url).status_code == 200
    for n in range(12):
        make_version(suite, [{"key": "refund-001", "input": "Can I get a refund?", "target": f"answer {n}"}])
    with CaptureQueriesContext(connection) as many:
        assert client.get(url).status_code == 200
    assert len(many) == len(few)


def test_history_names_the_change_request_that_made_a_version(team: Team, suite: EvalSuite) -> None:
    change_request = change_request_open(
        suite=suite,
        author=team.reviewer,  # type: ignore[arg-type]
        title="Sharper target",
        operations=[{"op": "edit", "key": "refund-001", "changes": {"target": "yes, with a receipt"}}],
    )
    change_request_vote(actor=team.maintainer, change_request=change_request, value="approve")  # type: ignore[arg-type]
    version = change_request_apply(actor=team.maintainer, change_request=change_request)  # type: ignore[arg-type]
    entry = case_history(suite, "refund-001", viewer_role=Role.VIEWER)[0]
    assert (entry.number, entry.kind, entry.change_request) == (version.number, "changed", (1, "Sharper target"))
    html = team.client_for("viewer").get(CASE.format(number=version.number, key="refund-001")).content.decode()
    assert 'href="/p/support-agent/suites/support/changes/1/">change request #1</a>' in html
