"""`python manage.py seed_demo`: the demo user, project, simulated backend, initial
harness and suite, a first evaluation of the head on the dev split, the demo merge policy
and an evolution campaign. Idempotent: what exists is left as it is, so it can run on
every `make demo`.

The run and the campaign are created queued; `serve_demo` starts the worker only once the simulator
answers, and the worker then executes it."""

from __future__ import annotations

from typing import Any

from django.contrib.auth.models import User
from django.core.management.base import BaseCommand
from django.db import transaction

from evolab.demo import SUITE_PATH, demo_harness_files
from evolab.demo.campaign import DEMO_POLICY, demo_campaign_spec
from evolab.evals.actions import suite_create, suite_version_import
from evolab.evals.models import EvalSuite
from evolab.evolution.actions import campaign_create, policy_set
from evolab.evolution.models import Campaign, PolicyVersion
from evolab.harnesses.actions import version_create
from evolab.harnesses.selectors import head_of
from evolab.projects.actions import backend_create, project_create
from evolab.projects.models import Project
from evolab.projects.presets import PRESETS
from evolab.runs.actions import RunSpec, run_create
from evolab.runs.selectors import spec_estimate, suite_version_for

DEMO_USER = "demo"
DEMO_PASSWORD = "evolab-demo"  # the published login of the local demo only
PROJECT_SLUG = "support-agent"
SUITE_SLUG = "support-suite"


class Command(BaseCommand):
    help = "Create the demo user, project, simulated backend, harness and suite (idempotent)."

    def handle(self, *args: Any, **options: Any) -> None:
        with transaction.atomic():
            user = self._user()
            project = self._project(user)
            self._backend(user, project)
            self._harness(user, project)
            self._suite(user, project)
            self._first_run(user, project)
            self._campaign(user, project)
        self.stdout.write(
            self.style.SUCCESS(f"Demo ready: project '{PROJECT_SLUG}', login {DEMO_USER} / {DEMO_PASSWORD}")
        )

    def _user(self) -> User:
        """The demo's one person is also the instance's operator (staff), so the demo
        shows the operations page (/ops/) too; not a superuser: project access stays
        by membership, as for everyone."""
        user, created = User.objects.get_or_create(
            username=DEMO_USER, defaults={"email": "demo@example.org", "is_staff": True}
        )
        if created:
            user.set_password(DEMO_PASSWORD)
            user.save(update_fields=["password"])
            self.stdout.write(f"created user {DEMO_USER}")
        elif not user.is_staff:
            # A demo seeded before the account was staff.
            user.is_staff = True
            user.save(update_fields=["is_staff"])
        return user

    def _project(self, user: User) -> Project:
        project = Project.objects.filter(slug=PROJECT_SLUG).first()
        if project is None:
            project = project_create(
                actor=user,
                name="Support agent",
                slug=PROJECT_SLUG,
                description=(
                    "A customer-support agent on MiniMax M2.7 (here: the simulator). Its harness handles "
                    "refunds, shipping, unit conversions, arithmetic, word problems and data extraction."
                ),
            )
            self.stdout.write(f"created project {PROJECT_SLUG}")
        return project

    def _backend(self, user: User, project: Project) -> None:
        preset = PRESETS["simulator"]
        if project.backends.filter(name=preset.fields.name).exists():
            return
        backend_create(actor=user, project=project, fields=preset.fields)
        self.stdout.write(f"created backend {preset.fields.name} (simulated)")

    def _harness(self, user: User, project: Project) -> None:
        if head_of(project) is not None:
            return
        version_create(
            actor=user,
            project=project,
            files=demo_harness_files(),
            message="Initial support-agent harness: system prompt, workflow, refunds and extraction skills",
        )
        self.stdout.write("created harness v1")

    def _suite(self, user: User, project: Project) -> None:
        if EvalSuite.objects.filter(project=project, slug=SUITE_SLUG).exists():
            return
        suite = suite_create(
            actor=user,
            project=project,
            slug=SUITE_SLUG,
            name="Support suite",
            description="180 support tasks in six topics; answers are computed by the simulator from the task text.",
        )
        version = suite_version_import(
            actor=user, suite=suite, source=SUITE_PATH.read_bytes(), fmt="jsonl", message="Demo suite"
        )
        self.stdout.write(f"created suite {SUITE_SLUG} v{version.number} with {version.case_count} cases")

    def _first_run(self, user: User, project: Project) -> None:
        head = head_of(project)
        backend = project.backends.filter(name=PRESETS["simulator"].fields.name).first()
        if project.runs.exists() or head is None or backend is None:
            return
        spec = RunSpec(
            harness_version=head,
            suite_version=suite_version_for(project, SUITE_SLUG),
            splits=["dev"],
            backend=backend,
            samples=1,
            max_concurrency=backend.max_concurrency,
        )
        run = run_create(actor=user, project=project, spec=spec, estimate_usd=spec_estimate(spec).usd)
        self.stdout.write(f"created run {run.number} (v{head.number} on the dev split; the worker runs it)")

    def _campaign(self, user: User, project: Project) -> None:
        head = head_of(project)
        backend = project.backends.filter(name=PRESETS["simulator"].fields.name).first()
        if Campaign.objects.filter(project=project).exists() or head is None or backend is None:
            return
        if not PolicyVersion.objects.filter(project=project).exists():
            policy_set(actor=user, project=project, rules=DEMO_POLICY)
        spec = demo_campaign_spec(base=head, suite_version=suite_version_for(project, SUITE_SLUG), backend=backend)
        campaign = campaign_create(actor=user, project=project, spec=spec)
        self.stdout.write(f"created campaign {campaign.number} ({spec.budget_rounds} rounds; the worker runs it)")
