"""The native production stack under test: `make stack-e2e` (not part of `make test`).

`stack` starts, for the module, the processes docker/compose.yml runs — migrate, the
simulator, the ASGI web server, two Celery worker processes and the beat scheduler —
with the containers' commands (evolab.core.stack_runner), against a fresh PostgreSQL
database `evolab_stack` and Redis database 11, with the demo seeded. Every process is
stopped when the module ends, pass or fail. Their logs are under var/e2e/stack-logs/
and the tail of each is attached to a failed test's report.

The test process itself never opens the stack's database through Django: it drives
the browser, and what it must set up (accounts) it does with management commands run
against the stack, as an operator would.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import Browser, sync_playwright

from evolab.core.stack_runner import BASE_DIR, Stack, running_stack, services_unavailable
from tests.conftest import require_service
from tests.e2e.conftest import CHROMIUM, CHROMIUM_ARGS

SCREENSHOTS = BASE_DIR / "var" / "e2e"
STACK_LOGS = SCREENSHOTS / "stack-logs"
# Slow enough that a run's progress can be watched rising (a few seconds for a few
# hundred episodes), fast enough for the whole journey to fit its budget.
SIMULATOR_LATENCY = "100,300"

_STACK = pytest.StashKey[Stack]()
# Set on a test whose call failed, so fixtures can keep evidence in their teardown.
FAILED = pytest.StashKey[bool]()


@pytest.fixture(scope="module")
def stack(request: pytest.FixtureRequest) -> Iterator[Stack]:
    require_service(services_unavailable() is None, f"the native stack needs them: {services_unavailable()}")
    with running_stack(
        log_dir=STACK_LOGS,
        workers=2,
        setup=[["seed_demo"]],
        simulator_args=["--latency", SIMULATOR_LATENCY],
    ) as running:
        request.session.stash[_STACK] = running
        try:
            yield running
        finally:
            del request.session.stash[_STACK]


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    require_service(os.access(CHROMIUM, os.X_OK), f"no Chromium at {CHROMIUM}: apt-get install -y chromium")
    with pytest.MonkeyPatch.context() as patch:
        # Playwright's sync API keeps an event loop running in this thread.
        patch.setenv("DJANGO_ALLOW_ASYNC_UNSAFE", "true")
        with sync_playwright() as playwright:
            launched = playwright.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS)
            try:
                yield launched
            finally:
                launched.close()


def screenshot_path(step: str) -> Path:
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    return SCREENSHOTS / f"stack-{step}.png"


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Any:
    report = yield
    if report.when == "call" and report.failed:
        item.stash[FAILED] = True
    running = item.session.stash.get(_STACK, None)
    if running is not None and report.failed:
        report.sections.append(("native stack logs (tail)", running.log_tails()))
    return report


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Stack tests run only when asked for by marker (`pytest -m stack`, as `make
    stack-e2e` does): they start a whole deployment, so `make test` and a bare `pytest`
    leave them out, whatever other `-m` expression they pass."""
    if "stack" in (config.option.markexpr or "") and "not stack" not in config.option.markexpr:
        return
    kept, dropped = [], []
    for item in items:
        (dropped if item.get_closest_marker("stack") else kept).append(item)
    if dropped:
        config.hook.pytest_deselected(items=dropped)
        items[:] = kept
