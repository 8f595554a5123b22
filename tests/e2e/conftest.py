"""Browser tests: Chromium, driven by Playwright, against the app served by uvicorn.

The app runs in a subprocess, as `make demo` runs it (`uvicorn evolab.asgi:application`,
with the app's own settings), pointed at this session's test database through
DATABASE_URL; so every test here is transactional, and what it writes is committed
before the browser asks for it. pytest-django's `live_server` is not used: it is a WSGI
server, and the pages open websockets.

Chromium is Debian's (`apt-get install chromium`), named by EVOLAB_E2E_CHROMIUM; without
it the tests skip (fail under CI=true). Each step's screenshot goes to var/e2e/<step>.png.

Playwright's sync API keeps an event loop marked running in this thread while it is
started, so Django's async-safety check would refuse ORM calls made between browser
steps: DJANGO_ALLOW_ASYNC_UNSAFE is set while the browser is up. The browser and the
server are started once for this package and stopped after its last test, so the loop is
gone before tests of other packages run (pytest ends a package-scoped fixture as soon as
the next test is outside the package); sharing them saves a Chromium launch and a server
start per module, and every test still opens browser contexts of its own.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from django.conf import settings as django_settings
from django.contrib.auth.hashers import Argon2PasswordHasher
from django.contrib.auth.models import AbstractBaseUser
from playwright.sync_api import Browser, Page, expect, sync_playwright

from tests.conftest import require_service
from tests.reliability.conftest import database_url

CHROMIUM = os.environ.get("EVOLAB_E2E_CHROMIUM", "/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
PASSWORD = "e2e-review-journey"
SCREENSHOTS = django_settings.VAR_DIR / "e2e"
SERVER_START_S = 30.0


@pytest.fixture(scope="package")
def browser() -> Iterator[Browser]:
    require_service(
        os.access(CHROMIUM, os.X_OK),
        f"no Chromium at {CHROMIUM}: apt-get install -y chromium, or point EVOLAB_E2E_CHROMIUM at one",
    )
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("DJANGO_ALLOW_ASYNC_UNSAFE", "true")
        with sync_playwright() as playwright:
            launched = playwright.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS)
            yield launched
            launched.close()


@pytest.fixture(scope="package")
def server_url(django_db_setup: None, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """uvicorn serving the ASGI app on a socket this process opened (no port race),
    against the test database. Its var/ is a folder of its own: what it enqueues or
    generates never reaches the demo's broker folder. Its log is var/e2e/server.log."""
    listener = socket.create_server(("127.0.0.1", 0))
    host, port = listener.getsockname()[:2]
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "evolab.settings",
        "DATABASE_URL": database_url(),
        "EVOLAB_VAR_DIR": str(tmp_path_factory.mktemp("server-var")),
        "PYTHONUNBUFFERED": "1",
    }
    command = [sys.executable, "-m", "uvicorn", "evolab.asgi:application", "--fd", str(listener.fileno())]
    log_path = SCREENSHOTS / "server.log"
    with log_path.open("wb") as log:
        process = subprocess.Popen(
            command,
            cwd=django_settings.BASE_DIR,
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
            pass_fds=[listener.fileno()],
        )
    listener.close()  # the server has its own copy
    url = f"http://{host}:{port}"
    try:
        _wait_until_up(process, url, log_path)
        yield url
    finally:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def _wait_until_up(process: subprocess.Popen[bytes], url: str, log_path: Path) -> None:
    deadline = time.monotonic() + SERVER_START_S
    while process.poll() is None and time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(f"{url}/accounts/login/", timeout=2) as response:
                if response.status == 200:
                    return
        except OSError:
            time.sleep(0.1)
    process.kill()
    raise AssertionError(f"uvicorn did not serve {url} within {SERVER_START_S:g} s:\n{log_path.read_text()[-3000:]}")


def with_password(user: AbstractBaseUser) -> AbstractBaseUser:
    """Give `user` PASSWORD, hashed with Argon2 whatever this process's test hashers are:
    the server runs the real settings, which do not know the tests' MD5 hasher."""
    hasher = Argon2PasswordHasher()
    user.password = hasher.encode(PASSWORD, hasher.salt())
    user.save(update_fields=["password"])
    return user


@dataclass
class App:
    """The served app and the browser: `login` opens a fresh browser context (its own
    cookies) per person; `shot` saves a screenshot of a step."""

    url: str
    browser: Browser
    pages: list[Page] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)

    def login(self, user: AbstractBaseUser) -> Page:
        with_password(user)
        context = self.browser.new_context(base_url=self.url, viewport={"width": 1280, "height": 900})
        page = context.new_page()
        page.on("pageerror", lambda error: self.errors.append(f"{user.get_username()}: {error}"))
        self.pages.append(page)
        page.goto("/accounts/login/")
        page.locator("input[name=username]").fill(user.get_username())
        page.locator("input[name=password]").fill(PASSWORD)
        page.locator("button.primary").click()
        expect(page.locator("input[name=password]")).to_have_count(0)
        return page

    def shot(self, page: Page, step: str) -> None:
        page.screenshot(path=SCREENSHOTS / f"{step}.png", full_page=True)


@pytest.fixture
def app(browser: Browser, server_url: str, transactional_db: None) -> Iterator[App]:
    app = App(url=server_url, browser=browser)
    yield app
    for page in app.pages:
        page.context.close()
    # An uncaught script error is a failure even when the steps passed.
    assert not app.errors, f"script errors in the browser: {app.errors}"
