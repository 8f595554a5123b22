"""The lineage page under load (`make bench`): "a chart over 200 versions in ≤ 150 ms".

`lineage_history` builds a project's history through the real actions (a campaign's
merged, rejected and open proposals, a branch merged back, reverts); the lineage tests
build their data with it too, so the benchmark times the page the tests check.
`lineage_bench` does it in a throw-away test database and reports the median server
time of the page over `requests` requests, with its query count.
"""

from __future__ import annotations

import json
import statistics
import time
from decimal import Decimal
from typing import Any

from django.contrib.auth.models import User
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from evolab.evals.actions import suite_create, suite_version_import
from evolab.evolution.benchmark import Output
from evolab.evolution.models import Campaign, Outcome, Proposal, ProposalStage, ProposerKind
from evolab.harnesses.actions import head_move, version_create, version_revert
from evolab.harnesses.models import HarnessVersion
from evolab.projects.models import Backend, Membership, Project, Role

TARGET_MS = 150.0
FILES = {"system.md": "You are a support agent.\n", "workflow.md": "1. Read.\n2. Answer.\n"}


def bare_campaign(project: Project, actor: User, base: HarnessVersion) -> Campaign:
    """A campaign for proposals written directly: a one-case suite, a backend never called."""
    suite = suite_create(
        actor=actor, project=project, slug="lineage", name="Lineage", default_grader={"type": "contains"}
    )
    row = {"key": "q1", "input": "Where is my parcel?", "target": "tracking", "split": "dev"}
    suite_version = suite_version_import(actor=actor, suite=suite, source=json.dumps(row).encode(), fmt="jsonl")
    backend = Backend.objects.create(
        project=project, name="lineage-sim", kind="simulator", family="minimax", base_url="http://127.0.0.1:9/v1"
    )
    return Campaign.objects.create(
        project=project,
        number=Campaign.objects.filter(project=project).count() + 1,
        name="lineage",
        base_version=base,
        parent_version=base,
        suite_version=suite_version,
        runner_backend=backend,
        budget_usd=Decimal("1"),
        budget_tokens=1_000_000,
        budget_wall_s=3600,
    )


def lineage_history(project: Project, actor: User, versions: int) -> list[HarnessVersion]:
    """About `versions` versions in a pattern that repeats every ten: merged proposals
    moving head, rejected and open candidates off head, a side branch merged back with
    two parents, and a revert. Proposals are written as the loop leaves them."""
    made = [version_create(actor=actor, project=project, files=FILES, message="first harness")]
    campaign = bare_campaign(project, actor, made[0])
    head = made[0]

    def files(n: int) -> dict[str, str]:
        return {**FILES, "system.md": f"You are a support agent, take {n}.\n"}

    def candidate(outcome: str, **fields: Any) -> HarnessVersion:
        version = version_create(
            actor=None,
            project=project,
            files=files(len(made)),
            message=f"candidate {len(made)}",
            parents=[head],
            move_head=False,
            author_label="reflect (M2.7)",
        )
        Proposal.objects.create(
            project=project,
            number=Proposal.objects.filter(project=project).count() + 1,
            campaign=campaign,
            kind=ProposerKind.REFLECT,
            stage=ProposalStage.CLASSIFIED,
            base_version=head,
            candidate_version=version,
            outcome=outcome,
            **fields,
        )
        made.append(version)
        return version

    while len(made) < versions:
        step = len(made) % 10
        if step in (1, 4, 7):
            merged = candidate(Outcome.NEEDS_REVIEW, merged_at=timezone.now(), merged_by=actor)
            head_move(actor=actor, project=project, expected=head, new=merged)
            head = merged
        elif step in (2, 5):
            candidate(Outcome.AUTO_REJECT)
        elif step == 3:
            candidate(Outcome.NEEDS_REVIEW)
        elif step == 6:
            side = version_create(
                actor=actor,
                project=project,
                files=files(len(made)),
                message="side",
                parents=[made[-3]],
                move_head=False,
            )
            made.append(side)
            head = version_create(
                actor=actor, project=project, files=files(len(made)), message="merge side", parents=[head, side]
            )
            made.append(head)
        elif step == 8:
            head = version_revert(actor=actor, project=project, target=made[-3], reason="undo the last change")
            made.append(head)
        else:
            head = version_create(actor=actor, project=project, files=files(len(made)), message="by hand")
            made.append(head)
    return made


def _measure(versions: int, requests: int) -> dict[str, Any]:
    owner = User.objects.create_user("lineage-bench")
    project = Project.objects.create(slug="lineage-bench", name="Lineage bench")
    Membership.objects.create(project=project, user=owner, role=Role.OWNER)
    lineage_history(project, owner, versions)
    client = Client()
    client.force_login(owner)
    url = reverse("charts:lineage", kwargs={"slug": project.slug})
    client.get(url)  # warm up: templates, URL resolver
    timings: list[float] = []
    with CaptureQueriesContext(connection) as queries:
        for _ in range(requests):
            started = time.perf_counter()
            response = client.get(url)
            timings.append((time.perf_counter() - started) * 1000)
            if response.status_code != 200:
                raise RuntimeError(f"the lineage page answered {response.status_code}")
    return {
        "versions": HarnessVersion.objects.filter(project=project).count(),
        "requests": requests,
        "median_ms": statistics.median(timings),
        "max_ms": max(timings),
        "queries": len(queries) // requests,
        "bytes": len(response.content),
    }


def lineage_bench(*, versions: int = 200, requests: int = 10, out: Output) -> dict[str, Any]:
    """Time the lineage page in a fresh test database; print one line, return the numbers."""
    creation = connection.creation
    old_name = creation.create_test_db(verbosity=0, autoclobber=True, serialize=False)
    try:
        report = _measure(versions, requests)
    finally:
        creation.destroy_test_db(old_name, verbosity=0)
    report["database"] = connection.vendor
    report["target_median_ms"] = TARGET_MS
    flag = "" if report["median_ms"] <= TARGET_MS else f"  over the {TARGET_MS:.0f} ms target"
    out.write(
        f"\nLineage page, {report['versions']} versions ({connection.vendor}), median of {requests}: "
        f"{report['median_ms']:.1f} ms, {report['queries']} queries, {report['bytes'] / 1024:.0f} KiB{flag}\n"
    )
    return report
