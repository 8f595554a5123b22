"""`manage.py run_campaign <project> --suite S …`: start an evolution campaign.

Prints the cost estimate (an upper bound) and starts the campaign. With `--wait` it
follows the campaign, printing each proposal as it is classified (outcome, delta and
interval on the selection split) and a summary at the end: the status and its reason,
and the selection score of the base version against the final parent. It exits 0 when
the campaign finished or stopped at a budget cap, 1 (CommandError) when it failed, was
paused (a plateau) or stopped by a person. `--inline` runs the loop's steps and the
runs' chunks in this process, so CI needs no worker.
"""

from __future__ import annotations

import time
from argparse import ArgumentParser
from decimal import Decimal, InvalidOperation
from typing import Any

from django.core.management.base import BaseCommand, CommandError

from evolab.core.errors import DomainError
from evolab.evolution import actions, loop
from evolab.evolution.actions import CampaignSpec
from evolab.evolution.estimates import campaign_estimate
from evolab.evolution.models import Campaign, CampaignStatus, Proposal, ProposalStage, ProposerKind
from evolab.evolution.selectors import campaign_row, campaign_timeline, points_text
from evolab.projects.models import Project
from evolab.projects.selectors import backends_of
from evolab.runs.models import ACTIVE_RUN_STATUSES, ChunkStatus, RunChunk
from evolab.runs.selectors import backend_named, harness_for, suite_version_for
from evolab.runs.tasks import run_chunk

POLL_S = 1.0


class Command(BaseCommand):
    help = "Start an evolution campaign; optionally follow it to its end (and drive it in-process with --inline)."

    def add_arguments(self, parser: ArgumentParser) -> None:
        parser.add_argument("project", help="project slug")
        parser.add_argument("--suite", required=True, help="suite slug")
        parser.add_argument("--suite-version", type=int, help="suite version number (default: the latest)")
        parser.add_argument("--base", default="head", help="'head' (default) or a harness version number")
        parser.add_argument("--name", help="campaign name (default: '<suite> from v<base>')")
        parser.add_argument("--runner", help="runner backend name (default: the project's only backend)")
        parser.add_argument("--proposer-backend", help="proposer backend name (default: the runner)")
        parser.add_argument("--proposer", choices=["reflect", "sweep"], default="reflect")
        parser.add_argument("--no-guard", action="store_true", help="do not score gains on the holdout split")
        parser.add_argument("--rounds", type=int, default=5)
        parser.add_argument("--candidates", type=int, default=2, help="candidates per round")
        parser.add_argument("--samples", type=int, default=2, help="samples per case, k")
        parser.add_argument("--budget-usd", default="5", help="USD cap")
        parser.add_argument("--budget-tokens", type=int, default=2_000_000)
        parser.add_argument("--budget-minutes", type=int, default=60, help="wall-time cap in minutes")
        parser.add_argument("--plateau-rounds", type=int, default=3)
        parser.add_argument("--guidance", default="", help="research direction for the proposer")
        parser.add_argument("--protect", action="append", default=[], help="protected path pattern (repeatable)")
        parser.add_argument("--seed", type=int, default=0)
        parser.add_argument("--wait", action="store_true", help="follow the campaign to its end")
        parser.add_argument("--inline", action="store_true", help="drive the loop in this process (implies --wait)")

    def handle(self, *args: Any, **options: Any) -> None:
        project = Project.objects.filter(slug=options["project"]).first()
        if project is None:
            raise CommandError(f"No project '{options['project']}'.")
        try:
            spec = self._spec(project, options)
            estimate = campaign_estimate(spec)
            campaign = actions.campaign_create(actor=None, project=project, spec=spec, estimate_usd=estimate.usd)
        except DomainError as error:
            raise CommandError(f"{error.field + ': ' if error.field else ''}{error.message}") from None
        runner = spec.runner_backend
        simulated = " [simulated]" if runner.is_simulated else ""
        self.stdout.write(
            f"Campaign {campaign.number} · {campaign.name} · base v{spec.base_version.number} · "
            f"{spec.suite_version.suite.slug}@v{spec.suite_version.number} · proposer {spec.proposer} · "
            f'runner "{runner.name}"{simulated} · {spec.budget_rounds} rounds of {spec.candidates_per_round} candidates'
        )
        self.stdout.write(f"estimate: up to ${estimate.usd} ({estimate.tokens:,} tokens) — {estimate.basis}")
        if not (options["wait"] or options["inline"]):
            return
        self._follow(campaign, inline=options["inline"])
        self._summary(campaign)

    def _spec(self, project: Project, options: dict[str, Any]) -> CampaignSpec:
        if options["runner"]:
            runner = backend_named(project, options["runner"])
        else:
            backends = list(backends_of(project))
            if len(backends) != 1:
                names = ", ".join(b.name for b in backends) or "none"
                raise CommandError(f"Choose a runner backend with --runner (this project has: {names}).")
            runner = backends[0]
        named = options["proposer_backend"]
        proposer_backend = backend_named(project, named) if named else runner
        try:
            budget_usd = Decimal(options["budget_usd"])
        except InvalidOperation:
            raise CommandError(f"--budget-usd takes an amount in USD, not {options['budget_usd']!r}.") from None
        base = harness_for(project, options["base"])
        suite_version = suite_version_for(project, options["suite"], options["suite_version"])
        return CampaignSpec(
            name=options["name"] or f"{suite_version.suite.slug} from v{base.number}",
            base_version=base,
            suite_version=suite_version,
            runner_backend=runner,
            proposer_backend=proposer_backend if options["proposer"] == ProposerKind.REFLECT else None,
            proposer=options["proposer"],
            guard_split="" if options["no_guard"] else "holdout",
            candidates_per_round=options["candidates"],
            samples=options["samples"],
            seed=options["seed"],
            budget_rounds=options["rounds"],
            budget_usd=budget_usd,
            budget_tokens=options["budget_tokens"],
            budget_wall_s=options["budget_minutes"] * 60,
            guidance=options["guidance"],
            protected_paths=options["protect"],
            plateau_rounds=options["plateau_rounds"],
        )

    def _follow(self, campaign: Campaign, *, inline: bool) -> None:
        """Until the campaign stops running, printing proposals as they are classified."""
        printed: set[int] = set()
        while True:
            campaign.refresh_from_db()
            self._print_classified(campaign, printed)
            if campaign.status != CampaignStatus.RUNNING:
                return
            if inline:
                self._step(campaign)
            else:
                time.sleep(POLL_S)

    def _step(self, campaign: Campaign) -> None:
        """What the workers do: run every pending chunk, then the campaign's next step."""
        chunks = RunChunk.objects.filter(status=ChunkStatus.PENDING, run__status__in=ACTIVE_RUN_STATUSES)
        for chunk_id in list(chunks.values_list("pk", flat=True)):
            try:
                run_chunk(chunk_id)
            except Exception as exc:  # released as pending by the chunk; retried, then failed
                self.stderr.write(f"chunk {chunk_id}: {type(exc).__name__}: {exc}")
        try:
            loop.campaign_step(campaign.pk)
        except Exception as exc:  # the step marks the campaign failed; the summary says why
            self.stderr.write(f"step: {type(exc).__name__}: {exc}")

    def _print_classified(self, campaign: Campaign, printed: set[int]) -> None:
        fresh = (
            Proposal.objects.filter(campaign=campaign, stage=ProposalStage.CLASSIFIED)
            .exclude(pk__in=printed)
            .select_related("round")
            .order_by("number")
        )
        for proposal in fresh:
            printed.add(proposal.pk)
            round_number = proposal.round.number if proposal.round else "—"
            delta = points_text(proposal.stats.get("comparison"))
            first = proposal.reasons[0]["text"] if proposal.reasons else ""
            self.stdout.write(
                f"  round {round_number} · #{proposal.number} {proposal.kind} · {proposal.get_outcome_display()} · "
                f"Δ {delta} · {(proposal.hypothesis or proposal.apply_error)[:80]!r}"
                + (f"\n      {first}" if first else "")
            )

    def _summary(self, campaign: Campaign) -> None:
        campaign = Campaign.objects.select_related("base_version", "parent_version").get(pk=campaign.pk)
        row = campaign_row(campaign)
        rounds = campaign_timeline(campaign).rounds
        base_score = rounds[-1].parent_score if rounds else None
        last_score = next((r.parent_score for r in rounds if r.parent_score is not None), None)
        merged = Proposal.objects.filter(campaign=campaign, merged_at__isnull=False).count()

        def score(estimate: Any) -> str:
            return f"{estimate.mean * 100:.1f}% ±{estimate.half_width * 100:.1f}" if estimate else "—"

        self.stdout.write(f"\nCampaign {campaign.number} {campaign.status}: {campaign.status_reason}")
        self.stdout.write(
            f"{campaign.selection_split} score: base v{campaign.base_version.number} {score(base_score)} → "
            f"parent v{campaign.parent_version.number} {score(last_score)} (last evaluated) · {merged} merged"
        )
        self.stdout.write(
            f"rounds {row.spend.rounds_done}/{campaign.budget_rounds} · spend ${row.spend.usd:.4f} of "
            f"${campaign.budget_usd:.2f} · tokens {row.spend.tokens:,} · wall {row.spend.wall_s:.0f} s"
        )
        ok = campaign.status == CampaignStatus.FINISHED or (
            campaign.status == CampaignStatus.STOPPED and "cap" in campaign.status_reason
        )
        if not ok:
            raise CommandError(f"FAILED: the campaign ended {campaign.status} ({campaign.status_reason})")
        self.stdout.write(self.style.SUCCESS("OK"))
