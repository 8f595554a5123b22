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
from django.db import transaction
from django.test import Client, override_settings

from evolab.backends.simulator.testing import RunningSimulator, running_simulator
from evolab.projects.models import Project, Role
from tests.factories import MembershipFactory, ProjectFactory, UserFactory

IN_CI = os.environ.get("CI", "").lower() == "true"


# Tests whose answer does not depend on the database engine (a browser driving pages, a
# schema fuzzer): `make test` runs them in its SQLite pass only, to keep the suite short.
ONE_DATABASE_DIRS = ("e2e", "fuzz")
# What gives a test the database, as pytest-django decides it (`_get_databases_for_test`):
# the `django_db` marker, or one of these fixtures anywhere in the test's fixture closure
# (`item.fixturenames` includes fixtures requested through other fixtures, e.g. `team`).
# `django_db_blocker` is not one of them: pytest-django's autouse fixtures request it for
# every test. A test with none of them runs with database access blocked — any query
# raises — so its answer cannot depend on the database engine.
DATABASE_FIXTURES = frozenset(
    {
        "db",
        "transactional_db",
        "live_server",
        "django_db_setup",
        "django_db_reset_sequences",
        "django_db_serialized_rollback",
    }
)


def uses_database(item: pytest.Item) -> bool:
    return item.get_closest_marker("django_db") is not None or not DATABASE_FIXTURES.isdisjoint(
        getattr(item, "fixturenames", ())
    )


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Mark `one_database` what needs only one pass of `make test`: the browser and fuzzing
    packages, and every test without database access (engine, backends, simulator,
    settings...), which would only repeat itself in the PostgreSQL pass. The processes
    such tests start do not open the test database either: those that could (tests/deploy,
    tests/core/test_settings.py, the embedded `make bench` of tests/runs/test_benchmark.py)
    drop DATABASE_URL and get a SQLite file of their own or the URL the test gives them;
    the simulator command opens no database. A new test whose subprocess opens the test
    database must request `db` (or `transactional_db`) to run in both passes."""
    tests_dir = Path(__file__).parent
    for item in items:
        parts = item.path.relative_to(tests_dir).parts if item.path.is_relative_to(tests_dir) else ()
        if (parts and parts[0] in ONE_DATABASE_DIRS) or not uses_database(item):
            item.add_marker(pytest.mark.one_database)


def require_service(available: bool, reason: str) -> None:
    """Skip a test whose real service is missing; in CI a missing service is a failure."""
    if available:
        return
    if IN_CI:
        pytest.fail(f"{reason} (CI=true: services must be present)")
    pytest.skip(reason)


@pytest.fixture(scope="session", autouse=True)
def _postgresql_flush_deletes() -> Iterator[None]:
    """Transactional tests empty the database after themselves with Django's `flush`,
    which on PostgreSQL is one TRUNCATE of every table (~55; each truncated table gets
    new files): 0.5 to 1.4 s after each transactional test of a full run on this machine,
    against a few milliseconds for DELETEs of the few rows a test leaves (80 ms for the
    whole teardown). The tables end just as empty (sequences are
    not reset either way); foreign keys are DEFERRABLE INITIALLY DEFERRED, so the DELETEs
    run in any order inside flush's transaction. A table with a row trigger on DELETE
    (the append-only audit log, core migration 0003) is still truncated: TRUNCATE fires
    no row trigger, and that trigger is what the audit tests prove."""
    from django.db import connection

    if connection.vendor != "postgresql":
        yield
        return
    from django.db.backends.postgresql.operations import DatabaseOperations

    truncate = DatabaseOperations.sql_flush

    def sql_flush(
        self: DatabaseOperations,
        style: Any,
        tables: list[str],
        *,
        reset_sequences: bool = False,
        allow_cascade: bool = False,
    ) -> list[str]:
        if reset_sequences or allow_cascade:
            return truncate(self, style, tables, reset_sequences=reset_sequences, allow_cascade=allow_cascade)
        with self.connection.cursor() as cursor:
            # tgtype bit 8: the trigger fires on DELETE (catalog/pg_trigger.h).
            cursor.execute(
                "SELECT DISTINCT c.relname FROM pg_trigger t JOIN pg_class c ON c.oid = t.tgrelid "
                "WHERE NOT t.tgisinternal AND t.tgtype & 8 <> 0"
            )
            guarded = {name for (name,) in cursor.fetchall()}
        deleted = [table for table in tables if table not in guarded]
        truncated = [table for table in tables if table in guarded]
        return [f"DELETE FROM {self.quote_name(table)};" for table in deleted] + truncate(self, style, truncated)

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(DatabaseOperations, "sql_flush", sql_flush)
        yield


@pytest.fixture(scope="session", autouse=True)
def _fast_password_hasher() -> Iterator[None]:
    """MD5 instead of Argon2 (tens of milliseconds a hash) for the whole session, so that
    data built once for a module (`module_transaction`) is hashed fast too; a test can
    still choose other hashers with the `settings` fixture."""
    with override_settings(PASSWORD_HASHERS=["django.contrib.auth.hashers.MD5PasswordHasher"]):
        yield


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


def build_team() -> Team:
    project = ProjectFactory(slug="support-agent", name="Support agent")
    people = {}
    for role in (Role.OWNER, Role.MAINTAINER, Role.REVIEWER, Role.VIEWER):
        user = UserFactory(username=role.label)
        MembershipFactory(project=project, user=user, role=role)
        people[role.label] = user
    outsider = UserFactory(username="outsider")
    return Team(project=project, outsider=outsider, **people)


@pytest.fixture
def team(db: None) -> Team:
    return build_team()


@pytest.fixture(scope="module")
def module_transaction(django_db_setup: None, django_db_blocker: Any) -> Iterator[None]:
    """Data that the tests of a module share, built once, as Django's `setUpTestData` does:
    module-scoped fixtures that request this write inside one transaction, rolled back
    after the module's last test. Every test of such a module must still be marked
    `django_db`: its own transaction is then a savepoint inside this one, rolled back
    after the test, so each test starts from the shared data as it was built. For tests
    that only read the shared objects' ids (a permission matrix), not for transactional
    tests (they commit and flush) nor for tests that change the shared Python objects."""
    with django_db_blocker.unblock(), transaction.atomic():
        yield
        transaction.set_rollback(True)


@pytest.fixture(scope="module")
def module_team(module_transaction: None) -> Team:
    """`team`, built once for the module (see `module_transaction`)."""
    return build_team()


@pytest.fixture
def owner_client(team: Team) -> Client:
    return team.client_for("owner")


@pytest.fixture(scope="session")
def simulator() -> Iterator[RunningSimulator]:
    """One simulated M2.7 server for the session; tests call `reset()` before use."""
    with running_simulator(profile="minimax-m2.7") as sim:
        yield sim
