"""Data for the load test, written into the native stack's database by `make load`
(`python -m tests.stack.load_setup`, run with the stack's environment).

Project `load`: an owner, N reviewers signed in (a session each, made the way
`django.contrib.auth.login` makes one: password checks are not what is measured, and
50 Argon2 verifications would take a quarter of the time budget), a classified
proposal whose runs have `--proposal-cases` cases x 3 samples (`proposal_fixture`, the
data the proposal page's tests and benchmark use), and what a 2,000-case run needs: the
simulator as a backend (its slots the limit on requests in flight), a one-turn
arithmetic harness and a suite of `--run-cases` dev cases (the benchmark's synthetic
suite). The run itself is started by the load driver through the browser's form.
Prints a JSON summary.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence
from dataclasses import replace
from importlib import import_module
from typing import Any

import django

# One turn, M2.7's sampling range (temperature in (0, 1]), room for its reasoning.
RUN_HARNESS_YAML = "sampling:\n  temperature: 1.0\n  top_p: 0.95\n  max_tokens: 256\n  seed: 1\nagent:\n  max_turns: 1\n"


def setup(*, reviewers: int, password: str, proposal_cases: int, run_cases: int, in_flight: int) -> dict[str, Any]:
    django.setup()
    from django.conf import settings
    from django.contrib.auth import BACKEND_SESSION_KEY, HASH_SESSION_KEY, SESSION_KEY
    from django.contrib.auth.hashers import make_password
    from django.contrib.auth.models import User
    from django.db import transaction

    from evolab.evals.actions import suite_create, suite_version_import
    from evolab.evolution.benchmark import proposal_fixture
    from evolab.evolution.models import Campaign, CampaignStatus
    from evolab.harnesses.actions import version_create
    from evolab.projects.actions import backend_create, project_create
    from evolab.projects.models import Membership, Role
    from evolab.projects.presets import PRESETS
    from evolab.runs.benchmark import SYSTEM_PROMPT, case_row

    with transaction.atomic():
        owner = User.objects.create(username="load-owner", password=make_password(password))
        project = project_create(actor=owner, name="Load", slug="load")
        fx = proposal_fixture(project=project, actor=owner, cases=proposal_cases, samples=3, guard_cases=30)
        # Its campaign is history, not work: the stack's reconciler would run a live one.
        Campaign.objects.filter(pk=fx.campaign.pk).update(status=CampaignStatus.FINISHED)
        people = User.objects.bulk_create(
            [User(username=f"load-reviewer-{index:02d}", password=make_password(None)) for index in range(reviewers)]
        )
        Membership.objects.bulk_create([Membership(project=project, user=user, role=Role.REVIEWER) for user in people])
        model_backend = "django.contrib.auth.backends.ModelBackend"
        assert model_backend in settings.AUTHENTICATION_BACKENDS, settings.AUTHENTICATION_BACKENDS
        sessions = {}
        for user in people:
            session = import_module(settings.SESSION_ENGINE).SessionStore()
            session[SESSION_KEY] = str(user.pk)
            session[BACKEND_SESSION_KEY] = model_backend
            session[HASH_SESSION_KEY] = user.get_session_auth_hash()
            session.create()
            sessions[user.username] = session.session_key
        # The simulator as the demo has it (the stack's simulator serves the M2.7 profile),
        # with as many slots as the run may use.
        fields = replace(PRESETS["simulator"].fields, max_concurrency=in_flight)
        backend = backend_create(actor=owner, project=project, fields=fields)
        harness = version_create(
            actor=owner,
            project=project,
            message="one-turn arithmetic",
            files={"harness.yaml": RUN_HARNESS_YAML, "system.md": SYSTEM_PROMPT + "\n"},
            move_head=False,
        )
        suite = suite_create(actor=owner, project=project, slug="arithmetic", name="Arithmetic")
        source = "\n".join(json.dumps(case_row(index, "dev")) for index in range(run_cases)).encode()
        version = suite_version_import(actor=owner, suite=suite, source=source, fmt="jsonl")
    return {
        "project": project.slug,
        "owner": owner.username,
        "sessions": sessions,
        "session_cookie": settings.SESSION_COOKIE_NAME,
        "proposal": fx.proposal.number,
        "proposal_cases": proposal_cases,
        "case_keys": [f"dev-{index:05d}" for index in range(min(proposal_cases, 50))],
        "compare": {"baseline": fx.parent_run.number, "run": fx.candidate_run.number},
        "run_form": {
            "harness": str(harness.number),
            "suite_version": f"{suite.slug}@{version.number}",
            "splits": "dev",
            "backend": backend.name,
            "samples": "1",
            "seed": "0",
            "max_concurrency": str(in_flight),
            "use_cache": "on",
        },
        "run_cases": run_cases,
    }


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m tests.stack.load_setup")
    parser.add_argument("--reviewers", type=int, required=True)
    parser.add_argument("--password", required=True)
    parser.add_argument("--proposal-cases", type=int, required=True)
    parser.add_argument("--run-cases", type=int, required=True)
    parser.add_argument("--in-flight", type=int, required=True)
    args = parser.parse_args(argv)
    summary = setup(
        reviewers=args.reviewers,
        password=args.password,
        proposal_cases=args.proposal_cases,
        run_cases=args.run_cases,
        in_flight=args.in_flight,
    )
    json.dump(summary, sys.stdout)


if __name__ == "__main__":
    main()
