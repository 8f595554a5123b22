"""`seed_demo` queues one evaluation of the demo head, once."""

from __future__ import annotations

from io import StringIO

from django.core.management import call_command
from django.test import Client

from evolab.runs.models import Run, RunStatus


def test_seed_demo_queues_a_first_run_once(db: None) -> None:
    call_command("seed_demo", stdout=StringIO())
    call_command("seed_demo", stdout=StringIO())
    run = Run.objects.get()
    assert run.status == RunStatus.QUEUED and run.splits == ["dev"] and run.samples == 1
    assert run.backend_simulated and run.harness_version.number == 1 and run.total_results == 72
    assert run.estimate_usd > 0
    client = Client()
    assert client.login(username="demo", password="evolab-demo")
    page = client.get("/p/support-agent/").content.decode()
    assert "Recent runs" in page and ">Run 1</a>" in page and "queued" in page
