"""Schema fuzzing: schemathesis generates requests for every operation of
/api/v1/openapi.json, valid and invalid, and checks what the API answers.

The app is called in-process (WSGI), inside the test's transaction, with a bearer token
supplied through schemathesis' auth hook — so its `ignored_auth` check also sends each
request without the token, and with a wrong one, and fails if either gets through. Path
parameters are pinned to objects that exist (project, suite, harness version, run), so
the requests reach the operations instead of ending in 404s. Generation is deterministic
(fixed seed, derandomized) and bounded in examples, so CI sees the same cases each time.
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Iterator
from typing import Any

import hypothesis
import pytest
import schemathesis
from django.core import signals
from django.core.wsgi import get_wsgi_application
from django.db import close_old_connections
from hypothesis import strategies as st
from schemathesis import GenerationMode
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    ignored_auth,
    negative_data_rejection,
    response_schema_conformance,
)

from evolab.demo import demo_harness_files, demo_suite_rows
from evolab.evals.actions import suite_create, suite_version_import
from evolab.harnesses.actions import version_create
from evolab.projects.actions import token_create
from evolab.runs.actions import RunSpec, run_create
from evolab.runs.outputs import parse_outputs_jsonl
from tests.conftest import Team

pytestmark = [pytest.mark.one_database]

MAX_EXAMPLES = 6
SEED = 20261126
CHECKS = [not_a_server_error, response_schema_conformance, ignored_auth, negative_data_rejection]


def _seed_data(team: Team) -> None:
    """Version 1 of a harness and of a suite, and run 1 (scored from recorded outputs)."""
    harness = version_create(actor=team.owner, project=team.project, files=demo_harness_files(), message="first")
    suite = suite_create(actor=team.owner, project=team.project, slug="demo", name="Demo")
    rows = [{**row, "split": "dev"} for row in demo_suite_rows()[:4]]
    version = suite_version_import(
        actor=team.owner, suite=suite, source="\n".join(json.dumps(r) for r in rows).encode(), fmt="jsonl"
    )
    outputs = "\n".join(json.dumps({"key": r["key"], "sample": 0, "output": "x"}) for r in rows).encode()
    spec = RunSpec(
        harness_version=harness,
        suite_version=version,
        splits=["dev"],
        backend=None,
        samples=1,
        outputs=parse_outputs_jsonl(outputs),
    )
    run_create(actor=team.owner, project=team.project, spec=spec)


def _load_schema(raw_token: str) -> Any:
    config = schemathesis.Config.from_dict({"seed": SEED, "generation": {"deterministic": True}})
    schema = schemathesis.openapi.from_wsgi("/api/v1/openapi.json", get_wsgi_application(), config=config)

    @schema.auth()
    class BearerToken:
        def get(self, case: Any, context: Any) -> str:
            return raw_token

        def set(self, case: Any, data: str, context: Any) -> None:
            case.headers = {**(case.headers or {}), "Authorization": f"Bearer {data}"}

    return schema


def _fuzz(schema: Any, operation: Any, pinned: dict[str, Any], statuses: Counter[int]) -> None:
    """Valid and invalid requests for one operation; raises on the first failing check."""
    path_parameters = {name: value for name, value in pinned.items() if "{" + name + "}" in operation.path}
    strategy = st.one_of(
        operation.as_strategy(mode, auth_storage=schema.auth, path_parameters=path_parameters or None)
        for mode in (GenerationMode.POSITIVE, GenerationMode.NEGATIVE)
    )

    @hypothesis.settings(
        max_examples=MAX_EXAMPLES,
        derandomize=True,
        database=None,
        deadline=None,
        suppress_health_check=list(hypothesis.HealthCheck),
        phases=[hypothesis.Phase.explicit, hypothesis.Phase.generate],  # no shrinking: report as found
    )
    @hypothesis.given(case=strategy)
    def run(case: Any) -> None:
        statuses[case.call_and_validate(checks=CHECKS).status_code] += 1

    run()


@pytest.fixture
def _keep_the_test_connection() -> Iterator[None]:
    """The app is called as a real WSGI app, whose end-of-request signal closes the
    database connection — the one holding this test's transaction. Django's test client
    disconnects that handler for the same reason; so does this test."""
    signals.request_started.disconnect(close_old_connections)
    signals.request_finished.disconnect(close_old_connections)
    yield
    signals.request_started.connect(close_old_connections)
    signals.request_finished.connect(close_old_connections)


@pytest.mark.usefixtures("_keep_the_test_connection")
def test_every_api_operation_holds_under_fuzzing(team: Team, settings: Any) -> None:
    settings.EVOLAB_API_RATE_LIMIT = "off"  # thousands of requests from one token
    _seed_data(team)
    _, raw = token_create(user=team.owner, name="fuzz")
    schema = _load_schema(raw)
    pinned = {"slug": team.project.slug, "suite_slug": "demo", "number": 1}
    failures: dict[str, str] = {}
    reached: list[str] = []
    operations = [result.ok() for result in schema.get_all_operations()]
    assert len(operations) > 40  # every router is in the schema
    for operation in operations:
        statuses: Counter[int] = Counter()
        try:
            _fuzz(schema, operation, pinned, statuses)
        except (Exception, BaseExceptionGroup) as error:  # collect every operation's failure, then report
            failures[operation.label] = f"{type(error).__name__}: {error}"[:6000]
        if any(200 <= status < 300 for status in statuses):
            reached.append(operation.label)
    assert not failures, "\n\n".join(f"=== {label}\n{text}" for label, text in failures.items())
    # The pinned objects let generated requests through to most operations (not only 4xx).
    assert len(reached) >= len(operations) // 3, reached
