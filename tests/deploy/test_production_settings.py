"""Production settings pass Django's deployment checks, refuse to start without what
they cannot guess, and every mode sends a script-strict Content-Security-Policy."""

from __future__ import annotations

import os
import secrets
import subprocess
import sys

import pytest
from django.conf import settings
from django.test import Client

ROOT = settings.BASE_DIR


def _manage(*args: str, env: dict[str, str], tmp_path: object) -> subprocess.CompletedProcess[str]:
    base = {key: value for key, value in os.environ.items() if not key.startswith(("EVOLAB_", "DJANGO_"))}
    for name in ("REDIS_URL", "DATABASE_URL", "SECRET_KEY", "ALLOWED_HOSTS"):  # only what the test gives
        base.pop(name, None)
    return subprocess.run(
        [sys.executable, "manage.py", *args],
        cwd=ROOT,
        env={**base, "EVOLAB_VAR_DIR": str(tmp_path), **env},
        capture_output=True,
        text=True,
        timeout=120,
    )


PRODUCTION = {
    "EVOLAB_PRODUCTION": "1",
    "SECRET_KEY": secrets.token_urlsafe(50),
    "ALLOWED_HOSTS": "evolab.example.org",
    "DATABASE_URL": "postgres://evolab:pw@127.0.0.1:5432/evolab",
}


def test_check_deploy_passes_with_production_settings(tmp_path: object) -> None:
    result = _manage("check", "--deploy", "--fail-level", "WARNING", env=PRODUCTION, tmp_path=tmp_path)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "no issues" in result.stdout


def test_check_deploy_fails_in_the_embedded_default(tmp_path: object) -> None:
    """The check is not vacuous: without production mode it finds the holes."""
    result = _manage("check", "--deploy", "--fail-level", "WARNING", env={}, tmp_path=tmp_path)
    assert result.returncode != 0
    for code in ("security.W004", "security.W008", "security.W012", "security.W016"):
        assert code in result.stderr + result.stdout


@pytest.mark.parametrize("missing", ["SECRET_KEY", "DATABASE_URL", "ALLOWED_HOSTS"])
def test_production_refuses_to_start_without_a_required_variable(missing: str, tmp_path: object) -> None:
    env = {key: value for key, value in PRODUCTION.items() if key != missing}
    result = _manage("check", env=env, tmp_path=tmp_path)
    assert result.returncode != 0
    assert f"EVOLAB_PRODUCTION=1 needs {missing}" in result.stderr


def test_production_probes_are_neither_redirected_nor_host_checked(tmp_path: object) -> None:
    """The container's probe speaks plain HTTP to 127.0.0.1: it must reach /healthz."""
    script = (
        "import django; django.setup();"
        "from django.test import Client;"
        "c = Client();"
        "r = c.get('/healthz', HTTP_HOST='127.0.0.1:8000'); print(r.status_code);"
        "r = c.get('/accounts/login/', HTTP_HOST='evolab.example.org'); print(r.status_code, r.get('Location'));"
        "r = c.get('/api/v1/openapi.json', HTTP_HOST='evolab.example.org', HTTP_X_FORWARDED_PROTO='https');"
        "print(r.status_code, r.get('Strict-Transport-Security'))"
    )
    base = {key: value for key, value in os.environ.items() if not key.startswith(("EVOLAB_", "DJANGO_"))}
    result = subprocess.run(
        [sys.executable, "-c", script],
        cwd=ROOT,
        env={**base, **PRODUCTION, "EVOLAB_VAR_DIR": str(tmp_path), "DJANGO_SETTINGS_MODULE": "evolab.settings"},
        capture_output=True,
        text=True,
        timeout=120,
    )
    lines = result.stdout.splitlines()
    assert lines[0] == "200", result.stdout + result.stderr
    assert lines[1] == "301 https://evolab.example.org/accounts/login/"
    assert lines[2] == "200 max-age=31536000; includeSubDomains; preload"


@pytest.mark.django_db
def test_every_page_sends_a_script_strict_csp() -> None:
    response = Client().get("/accounts/login/")
    policy = dict(
        [*part.strip().split(" ", 1), ""][:2] for part in response["Content-Security-Policy"].split(";") if part.strip()
    )
    assert policy["script-src"] == "'self'"
    assert "unsafe-eval" not in response["Content-Security-Policy"]
    assert policy["frame-ancestors"] == "'none'" and policy["object-src"] == "'none'"
    assert response["X-Frame-Options"] == "DENY"
    assert response["Referrer-Policy"] == "same-origin"


def test_templates_hold_no_inline_script() -> None:
    """No inline <script> body, on*= handler or hx-on in any template (a json_script
    block is data, and allowed)."""
    import re

    offenders = []
    for path in (ROOT / "templates").rglob("*.html"):
        text = path.read_text()
        for match in re.finditer(r"<script\b([^>]*)>", text):
            attributes = match.group(1)
            if "src=" not in attributes and "application/json" not in attributes:
                offenders.append(f"{path.relative_to(ROOT)}: inline <script>")
        if re.search(r"\son[a-z]+\s*=", text):
            offenders.append(f"{path.relative_to(ROOT)}: on*= handler")
        if re.search(r"\bhx-on\b|\bhx-on:|\bhx-on-", text):
            offenders.append(f"{path.relative_to(ROOT)}: hx-on")
        if re.search(r"\bhx-vals=['\"]js:|\bhx-vars=", text):
            offenders.append(f"{path.relative_to(ROOT)}: evaluated hx attribute")
    assert not offenders, offenders
