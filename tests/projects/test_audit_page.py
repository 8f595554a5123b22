"""The audit page's filters (person, action or action prefix, days) and its CSV export."""

from __future__ import annotations

import csv
import io
from collections.abc import AsyncIterator
from datetime import datetime
from typing import Any
from unittest import mock
from zoneinfo import ZoneInfo

import pytest
from asgiref.sync import async_to_sync
from django.test import Client

from evolab.core.actions import audit_record
from evolab.core.models import AuditEvent
from tests.conftest import Team

UTC = ZoneInfo("UTC")


def _record(team: Team, actor: str, action: str, when: datetime, **extra: object) -> AuditEvent:
    # created_at is set by the database layer on insert and never changes after.
    with mock.patch("django.utils.timezone.now", return_value=when):
        return audit_record(
            actor=getattr(team, actor) if actor != "system" else None,
            project_id=team.project.pk,
            action=action,
            object_type="proposal",
            object_id=extra.pop("object_id", 41),
            **extra,  # type: ignore[arg-type]
        )


@pytest.fixture
def log(team: Team) -> Team:
    _record(team, "reviewer", "proposal.vote", datetime(2025, 3, 1, 9, tzinfo=UTC), after={"value": 2})
    _record(team, "owner", "proposal.merge", datetime(2025, 3, 2, 9, tzinfo=UTC), object_label="#41 refunds")
    _record(team, "owner", "policy.set", datetime(2025, 3, 3, 9, tzinfo=UTC), object_id=3)
    _record(team, "system", "campaign.finish", datetime(2025, 3, 4, 9, tzinfo=UTC), object_id=1)
    _record(team, "reviewer", "proposal.comment", datetime(2025, 3, 5, 23, 30, tzinfo=UTC), after={"text": "ok"})
    return team


def _actions(client: Client, url: str, **params: str) -> list[str]:
    response = client.get(url, params)
    assert response.status_code == 200
    return [event.action for event in response.context["page"]]


async def _collect(chunks: AsyncIterator[bytes]) -> list[bytes]:
    # The export streams from an async iterator, as it is served over ASGI.
    return [chunk async for chunk in chunks]


def _url(team: Team) -> str:
    return f"/p/{team.project.slug}/audit/"


@pytest.mark.django_db
class TestFilters:
    def test_it_shows_everything_newest_first(self, log: Team) -> None:
        client = log.client_for("viewer")
        assert _actions(client, _url(log)) == [
            "proposal.comment",
            "campaign.finish",
            "policy.set",
            "proposal.merge",
            "proposal.vote",
        ]

    def test_it_filters_by_person(self, log: Team) -> None:
        client = log.client_for("viewer")
        assert _actions(client, _url(log), actor="owner") == ["policy.set", "proposal.merge"]
        assert _actions(client, _url(log), actor="system") == ["campaign.finish"]

    def test_an_action_ending_in_a_dot_is_a_prefix(self, log: Team) -> None:
        client = log.client_for("viewer")
        assert _actions(client, _url(log), action="proposal.") == [
            "proposal.comment",
            "proposal.merge",
            "proposal.vote",
        ]
        assert _actions(client, _url(log), action="proposal.merge") == ["proposal.merge"]
        assert _actions(client, _url(log), action="proposal") == []  # exact: no such action

    def test_days_include_both_ends(self, log: Team) -> None:
        client = log.client_for("viewer")
        found = _actions(client, _url(log), since="2025-03-02", until="2025-03-05")
        assert found == ["proposal.comment", "campaign.finish", "policy.set", "proposal.merge"]
        assert _actions(client, _url(log), until="2025-03-01") == ["proposal.vote"]

    def test_filters_combine(self, log: Team) -> None:
        client = log.client_for("viewer")
        assert _actions(client, _url(log), actor="reviewer", action="proposal.", since="2025-03-02") == [
            "proposal.comment"
        ]

    def test_the_form_offers_people_and_actions_seen(self, log: Team) -> None:
        body = log.client_for("viewer").get(_url(log)).content.decode()
        assert '<option value="system">system</option>' in body and '<option value="reviewer">' in body
        assert '<option value="proposal.">' in body and '<option value="policy.set">' in body

    @pytest.mark.parametrize(
        "params",
        [
            {"actor": "nobody"},
            {"action": "proposal.*"},
            {"since": "yesterday"},
            {"since": "2025-03-05", "until": "2025-03-01"},
        ],
    )
    def test_it_refuses_bad_filters(self, log: Team, params: dict[str, str]) -> None:
        response = log.client_for("viewer").get(_url(log), params)
        assert response.status_code == 400 and b'role="alert"' in response.content
        assert b"proposal.vote</td>" not in response.content  # no unfiltered list under the error
        assert log.client_for("viewer").get(_url(log), {**params, "format": "csv"}).status_code == 400

    def test_pages_keep_the_filters(self, team: Team) -> None:
        for day in range(1, 29):
            _record(team, "owner", "proposal.vote", datetime(2025, 2, day, tzinfo=UTC))
            _record(team, "owner", "proposal.vote", datetime(2025, 2, day, 12, tzinfo=UTC))
            _record(team, "reviewer", "policy.set", datetime(2025, 2, day, tzinfo=UTC))
        response = team.client_for("viewer").get(_url(team), {"action": "proposal."})
        body = response.content.decode()
        assert response.context["page"].paginator.count == 56
        assert "action=proposal.&amp;page=2" in body

    @pytest.mark.parametrize("size", [2, 20])
    def test_the_query_count_does_not_grow(self, team: Team, size: int, django_assert_num_queries: Any) -> None:
        client = team.client_for("viewer")
        for i in range(size):
            _record(team, "owner", f"proposal.kind{i}", datetime(2025, 3, 1, tzinfo=UTC), object_id=i)
        # session, user, membership, filter choices, count, page, the two nav counts
        with django_assert_num_queries(8):
            client.get(_url(team), {"action": "proposal.", "actor": "owner", "since": "2025-01-01"})


@pytest.mark.django_db
class TestCsv:
    def _rows(self, client: Client, url: str, **params: str) -> list[list[str]]:
        response = client.get(url, {**params, "format": "csv"})
        assert response.status_code == 200 and response.streaming
        assert response["Content-Type"].startswith("text/csv")
        assert response["Content-Disposition"] == 'attachment; filename="support-agent-audit.csv"'
        text = b"".join(async_to_sync(_collect)(response.streaming_content)).decode()
        return list(csv.reader(io.StringIO(text)))

    def test_it_exports_the_filtered_events(self, log: Team) -> None:
        rows = self._rows(log.client_for("viewer"), _url(log), action="proposal.", actor="owner")
        assert rows[0] == ["time", "actor", "action", "object_type", "object_id", "label", "before", "after"]
        assert rows[1:] == [
            ["2025-03-02T09:00:00+00:00", "owner", "proposal.merge", "proposal", "41", "#41 refunds", "", ""]
        ]

    def test_before_and_after_are_json(self, log: Team) -> None:
        rows = self._rows(log.client_for("viewer"), _url(log), action="proposal.vote")
        assert rows[1][6:] == ["", '{"value": 2}']

    def test_it_ignores_the_page(self, team: Team) -> None:
        for day in range(1, 29):
            for hour in range(3):
                _record(team, "owner", "proposal.vote", datetime(2025, 2, day, hour, tzinfo=UTC))
        assert len(self._rows(team.client_for("viewer"), _url(team), page="2")) == 1 + 84

    def test_cells_that_a_spreadsheet_would_run_are_defused(self, team: Team) -> None:
        when = datetime(2025, 3, 1, tzinfo=UTC)
        _record(team, "owner", "proposal.comment", when, object_label='=HYPERLINK("http://x")', object_id="-1")
        _record(team, "owner", "proposal.comment", when, object_label="+SUM(A1)", object_id="@cmd")
        _record(team, "owner", "proposal.comment", when, object_label="\tTAB", object_id="safe")
        rows = self._rows(team.client_for("viewer"), _url(team))
        cells = {(row[4], row[5]) for row in rows[1:]}
        assert cells == {("'-1", '\'=HYPERLINK("http://x")'), ("'@cmd", "'+SUM(A1)"), ("safe", "'\tTAB")}

    def test_the_page_links_to_the_export_of_its_filters(self, log: Team) -> None:
        body = log.client_for("viewer").get(_url(log), {"action": "policy.", "page": "1"}).content.decode()
        assert 'href="?action=policy.&amp;format=csv"' in body


@pytest.mark.django_db
@pytest.mark.parametrize(("persona", "status"), [("viewer", 200), ("outsider", 404), ("anonymous", 302)])
def test_who_may_export(log: Team, persona: str, status: int) -> None:
    response = log.client_for(persona).get(_url(log), {"format": "csv"})
    assert response.status_code == status
