"""`manage.py run_eval <project> --suite S …`: run an evaluation and gate on its score.

Creates the run, waits until it is no longer active (Celery workers do the work, or this
process with `--inline`), prints a table of scores per split, per tag and overall with
their 95% intervals, and exits 1 (CommandError) when the score is below `--fail-under`,
when errors exceed `--max-errors`, when the run did not complete (cancelled, stopped at
its cost cap, failed) or when `--timeout` passed; the message names every reason.
Cases with an open dispute (evals.discussion) are left out of the `--fail-under` gate,
as they are left out of proposal decisions; the table still shows every case.
"""

from __future__ import annotations

import time
from argparse import ArgumentParser
from dataclasses import replace
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Any

from django.contrib.auth import get_user_model
from django.contrib.auth.models import User
from django.core.exceptions import PermissionDenied
from django.core.management.base import BaseCommand, CommandError
from django.db.models import Q
from django.http import Http404
from django.utils import timezone

from evolab.core.errors import DomainError
from evolab.evals.discussion import disputed_keys
from evolab.evals.models import Split
from evolab.projects.models import Backend, Project, Role
from evolab.projects.selectors import backends_of, get_project_for
from evolab.runs import actions
from evolab.runs.actions import RunSpec
from evolab.runs.case_selectors import score_without
from evolab.runs.execution import execute_chunk
from evolab.runs.models import ACTIVE_RUN_STATUSES, ChunkStatus, Run, RunChunk, RunStatus
from evolab.runs.outputs import parse_outputs_jsonl, samples_for
from evolab.runs.selectors import (
    GroupScore,
    RunSummary,
    backend_named,
    harness_for,
    run_summary,
    score_breakdown,
    spec_estimate,
    suite_version_for,
)

POLL_S = 0.5


def parse_threshold(text: str) -> float:
    """ "0.7" or "70%" → 0.7. Scores are 0..1, so a bare number above 1 is refused."""
    raw = text.strip()
    try:
        value = float(raw[:-1]) / 100 if raw.endswith("%") else float(raw)
    except ValueError:
        raise CommandError(f"--fail-under takes a score like 0.7 or 70%, not {text!r}.") from None
    if not 0 <= value <= 1:
        raise CommandError(f"--fail-under must be between 0 and 1 (or 0% and 100%), not {text!r}.")
    return value


def _percent(value: float) -> str:
    return f"{value * 100:.1f}%"


def format_groups(groups: list[GroupScore]) -> list[str]:
    """The score table, one line per group; the interval is the 95% one over cases."""
    lines = [f"{'group':<28} {'cases':>5} {'scored':>6}  {'pass':>15}  95% interval"]
    for group in groups:
        name = group.name if group.group == "overall" else f"{group.group} {group.name}"
        estimate = group.score
        if estimate is None:
            lines.append(f"{name[:28]:<28} {group.cases:>5} {0:>6}  {'—':>15}  —")
            continue
        score = f"{_percent(estimate.mean)} ±{estimate.half_width * 100:.1f}"
        lines.append(
            f"{name[:28]:<28} {group.cases:>5} {estimate.n:>6}  {score:>15}  "
            f"[{_percent(estimate.low)}, {_percent(estimate.high)}]"
        )
    return lines


class Command(BaseCommand):
    help = "Run an evaluation of a harness version on a suite, wait for it, print scores, and gate on them."

    def add_arguments(self, parser: ArgumentParser) -> None:
        parser.add_argument("project", help="project slug")
        parser.add_argument("--suite", required=True, help="suite slug")
        parser.add_argument("--suite-version", type=int, help="suite version number (default: the latest)")
        parser.add_argument("--harness", default="head", help="'head' (default) or a harness version number")
        parser.add_argument(
            "--split", action="append", dest="splits", choices=Split.values, help="repeatable; default: dev"
        )
        parser.add_argument("--backend", help="backend name (default: the project's only backend)")
        parser.add_argument(
            "--samples", type=int, help="samples per case, k (default 1; with --outputs: from the file)"
        )
        parser.add_argument("--seed", type=int, default=0)
        parser.add_argument("--max-concurrency", type=int, help="requests in flight (default: the backend's)")
        parser.add_argument("--cost-cap", help="stop the run once it has spent this many USD")
        parser.add_argument("--no-cache", action="store_true", help="do not answer from the response cache")
        parser.add_argument("--fail-under", help="exit 1 when the overall score is below this (0.7 or 70%%)")
        parser.add_argument("--max-errors", type=int, default=0, help="exit 1 when more results errored (default 0)")
        parser.add_argument("--outputs", type=Path, help="JSONL of pre-recorded outputs to score instead of a backend")
        parser.add_argument("--timeout", type=float, help="give up (and cancel the run) after this many seconds")
        parser.add_argument("--as-user", help="username the run is started as (a maintainer or owner); default: system")
        parser.add_argument(
            "--inline", action="store_true", help="execute the chunks in this process: no worker needed"
        )

    def handle(self, *args: Any, **options: Any) -> None:
        fail_under = parse_threshold(options["fail_under"]) if options["fail_under"] is not None else None
        actor, project = self._project(options["project"], options["as_user"])
        try:
            spec = self._spec(project, options)
            estimate = spec_estimate(spec)
            run = actions.run_create(actor=actor, project=project, spec=spec, estimate_usd=estimate.usd)
        except DomainError as error:
            raise CommandError(f"{error.field + ': ' if error.field else ''}{error.message}") from None
        simulated = " [simulated]" if run.backend_simulated else ""
        self.stdout.write(
            f"Run {run.number} · harness v{spec.harness_version.number} · "
            f"{spec.suite_version.suite.slug}@v{spec.suite_version.number} · {', '.join(run.splits)} · "
            f'k={run.samples} · {run.total_results} results · backend "{run.backend_label}"{simulated}'
        )
        self.stdout.write(f"estimate ${estimate.usd} ({estimate.basis})")
        self._wait(run, actor, inline=options["inline"], timeout=options["timeout"])
        run.refresh_from_db()
        summary = run_summary(run)
        groups = score_breakdown(run)
        self._report(run, summary, groups)
        overall = groups[-1]
        # Disputed cases do not decide: the gate scores the run without them.
        disputed = disputed_keys(run.suite_version.suite_id)
        if disputed:
            score, excluded = score_without(run, disputed)
            if excluded:
                overall = replace(overall, cases=overall.cases - excluded, score=score)
                gated = f"{score.mean:.1%}" if score is not None else "—"
                self.stdout.write(f"{excluded} disputed case(s) left out of the gate: overall {gated}")
        failures = self._failures(run, summary, overall, fail_under, options["max_errors"])
        if failures:
            raise CommandError("FAILED: " + "; ".join(failures))
        self.stdout.write(self.style.SUCCESS("OK"))

    def _project(self, slug: str, username: str | None) -> tuple[User | None, Project]:
        if username is None:
            project = Project.objects.filter(slug=slug).first()
            if project is None:
                raise CommandError(f"No project '{slug}'.")
            return None, project
        user = get_user_model().objects.filter(username=username).first()
        if user is None:
            raise CommandError(f"No user '{username}'.")
        try:
            return user, get_project_for(user, slug, Role.MAINTAINER)  # type: ignore[arg-type]
        except Http404:
            raise CommandError(f"No project '{slug}' for user '{username}'.") from None
        except PermissionDenied:
            raise CommandError(
                f"'{username}' may not start runs in '{slug}': that needs the maintainer role."
            ) from None

    def _spec(self, project: Project, options: dict[str, Any]) -> RunSpec:
        outputs = None
        backend: Backend | None = None
        if options["outputs"] is not None:
            try:
                data = options["outputs"].read_bytes()
            except OSError as exc:
                raise CommandError(f"Cannot read {options['outputs']}: {exc.strerror}.") from None
            try:
                outputs = parse_outputs_jsonl(data)
            except DomainError as error:
                raise CommandError(f"{options['outputs']}: {error.message}") from None
        elif options["backend"]:
            backend = backend_named(project, options["backend"])
        else:
            backends = list(backends_of(project))
            if len(backends) != 1:
                names = ", ".join(b.name for b in backends) or "none"
                raise CommandError(f"Choose a backend with --backend (this project has: {names}).")
            backend = backends[0]
        cost_cap = None
        if options["cost_cap"] is not None:
            try:
                cost_cap = Decimal(options["cost_cap"])
            except InvalidOperation:
                raise CommandError(f"--cost-cap takes an amount in USD, not {options['cost_cap']!r}.") from None
        samples = samples_for(outputs, options["samples"]) if outputs is not None else options["samples"] or 1
        return RunSpec(
            harness_version=harness_for(project, options["harness"]),
            suite_version=suite_version_for(project, options["suite"], options["suite_version"]),
            splits=[split for split in Split.values if split in (options["splits"] or ["dev"])],
            backend=backend,
            samples=samples,
            seed=options["seed"],
            max_concurrency=options["max_concurrency"] or (backend.max_concurrency if backend else 8),
            cost_cap_usd=cost_cap,
            use_cache=not options["no_cache"],
            outputs=outputs,
        )

    def _wait(self, run: Run, actor: User | None, *, inline: bool, timeout: float | None) -> None:
        """Until the run is no longer active; with `inline`, executing its chunks here."""
        deadline = time.monotonic() + timeout if timeout else None
        while Run.objects.filter(pk=run.pk, status__in=ACTIVE_RUN_STATUSES).exists():
            if deadline is not None and time.monotonic() > deadline:
                actions.run_cancel(actor=actor, run=run)
                raise CommandError(f"FAILED: timed out after {timeout:g} s; run {run.number} was cancelled.")
            if inline and self._execute_ready_chunks(run):
                continue
            time.sleep(POLL_S)

    def _execute_ready_chunks(self, run: Run) -> bool:
        """Run every chunk that is free to claim; False when none was."""
        ready = Q(status=ChunkStatus.PENDING) | Q(status=ChunkStatus.LEASED, lease_expires_at__lt=timezone.now())
        chunk_ids = list(RunChunk.objects.filter(ready, run=run).values_list("pk", flat=True))
        for chunk_id in chunk_ids:
            try:
                execute_chunk(chunk_id)
            except Exception as exc:  # released as pending by execute_chunk; retried, then failed
                self.stderr.write(f"chunk {chunk_id}: {type(exc).__name__}: {exc}")
                time.sleep(POLL_S)
        return bool(chunk_ids)

    def _report(self, run: Run, summary: RunSummary, groups: list[GroupScore]) -> None:
        end = run.finished_at or timezone.now()
        wall = (end - (run.started_at or run.created_at)).total_seconds()
        reason = f" ({run.stop_reason})" if run.stop_reason else ""
        self.stdout.write(f"Run {run.number} {run.status}{reason}\n")
        for line in format_groups(groups):
            self.stdout.write(line)
        self.stdout.write(
            f"\nresults {summary.finished}/{summary.total} · errors {summary.errors} · "
            f"tokens {summary.input_tokens:,} in / {summary.output_tokens:,} out · "
            f"spend ${summary.spend_usd:.4f} · wall time {wall:.1f} s"
        )

    def _failures(
        self, run: Run, summary: RunSummary, overall: GroupScore, fail_under: float | None, max_errors: int
    ) -> list[str]:
        failures = []
        if run.status != RunStatus.COMPLETED:
            failures.append(f"the run ended {run.status}" + (f" ({run.stop_reason})" if run.stop_reason else ""))
        if summary.errors > max_errors:
            failures.append(f"{summary.errors} results errored (--max-errors {max_errors})")
        if fail_under is not None:
            if overall.score is None:
                if fail_under > 0:
                    failures.append("no result was scored")
            elif overall.score.mean < fail_under:
                failures.append(f"score {overall.score.mean:.3f} is below --fail-under {fail_under:.3f}")
        return failures
