"""The parameter probe runs on a worker against the real (simulated) endpoint and its
findings are shown next to each parameter on the backend page."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from evolab.backends.simulator.testing import RunningSimulator, running_simulator
from evolab.celery import app as celery_app
from evolab.projects.actions import backend_probe_run
from evolab.projects.models import Backend
from tests.conftest import Team
from tests.factories import BackendFactory


@pytest.fixture(scope="module")
def m27_simulator() -> Iterator[RunningSimulator]:
    with running_simulator(profile="minimax-m2.7") as simulator:
        yield simulator


def _backend(team: Team, simulator: RunningSimulator) -> Backend:
    return BackendFactory(project=team.project, base_url=simulator.base_url, family="minimax", kind="simulator")


def test_the_probe_finds_what_the_m27_profile_ignores_and_rejects(team: Team, m27_simulator: RunningSimulator) -> None:
    backend = _backend(team, m27_simulator)
    results = backend_probe_run(backend=backend)
    assert results["presence_penalty"]["status"] == "ignored"
    assert results["frequency_penalty"]["status"] == "ignored"
    assert results["temperature"]["status"] == "rejected"
    assert results["top_p"]["status"] == "accepted"
    backend.refresh_from_db()
    assert backend.probed_at is not None and backend.probe_error == ""


def test_probing_from_the_page_runs_on_commit_and_shows_each_parameter(
    team: Team, m27_simulator: RunningSimulator, django_capture_on_commit_callbacks: object
) -> None:
    backend = _backend(team, m27_simulator)
    celery_app.conf.task_always_eager = True
    try:
        with django_capture_on_commit_callbacks(execute=True) as callbacks:  # type: ignore[operator]
            response = team.client_for("owner").post(f"/p/{team.project.slug}/backends/{backend.pk}/probe/")
    finally:
        celery_app.conf.task_always_eager = False
    assert response.status_code == 302
    assert len(callbacks) == 1
    page = team.client_for("viewer").get(f"/p/{team.project.slug}/backends/{backend.pk}/").content.decode()
    assert "⚠ ignored" in page and "✗ rejected" in page and "✓ accepted" in page


def test_a_missing_api_key_variable_is_reported_not_sent(team: Team, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("EVOLAB_KEY_TEST_MISSING", raising=False)
    backend = BackendFactory(project=team.project, api_key_env="EVOLAB_KEY_TEST_MISSING")
    assert backend_probe_run(backend=backend) == {}
    backend.refresh_from_db()
    assert "EVOLAB_KEY_TEST_MISSING is not set" in backend.probe_error
