"""The include a page uses to subscribe, and the script it loads."""

from __future__ import annotations

from django.template.loader import render_to_string
from django.test import Client

from evolab.core.actions import event_emit
from tests.conftest import Team


def test_the_include_renders_the_subscription_from_the_latest_event(team: Team) -> None:
    event = event_emit(project_id=team.project.pk, type="run.status", object_type="run", object_id=1)

    html = render_to_string("live/socket.html", {"project": team.project})

    assert f'data-live-url="/ws/p/{team.project.slug}/events/"' in html
    assert f'data-live-after="{event.pk}"' in html
    assert "data-live-status" in html and "connecting…" in html
    assert '<script src="/static/js/live.js" defer></script>' in html


def test_a_cursor_read_by_the_view_wins(team: Team) -> None:
    event_emit(project_id=team.project.pk, type="run.status", object_type="run", object_id=1)
    html = render_to_string("live/socket.html", {"project": team.project, "live_after": 0})
    assert 'data-live-after="0"' in html


def test_the_script_is_served_by_the_app(db: None) -> None:
    assert Client().get("/static/js/live.js").status_code == 200
