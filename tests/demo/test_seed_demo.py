from __future__ import annotations

from django.core.management import call_command
from django.test import Client

from evolab.core.models import AuditEvent
from evolab.evals.models import EvalCase
from evolab.harnesses.models import HarnessVersion
from evolab.projects.models import Project


def test_seed_demo_is_idempotent_and_gives_a_usable_project(db: None) -> None:
    call_command("seed_demo")
    counts = (HarnessVersion.objects.count(), EvalCase.objects.count(), AuditEvent.objects.count())
    call_command("seed_demo")
    assert (HarnessVersion.objects.count(), EvalCase.objects.count(), AuditEvent.objects.count()) == counts

    project = Project.objects.get(slug="support-agent")
    splits = set(EvalCase.objects.filter(version__suite__project=project).values_list("split", flat=True))
    assert splits == {"train", "dev", "holdout"}
    assert EvalCase.objects.filter(version__suite__project=project).count() >= 60

    client = Client()
    assert client.login(username="demo", password="evolab-demo")
    page = client.get("/p/support-agent/").content.decode()
    assert "head v1" in page and "Support suite" in page
    backends = client.get("/p/support-agent/backends/").content.decode()
    assert ">simulated<" in backends
    # The demo's person is the instance's operator too: the operations page is theirs.
    assert client.get("/ops/").status_code == 200
