"""The proposal page under load (`make bench`): a proposal whose parent and candidate runs
have N cases x k samples each, every panel timed through Django's test client.

`proposal_fixture` writes the rows directly (no simulator, no worker): a suite with N
selection cases and a held-out guard, the four runs of a round with their results
(transcripts with reasoning and a tool call), and a classified proposal whose statistics
come from `engine.comparison` over those very scores. The page tests build their data
with it too, so the benchmark times the page the tests check.

`proposal_page_benchmark` does it in a throw-away test database (Django's test database
machinery, created and destroyed around the run), signs in a maintainer, and reports
the median server time of the page and of each htmx panel with their query counts.
"""

from __future__ import annotations

import json
import random
import statistics
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any, Protocol

from django.contrib.auth.models import User
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from evolab.engine.comparison import compare_paired
from evolab.evals.actions import suite_create, suite_version_import
from evolab.evals.models import EvalCase, SuiteVersion
from evolab.evolution.models import Campaign, Guidance, Outcome, Proposal, ProposalStage, ProposerKind, Round
from evolab.harnesses.actions import version_create
from evolab.harnesses.models import HarnessVersion
from evolab.projects.models import Backend, Project
from evolab.runs.models import CaseResult, ChunkStatus, ResultStatus, Run, RunChunk, RunStatus

BASE_FILES = {
    "harness.yaml": (
        "# sampling for the support agent\nsampling:\n  temperature: 1.0\n  top_p: 0.95\nagent:\n  max_turns: 6\n"
    ),
    "system.md": "# Support agent\n\nYou answer customer questions.\n\n- Be brief.\n- Cite the policy.\n",
    "workflow.md": "1. Read the question.\n2. Look up the policy.\n3. Answer.\n",
}
TOPICS = ("refunds", "shipping", "accounts", "billing", "tools")
# A rendered system prompt of realistic size (about 3 KB): transcripts carry it, and the
# size of a result row is part of what reading the results costs.
SYSTEM_PROMPT = "# Support agent\n\n" + "".join(
    f"- Rule {n}: answer questions about {TOPICS[n % len(TOPICS)]} from the policy, citing its section.\n"
    for n in range(40)
)
CRITICAL_EVERY = 7


@dataclass
class ProposalFixture:
    project: Project
    proposal: Proposal
    campaign: Campaign
    base: HarnessVersion
    candidate: HarnessVersion
    suite_version: SuiteVersion
    parent_run: Run
    candidate_run: Run
    parent_guard_run: Run
    guard_run: Run


def _case_rows(cases: int, guard_cases: int, payload: str) -> list[dict[str, Any]]:
    rows = []
    for split, count in (("dev", cases), ("holdout", guard_cases)):
        for index in range(count):
            tags = [TOPICS[index % len(TOPICS)]]
            if index % CRITICAL_EVERY == 0:
                tags.append("critical")
            if payload and index == 0:
                tags.append(payload[:100])
            key = f"{split}-{index:05d}" + (f" {payload}" if payload and index == 1 else "")
            rows.append(
                {
                    "key": key,
                    "input": f"Customer question {index} about {tags[0]}. {payload}",
                    "target": f"answer {index} {payload}",
                    "split": split,
                    "tags": tags,
                }
            )
    return rows


def _transcript(key: str, payload: str, passed: bool) -> tuple[list[dict[str, Any]], list[dict[str, Any]], str]:
    answer = f"{'The refund window is 30 days' if passed else 'I am not sure'} {payload}"
    arguments = json.dumps({"query": f"policy for {key} {payload}"})
    transcript: list[dict[str, Any]] = [
        {"role": "system", "content": f"{SYSTEM_PROMPT} {payload}"},
        {"role": "user", "content": f"Question for {key}. {payload}"},
        {
            "role": "assistant",
            "content": f"<think>Which policy applies? {payload}</think>Let me look that up.",
            "tool_calls": [
                {"id": "call-1", "type": "function", "function": {"name": "lookup", "arguments": arguments}}
            ],
        },
        {"role": "tool", "tool_call_id": "call-1", "content": f"Policy text {payload}"},
        {"role": "assistant", "content": answer, "reasoning_content": f"Now answer briefly. {payload}"},
    ]
    calls = [{"call_id": "call-1", "name": "lookup", "arguments": arguments, "result": f"Policy text {payload}"}]
    return transcript, calls, answer


def _run(project: Project, number: int, version: HarnessVersion, suite: SuiteVersion, split: str, samples: int) -> Run:
    now = timezone.now()
    run = Run.objects.create(
        project=project,
        number=number,
        harness_version=version,
        suite_version=suite,
        splits=[split],
        backend_label="M2.7 (simulated)",
        backend_simulated=True,
        samples=samples,
        status=RunStatus.COMPLETED,
        started_at=now,
        finished_at=now,
    )
    RunChunk.objects.create(run=run, index=0, status=ChunkStatus.DONE)
    return run


def _results(
    run: Run, cases: list[tuple[int, str]], samples: int, chance: Callable[[int], float], payload: str, seed: int
) -> dict[str, list[float]]:
    """Write the run's results; return what `compare_paired` takes (key → sample scores)."""
    chunk = run.chunks.get()
    draw = random.Random(seed)
    rows: list[CaseResult] = []
    scores: dict[str, list[float]] = {}
    now = timezone.now()
    for index, (case_id, key) in enumerate(cases):
        for sample in range(samples):
            passed = draw.random() < chance(index)
            transcript, calls, answer = _transcript(key, payload, passed)
            score = 1.0 if passed else 0.0
            scores.setdefault(key, []).append(score)
            rows.append(
                CaseResult(
                    run=run,
                    chunk=chunk,
                    case_id=case_id,
                    sample=sample,
                    status=ResultStatus.DONE,
                    output=answer,
                    episode_status="final",
                    transcript=transcript,
                    tool_calls=calls,
                    score=score,
                    passed=passed,
                    grade_details={"grader": "contains", "expected": "30 days", "note": payload},
                    input_tokens=draw.randint(300, 700),
                    output_tokens=draw.randint(40, 200),
                    cost_usd=0.0004,
                    latency_s=round(draw.uniform(0.5, 2.5), 3),
                    finished_at=now,
                )
            )
    CaseResult.objects.bulk_create(rows, batch_size=2000)
    Run.objects.filter(pk=run.pk).update(total_results=len(rows))
    return scores


def proposal_fixture(
    *,
    project: Project,
    actor: User,
    cases: int = 10,
    samples: int = 3,
    guard_cases: int = 6,
    payload: str = "",
    seed: int = 7,
) -> ProposalFixture:
    """A classified proposal with the runs and results behind it (see the module docstring).
    `payload` is written into every text a model or a case supplies: hypothesis, model
    answer, case keys, tags, inputs, outputs, transcripts, tool calls, grader details."""
    base = version_create(actor=actor, project=project, files=BASE_FILES, message="base")
    candidate_files = {
        **BASE_FILES,
        "harness.yaml": BASE_FILES["harness.yaml"].replace("temperature: 1.0", "temperature: 0.7"),
        "skills/refunds.md": f"# Refunds\n\n- Refunds within 30 days.\n- Ask for the order number. {payload}\n",
    }
    candidate = version_create(
        actor=None, project=project, files=candidate_files, message="candidate", parents=[base], move_head=False
    )
    suite = suite_create(
        actor=actor,
        project=project,
        slug=f"support-{seed}",
        name=f"Support {seed}",
        default_grader={"type": "contains"},
    )
    source = "\n".join(json.dumps(row) for row in _case_rows(cases, guard_cases, payload)).encode()
    version = suite_version_import(actor=actor, suite=suite, source=source, fmt="jsonl")
    backend = Backend.objects.create(
        project=project,
        name=f"m27-sim-{seed}",
        kind="simulator",
        family="minimax",
        base_url="http://127.0.0.1:9/v1",
        model="MiniMax-M2.7-sim",
        probe_results={"temperature": {"status": "accepted", "evidence": "outputs differ"}},
    )
    campaign = Campaign.objects.create(
        project=project,
        number=(Campaign.objects.filter(project=project).count() + 1),
        name="spring tuning",
        base_version=base,
        parent_version=base,
        suite_version=version,
        runner_backend=backend,
        proposer_backend=backend,
        samples=samples,
        budget_usd=Decimal("10"),
        budget_tokens=10_000_000,
        budget_wall_s=3600,
    )
    guidance = Guidance.objects.create(campaign=campaign, number=1, text=f"Focus on refunds. {payload}")
    by_split: dict[str, list[tuple[int, str]]] = {"dev": [], "holdout": []}
    for case_id, key, split in (
        EvalCase.objects.filter(version=version).order_by("key").values_list("pk", "key", "split")
    ):
        by_split[split].append((case_id, key))
    number = (Run.objects.filter(project=project).order_by("-number").values_list("number", flat=True).first()) or 0
    runs = [
        _run(project, number + 1, base, version, "dev", samples),
        _run(project, number + 2, candidate, version, "dev", samples),
        _run(project, number + 3, base, version, "holdout", samples),
        _run(project, number + 4, candidate, version, "holdout", samples),
    ]
    parent_run, candidate_run, parent_guard_run, guard_run = runs
    odds = random.Random(seed)
    chances = [odds.uniform(0.2, 0.9) for _ in range(max(cases, guard_cases))]

    def parent(i: int) -> float:
        return chances[i]

    def better(i: int) -> float:
        return min(1.0, chances[i] + 0.12)

    def worse(i: int) -> float:
        return max(0.0, chances[i] - 0.05)

    parent_scores = _results(parent_run, by_split["dev"], samples, parent, payload, seed)
    candidate_scores = _results(candidate_run, by_split["dev"], samples, better, payload, seed + 1)
    guard_parent = _results(parent_guard_run, by_split["holdout"], samples, parent, payload, seed + 2)
    guard_candidate = _results(guard_run, by_split["holdout"], samples, worse, payload, seed + 3)
    round_ = Round.objects.create(
        campaign=campaign,
        number=1,
        parent_version=base,
        guidance=guidance,
        status="done",
        parent_run=parent_run,
        parent_guard_run=parent_guard_run,
    )
    comparison = compare_paired(parent_scores, candidate_scores, seed=seed, resamples=200)
    guard = compare_paired(guard_parent, guard_candidate, seed=seed, resamples=200)
    guard_delta = guard.delta if guard else 0.0
    proposal = Proposal.objects.create(
        project=project,
        number=(Proposal.objects.filter(project=project).count() + 1),
        campaign=campaign,
        round=round_,
        kind=ProposerKind.REFLECT,
        stage=ProposalStage.CLASSIFIED,
        hypothesis=f"Add a refund-policy skill and cool the sampling. {payload}",
        model_text=f'```json\n{{"hypothesis": "refunds"}}\n```\n{payload}',
        guidance=guidance,
        base_version=base,
        candidate_version=candidate,
        touched_paths=["harness.yaml", "skills/refunds.md"],
        param_changes={"sampling.temperature": [1.0, 0.7]},
        diff_lines=6,
        candidate_run=candidate_run,
        guard_run=guard_run,
        stats={
            "comparison": comparison.as_dict() if comparison else None,
            "guard": guard.as_dict() if guard else None,
            "diverged": guard_delta <= 0,
            "critical_regressions": [],
            "cost_change_pct": 4.0,
            "latency_change_pct": 1.5,
        },
        outcome=Outcome.NEEDS_REVIEW,
        reasons=[
            {"code": "critical_path", "text": f"The change touches critical paths: skills/refunds.md. {payload}"},
            {
                "code": "holdout_diverged",
                "text": (
                    f"The selection split improved but the held-out guard did not (holdout delta {guard_delta:+.3f})."
                ),
            },
        ],
        classified_at=timezone.now(),
    )
    return ProposalFixture(
        project, proposal, campaign, base, candidate, version, parent_run, candidate_run, parent_guard_run, guard_run
    )


# ------------------------------------------------------------------ benchmark

PANELS = ("header", "scores", "diff", "evidence", "pair")
TARGET_MS = 150.0


class Output(Protocol):
    def write(self, text: str) -> Any: ...


@dataclass(frozen=True)
class Timing:
    name: str
    url: str
    htmx: bool
    median_ms: float
    p90_ms: float
    queries: int
    bytes: int


def _time(client: Client, name: str, url: str, htmx: bool, requests: int) -> Timing:
    headers = {"HX-Request": "true"} if htmx else {}
    for _ in range(2):  # warm caches: templates, the first query plans
        client.get(url, headers=headers)
    with CaptureQueriesContext(connection) as captured:
        response = client.get(url, headers=headers)
    assert response.status_code == 200, f"{url}: {response.status_code}"
    queries = len(captured)  # now: the next request clears the connection's query log
    elapsed = []
    for _ in range(requests):
        start = time.perf_counter()
        client.get(url, headers=headers)
        elapsed.append((time.perf_counter() - start) * 1000)
    elapsed.sort()
    return Timing(
        name,
        url,
        htmx,
        statistics.median(elapsed),
        elapsed[max(0, int(len(elapsed) * 0.9) - 1)],
        queries,
        len(response.content),
    )


def _measure(cases: int, samples: int, guard_cases: int, requests: int, out: Output) -> dict[str, Any]:
    from evolab.projects.models import Membership, Role

    started = time.perf_counter()
    actor = User.objects.create_user("bench-maintainer")
    project = Project.objects.create(slug="bench-proposal", name="Bench proposal")
    Membership.objects.create(project=project, user=actor, role=Role.MAINTAINER)
    fixture = proposal_fixture(
        project=project, actor=actor, cases=cases, samples=samples, guard_cases=guard_cases, seed=11
    )
    if connection.vendor == "postgresql":
        # Planner statistics, as autovacuum would have them by now; right after a bulk
        # load there are none. SQLite keeps none unless someone runs ANALYZE, and here
        # they would mislead it: with this bench's four runs making up the whole table,
        # it would scan by case instead of reading two runs from their covering index,
        # which a real database with many runs does not.
        with connection.cursor() as cursor:
            cursor.execute("ANALYZE")
    out.write(f"fixture: {cases:,} cases x {samples} samples per side in {time.perf_counter() - started:.1f} s\n")
    client = Client()
    client.force_login(actor)
    page = f"/p/{project.slug}/proposals/{fixture.proposal.number}/"
    case = (
        EvalCase.objects.filter(version=fixture.suite_version, split="dev")
        .order_by("key")
        .values_list("key", flat=True)[cases // 2]
    )
    targets: list[tuple[str, str, bool]] = [("page", page, False)]
    for panel in PANELS:
        query = f"?panel={panel}" + (f"&case={case}" if panel == "pair" else "")
        targets.append((panel, page + query, True))
    targets.append(("evidence, regressions, page 3", page + "?panel=evidence&regressions=1&page=3", True))
    targets.append(("diff, side by side", page + "?panel=diff&view=split", True))
    return {
        "cases": cases,
        "samples": samples,
        "guard_cases": guard_cases,
        "requests": requests,
        "results": [asdict(_time(client, name, url, htmx, requests)) for name, url, htmx in targets],
    }


def proposal_page_benchmark(
    *, cases: int = 5000, samples: int = 3, guard_cases: int = 500, requests: int = 20, out_dir: Path, out: Output
) -> dict[str, Any]:
    """Time the page in a fresh test database; print a table, write JSON under `out_dir`."""
    creation = connection.creation
    old_name = creation.create_test_db(verbosity=0, autoclobber=True, serialize=False)
    try:
        report = _measure(cases, samples, guard_cases, requests, out)
    finally:
        creation.destroy_test_db(old_name, verbosity=0)
    report["database"] = connection.vendor
    report["target_median_ms"] = TARGET_MS
    out.write(
        f"\nProposal page, {cases:,} cases x {samples} samples per side ({connection.vendor}), median of {requests}\n"
    )
    out.write(f"{'what':<32} {'median ms':>10} {'p90 ms':>8} {'queries':>8} {'KiB':>7}\n")
    for row in report["results"]:
        flag = "" if row["median_ms"] <= TARGET_MS else f"  over the {TARGET_MS:.0f} ms target"
        out.write(
            f"{row['name']:<32} {row['median_ms']:>10.1f} {row['p90_ms']:>8.1f} {row['queries']:>8} "
            f"{row['bytes'] / 1024:>7.0f}{flag}\n"
        )
    out_dir.mkdir(parents=True, exist_ok=True)
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    for name in (f"proposal-page-{stamp}.json", "proposal-page-latest.json"):
        (out_dir / name).write_text(json.dumps(report, indent=2) + "\n")
    out.write(f"written: {out_dir / f'proposal-page-{stamp}.json'} and proposal-page-latest.json\n")
    return report
