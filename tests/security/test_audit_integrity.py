"""The audit log is complete and cannot be rewritten.

Completeness: each decision driven through its real page or API operation (approve,
reject, merge, revert, role change, token creation, policy change), and each auto-merge
by the campaign loop, writes exactly one audit event and nothing else. A merge or a
revert also moves head (and a revert makes a version): its one event carries that move
(`harnesses.head_log`, which the charts read), with no `harness.head` or
`harness.version.create` beside it.

Integrity: the ORM refuses every way of changing or deleting an AuditEvent; the database
refuses UPDATE (PostgreSQL and SQLite) and DELETE (PostgreSQL) even in raw SQL, except
the one change Django makes itself (actor set to NULL when a user is deleted); and no
page or API operation on the audit log accepts anything but GET.
"""

from __future__ import annotations

import json
import re
from collections import Counter
from collections.abc import Callable
from typing import Any

import pytest
from django.contrib.auth import get_user_model
from django.db import DatabaseError, connection, transaction
from django.test import Client
from django.urls import URLPattern, URLResolver, get_resolver

from evolab.api import api
from evolab.core.actions import audit_record
from evolab.core.models import AppendOnlyError, AuditEvent
from evolab.evolution.actions import policy_set
from evolab.evolution.models import Proposal
from evolab.harnesses.actions import version_create
from evolab.harnesses.selectors import head_of
from evolab.projects.models import Membership
from tests.conftest import Team
from tests.evolution.conftest import AUTO_MERGE_POLICY, Evo, drive, evo  # noqa: F401  (the fixture, used by name)
from tests.evolution.review_helpers import waiting

pytestmark = pytest.mark.django_db
HTMX = {"HX-Request": "true"}
POLICY_FORM = {
    "critical_tag": "critical",
    "max_cost_increase_pct": "20",
    "max_latency_increase_pct": "25",
    "max_diff_lines": "80",
    "min_effect": "0.02",
    "safe_ranges": "sampling.temperature: 0.1..1",
    "approvals_needed": "1",
    "approvals_needed_critical": "2",
    "approver_min_role": "reviewer",
}


def audited(action: Callable[[], Any]) -> Counter[str]:
    """The audit actions written while `action` runs, with how often each was written."""
    last = AuditEvent.objects.order_by("-id").values_list("id", flat=True).first() or 0
    result = action()
    status = getattr(result, "status_code", 200)
    assert status < 400, f"the request was refused ({status}): {getattr(result, 'content', b'')[:300]!r}"
    return Counter(AuditEvent.objects.filter(id__gt=last).values_list("action", flat=True))


def _proposal_url(proposal: Proposal, tail: str = "") -> str:
    return f"/p/{proposal.project.slug}/proposals/{proposal.number}/{tail}"


def _api(client: Client, method: str, path: str, data: dict[str, Any] | None = None) -> Any:
    return getattr(client, method)(f"/api/v1/projects/{path}", data=json.dumps(data or {}), content_type="application/json")


@pytest.fixture
def proposal(evo: Evo) -> Proposal:  # noqa: F811
    return waiting(evo.start())


# --------------------------------------------------------------------- one event each


@pytest.mark.parametrize("via", ["page", "api"])
def test_approve_merge_revert_each_write_one_event(evo: Evo, proposal: Proposal, via: str) -> None:  # noqa: F811
    team = evo.team
    reviewer, maintainer = team.client_for("reviewer"), team.client_for("maintainer")
    slug, number = team.project.slug, proposal.number
    if via == "page":
        approve = lambda: reviewer.post(_proposal_url(proposal, "vote/"), {"value": "2"}, headers=HTMX)  # noqa: E731
        merge = lambda: maintainer.post(_proposal_url(proposal, "merge/"), headers=HTMX)  # noqa: E731
        revert = lambda: maintainer.post(_proposal_url(proposal, "revert/"), {"reason": "worse"}, headers=HTMX)  # noqa: E731
    else:
        approve = lambda: _api(reviewer, "post", f"{slug}/proposals/{number}/votes", {"value": 2})  # noqa: E731
        merge = lambda: _api(maintainer, "post", f"{slug}/proposals/{number}/merge")  # noqa: E731
        revert = lambda: _api(maintainer, "post", f"{slug}/proposals/{number}/revert", {"reason": "worse"})  # noqa: E731

    base, candidate = proposal.base_version, proposal.candidate_version
    assert candidate is not None
    assert audited(approve) == {"proposal.vote": 1}
    assert audited(merge) == {"proposal.merge": 1}
    proposal.refresh_from_db()
    assert proposal.merged_at is not None
    merge_event = AuditEvent.objects.get(action="proposal.merge")
    assert merge_event.before == {"head": base.number, "digest": base.digest}
    assert merge_event.after == {
        "approvals": ["reviewer"],
        "approvals_needed": 1,
        "head": candidate.number,
        "digest": candidate.digest,
    }

    assert audited(revert) == {"proposal.revert": 1}
    reverted = head_of(team.project)
    revert_event = AuditEvent.objects.get(action="proposal.revert")
    assert revert_event.before == {"head": candidate.number, "digest": candidate.digest}
    assert revert_event.after == {
        "head": reverted.number,
        "digest": reverted.digest,
        "parents": [candidate.number],
        "files": len(reverted.files),
        "reason": "worse",
    }


@pytest.mark.parametrize("via", ["page", "api"])
def test_a_revert_from_the_harness_page_writes_one_event(team: Team, via: str) -> None:
    v1 = version_create(actor=team.owner, project=team.project, files={"system.md": "one\n"}, message="one")
    v2 = version_create(actor=team.owner, project=team.project, files={"system.md": "two\n"}, message="two")
    client = team.client_for("maintainer")
    if via == "page":
        url = f"/p/{team.project.slug}/harness/v/{v1.number}/revert/"
        counts = audited(lambda: client.post(url, {"reason": "worse"}))
    else:
        path = f"{team.project.slug}/harness/versions/{v1.number}/revert"
        counts = audited(lambda: _api(client, "post", path, {"reason": "worse"}))
    assert counts == {"harness.revert": 1}
    v3 = head_of(team.project)
    event = AuditEvent.objects.get(action="harness.revert")
    assert (v3.number, v3.digest) == (3, v1.digest)
    assert event.before == {"number": v2.number, "digest": v2.digest}
    assert event.after == {
        "number": 3,
        "digest": v1.digest,
        "parents": [2],
        "files": 1,
        "author": "maintainer",
        "target": 1,
        "reason": "worse",
    }


@pytest.mark.django_db(transaction=True)  # the loop's chunks write from worker threads
def test_each_auto_merge_by_the_campaign_loop_writes_one_event(evo: Evo) -> None:  # noqa: F811
    policy_set(actor=evo.team.owner, project=evo.team.project, rules=AUTO_MERGE_POLICY)
    last = AuditEvent.objects.order_by("-id").values_list("id", flat=True).first() or 0
    campaign = drive(evo.start(budget_rounds=2))

    merged = list(Proposal.objects.filter(campaign=campaign, merged_at__isnull=False).order_by("merged_at", "pk"))
    assert merged, "the campaign merged nothing: the test proves nothing"
    events = AuditEvent.objects.filter(id__gt=last)
    merges = list(events.filter(action="proposal.merge").order_by("id"))
    # One event per merge, carrying the head move; the loop writes no separate head record.
    assert [event.object_id for event in merges] == [str(p.pk) for p in merged]
    assert not events.filter(action="harness.head").exists()
    for proposal, event in zip(merged, merges, strict=True):
        assert proposal.candidate_version is not None
        assert event.actor is None and event.actor_label == "system"
        assert event.before == {"head": proposal.base_version.number, "digest": proposal.base_version.digest}
        assert event.after == {"head": proposal.candidate_version.number, "digest": proposal.candidate_version.digest}


@pytest.mark.parametrize("via", ["page", "api"])
def test_a_rejection_writes_one_event(evo: Evo, proposal: Proposal, via: str) -> None:  # noqa: F811
    client = evo.team.client_for("maintainer")
    if via == "page":
        counts = audited(lambda: client.post(_proposal_url(proposal, "reject/"), {"reason": "no"}, headers=HTMX))
    else:
        path = f"{evo.team.project.slug}/proposals/{proposal.number}/reject"
        counts = audited(lambda: _api(client, "post", path, {"reason": "no"}))
    assert counts == {"proposal.reject": 1}
    proposal.refresh_from_db()
    assert proposal.closed_at is not None


@pytest.mark.parametrize("via", ["page", "api"])
def test_a_role_change_writes_one_event(team: Team, via: str) -> None:
    client = team.client_for("owner")
    membership = Membership.objects.get(project=team.project, user=team.reviewer)
    if via == "page":
        url = f"/p/{team.project.slug}/settings/members/{membership.pk}/role/"
        counts = audited(lambda: client.post(url, {"role": "viewer"}, headers=HTMX))
    else:
        counts = audited(lambda: _api(client, "put", f"{team.project.slug}/members/reviewer", {"role": "viewer"}))
    assert counts == {"membership.role": 1}
    membership.refresh_from_db()
    assert membership.get_role_display().lower() == "viewer"


def test_a_token_creation_writes_one_event_and_no_secret(team: Team) -> None:
    client = team.client_for("viewer")
    responses: list[Any] = []

    def create() -> Any:
        responses.append(client.post("/account/tokens/", {"name": "ci"}))
        return responses[-1]

    counts = audited(create)
    assert counts == {"token.create": 1}
    event = AuditEvent.objects.get(action="token.create")
    token = team.viewer.api_tokens.get()  # type: ignore[attr-defined]
    assert (event.actor, event.object_id, event.project_id) == (team.viewer, str(token.pk), None)
    # The raw token is shown once to its owner and stored nowhere: not in the audit log either.
    raw = re.search(r"evl_[A-Za-z0-9_-]{20,}", responses[0].content.decode())
    assert raw is not None, "the new token was not shown"
    stored = json.dumps([event.object_label, event.before, event.after])
    assert raw.group() not in stored and token.token_hash not in stored


@pytest.mark.parametrize("via", ["page", "api"])
def test_a_policy_change_writes_one_event(team: Team, via: str) -> None:
    client = team.client_for("owner")
    if via == "page":
        counts = audited(lambda: client.post(f"/p/{team.project.slug}/policy/", POLICY_FORM, headers=HTMX))
    else:
        path = f"{team.project.slug}/policy"
        counts = audited(lambda: _api(client, "put", path, {"rules": {"allow_auto_merge": True}}))
    assert counts == {"policy.set": 1}


# --------------------------------------------------------------------- cannot be rewritten


@pytest.fixture
def event(team: Team) -> AuditEvent:
    return audit_record(actor=team.owner, project_id=team.project.pk, action="t.x", object_type="t", object_id=1)


ORM_WRITES: dict[str, Callable[[AuditEvent], Any]] = {
    "instance save": lambda e: (setattr(e, "action", "forged"), e.save()),
    "instance save(update_fields)": lambda e: (setattr(e, "action", "forged"), e.save(update_fields=["action"])),
    "instance delete": lambda e: e.delete(),
    "queryset update": lambda e: AuditEvent.objects.filter(pk=e.pk).update(action="forged"),
    "queryset delete": lambda e: AuditEvent.objects.filter(pk=e.pk).delete(),
    "queryset _raw_delete": lambda e: AuditEvent.objects.filter(pk=e.pk)._raw_delete(connection.alias),
    "bulk_update": lambda e: AuditEvent.objects.bulk_update([e], ["action"]),
    "update_or_create": lambda e: AuditEvent.objects.update_or_create(pk=e.pk, defaults={"action": "forged"}),
    "bulk_create upsert": lambda e: AuditEvent.objects.bulk_create(
        [AuditEvent(pk=e.pk, actor_label="x", action="forged", object_type="t", object_id="1")],
        update_conflicts=True,
        unique_fields=["id"],
        update_fields=["action"],
    ),
}


@pytest.mark.parametrize("write", ORM_WRITES.values(), ids=ORM_WRITES.keys())
def test_the_orm_refuses_to_change_an_event(event: AuditEvent, write: Callable[[AuditEvent], Any]) -> None:
    with pytest.raises(AppendOnlyError):
        write(event)
    stored = AuditEvent.objects.get(pk=event.pk)
    assert stored.action == "t.x"


def test_the_database_refuses_a_raw_update(event: AuditEvent) -> None:
    with pytest.raises(DatabaseError, match="append-only"), transaction.atomic(), connection.cursor() as cursor:
        cursor.execute("UPDATE core_auditevent SET action = 'forged' WHERE id = %s", [event.pk])
    assert AuditEvent.objects.get(pk=event.pk).action == "t.x"


def test_the_database_refuses_a_raw_delete(event: AuditEvent) -> None:
    if connection.vendor != "postgresql":
        pytest.skip("SQLite keeps DELETE refused by the ORM only: its test flush deletes row by row (migration 0003)")
    with pytest.raises(DatabaseError, match="append-only"), transaction.atomic(), connection.cursor() as cursor:
        cursor.execute("DELETE FROM core_auditevent WHERE id = %s", [event.pk])
    assert AuditEvent.objects.filter(pk=event.pk).exists()


def test_deleting_a_user_keeps_their_events_with_the_name(event: AuditEvent, team: Team) -> None:
    get_user_model().objects.filter(pk=team.owner.pk).delete()

    stored = AuditEvent.objects.get(pk=event.pk)
    assert (stored.actor_id, stored.actor_label, stored.action) == (None, "owner", "t.x")


def test_the_database_refuses_a_raw_update_that_also_clears_the_actor(event: AuditEvent) -> None:
    with pytest.raises(DatabaseError, match="append-only"), transaction.atomic(), connection.cursor() as cursor:
        cursor.execute("UPDATE core_auditevent SET actor_id = NULL, action = 'forged' WHERE id = %s", [event.pk])


def _audit_page_routes(resolver: URLResolver, prefix: str = "") -> list[str]:
    routes = []
    for pattern in resolver.url_patterns:
        if isinstance(pattern, URLResolver):
            routes += _audit_page_routes(pattern, prefix + str(pattern.pattern))
        elif isinstance(pattern, URLPattern) and "audit" in str(pattern.pattern):
            routes.append(prefix + str(pattern.pattern))
    return routes


def test_no_api_operation_on_the_audit_log_changes_it() -> None:
    schema = api.get_openapi_schema()
    methods = {
        (path, method.upper()) for path, item in schema["paths"].items() if "audit" in path for method in item
    }
    assert methods, "the audit API was not found"
    assert {method for _, method in methods} == {"GET"}, methods


@pytest.mark.parametrize("method", ["post", "put", "patch", "delete"])
def test_the_audit_page_and_api_refuse_writes(team: Team, event: AuditEvent, method: str) -> None:
    client = team.client_for("owner")
    routes = _audit_page_routes(get_resolver())
    assert routes, "the audit page was not found"
    urls = [f"/{route}".replace("<slug:slug>", team.project.slug) for route in routes]
    urls.append(f"/api/v1/projects/{team.project.slug}/audit")
    for url in urls:
        response = getattr(client, method)(url, data="{}", content_type="application/json")
        assert response.status_code == 405, f"{method.upper()} {url}: {response.status_code}"
    assert list(AuditEvent.objects.values_list("pk", "action")) == [(event.pk, "t.x")]
