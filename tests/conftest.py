"""Shared fixtures: named personas around one project, as in healthchecks' tests.

`team.owner`, `team.maintainer`, `team.reviewer`, `team.viewer` are members of
`team.project`; `team.outsider` is logged-in-able but must see nothing of it.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from django.contrib.auth.models import AbstractBaseUser
from django.test import Client

from evolab.backends.simulator.testing import RunningSimulator, running_simulator
from evolab.projects.models import Project, Role
from tests.factories import MembershipFactory, ProjectFactory, UserFactory

IN_CI = os.environ.get("CI", "").lower() == "true"


# Tests whose answer does not depend on the database engine (a browser driving pages, a
# schema fuzzer): `make test` runs them in its SQLite pass only, to keep the suite short.
ONE_DATABASE_DIRS = ("e2e", "fuzz")


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    tests_dir = Path(__file__).parent
    for item in items:
        parts = item.path.relative_to(tests_dir).parts if item.path.is_relative_to(tests_dir) else ()
        if parts and parts[0] in ONE_DATABASE_DIRS:
            item.add_marker(pytest.mark.one_database)


def require_service(available: bool, reason: str) -> None:
    """Skip a test whose real service is missing; in CI a missing service is a failure."""
    if available:
        return
    if IN_CI:
        pytest.fail(f"{reason} (CI=true: services must be present)")
    pytest.skip(reason)


@pytest.fixture(autouse=True)
def _fast_password_hasher(settings: object) -> None:
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]  # type: ignore[attr-defined]


@pytest.fixture(autouse=True)
def _in_memory_broker() -> Iterator[None]:
    """Work enqueued on commit by a test goes to an in-memory broker, never to the
    embedded default's folder under var/, where a later demo worker would run it. Tests
    that need a real broker (tests/reliability) point the app elsewhere themselves."""
    from evolab.celery import app

    previous = app.conf.broker_url, app.conf.broker_transport_options
    _forget_broker_connections(app)
    app.conf.update(broker_url="memory://", broker_transport_options={})
    yield
    app.conf.update(broker_url=previous[0], broker_transport_options=previous[1])
    _forget_broker_connections(app)


def _forget_broker_connections(app: Any) -> None:
    """Connection pools are opened once per process with the broker settings of the
    time; drop them so the next message uses the current settings."""
    app._pool = None
    app.amqp._producer_pool = None


@dataclass
class Team:
    project: Project
    owner: AbstractBaseUser
    maintainer: AbstractBaseUser
    reviewer: AbstractBaseUser
    viewer: AbstractBaseUser
    outsider: AbstractBaseUser

    def client_for(self, persona: str) -> Client:
        client = Client()
        if persona != "anonymous":
            client.force_login(getattr(self, persona))
        return client


@pytest.fixture
def team(db: None) -> Team:
    project = ProjectFactory(slug="support-agent", name="Support agent")
    people = {}
    for role in (Role.OWNER, Role.MAINTAINER, Role.REVIEWER, Role.VIEWER):
        user = UserFactory(username=role.label)
        MembershipFactory(project=project, user=user, role=role)
        people[role.label] = user
    outsider = UserFactory(username="outsider")
    return Team(project=project, outsider=outsider, **people)


@pytest.fixture
def owner_client(team: Team) -> Client:
    return team.client_for("owner")


@pytest.fixture(scope="session")
def simulator() -> Iterator[RunningSimulator]:
    """One simulated M2.7 server for the session; tests call `reset()` before use."""
    with running_simulator(profile="minimax-m2.7") as sim:
        yield sim
