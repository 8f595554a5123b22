"""Every state change of the evolution app that people (or the API) ask for: campaigns
and their controls, guidance, the merge policy, human proposals, merges and memory.

The loop itself (`loop.py`) drives rounds; it calls back into `proposal_merge` and
`memory_record` here so a merge is the same action whoever makes it. People's review of
a proposal (votes, comments, a reviewed merge, a rejection) lives in `review.py`.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from contextlib import suppress
from dataclasses import asdict, dataclass
from datetime import timedelta
from decimal import Decimal
from typing import Any

from django.contrib.auth.models import User
from django.db import transaction
from django.db.models import Max
from django.utils import timezone

from evolab.core.actions import audit_record, event_emit
from evolab.core.errors import Conflict, ValidationFailed
from evolab.engine.protected_paths import validate_patterns
from evolab.evals.models import EvalCase, SuiteVersion
from evolab.evolution.models import (
    Campaign,
    CampaignStatus,
    Guidance,
    MemoryEntry,
    MemoryKind,
    PolicyVersion,
    Proposal,
    ProposalStage,
    ProposerKind,
)
from evolab.evolution.policy import PolicyRules
from evolab.harnesses.actions import head_move
from evolab.harnesses.head_log import head_fields
from evolab.harnesses.models import HarnessVersion
from evolab.leakage.actions import leakage_check
from evolab.leakage.models import Subject
from evolab.projects.models import Backend, Project

MEMORY_LIMIT = 60
MAX_COMMENT_CHARS = 2000
MAX_GUIDANCE_CHARS = 8000
MAX_CANDIDATES = 8
SPLITS = ("train", "dev", "holdout")


def _event(campaign: Campaign, type: str = "campaign.status") -> None:
    event_emit(project_id=campaign.project_id, type=type, object_type="campaign", object_id=campaign.pk)


# --- policy -------------------------------------------------------------------------


def policy_current(project: Project) -> tuple[PolicyRules, int]:
    """The project's policy and its version number (0: the default, which sends every
    merge to a person)."""
    latest = PolicyVersion.objects.filter(project=project).order_by("-number").first()
    if latest is None:
        return PolicyRules(), 0
    return PolicyRules.from_dict(latest.rules), latest.number


def policy_set(*, actor: User, project: Project, rules: Mapping[str, Any]) -> PolicyVersion:
    try:
        parsed = PolicyRules.from_dict(rules)
    except ValueError as error:
        raise ValidationFailed(str(error), field="rules") from None
    with transaction.atomic():
        Project.objects.select_for_update().filter(pk=project.pk).first()
        number = (PolicyVersion.objects.filter(project=project).aggregate(n=Max("number"))["n"] or 0) + 1
        version = PolicyVersion.objects.create(project=project, number=number, rules=parsed.to_dict(), author=actor)
        audit_record(
            actor=actor,
            project_id=project.pk,
            action="policy.set",
            object_type="policy",
            object_id=version.pk,
            object_label=f"policy v{number}",
            after=parsed.to_dict(),
        )
    return version


# --- campaigns ----------------------------------------------------------------------


@dataclass(frozen=True)
class CampaignSpec:
    name: str
    base_version: HarnessVersion
    suite_version: SuiteVersion
    runner_backend: Backend
    proposer_backend: Backend | None
    proposer: str = ProposerKind.REFLECT
    feedback_split: str = "train"
    selection_split: str = "dev"
    guard_split: str = "holdout"  # "" for no held-out guard
    candidates_per_round: int = 2
    samples: int = 2
    seed: int = 0
    budget_rounds: int = 5
    budget_usd: Decimal = Decimal("5")
    budget_tokens: int = 2_000_000
    budget_wall_s: int = 3600
    guidance: str = ""
    protected_paths: Sequence[str] = ()
    plateau_rounds: int = 3


def _check_campaign_spec(project: Project, spec: CampaignSpec) -> list[str]:
    if not spec.name.strip():
        raise ValidationFailed("Give the campaign a name.", field="name")
    if spec.base_version.project_id != project.pk:
        raise ValidationFailed("That harness version belongs to another project.", field="base_version")
    if spec.suite_version.suite.project_id != project.pk:
        raise ValidationFailed("That suite belongs to another project.", field="suite")
    for backend, field in ((spec.runner_backend, "runner_backend"), (spec.proposer_backend, "proposer_backend")):
        if backend is not None and backend.project_id != project.pk:
            raise ValidationFailed("That backend belongs to another project.", field=field)
    if spec.proposer not in (ProposerKind.REFLECT, ProposerKind.SWEEP):
        raise ValidationFailed("A campaign's proposer is reflect or sweep.", field="proposer")
    if spec.proposer == ProposerKind.REFLECT and spec.proposer_backend is None:
        raise ValidationFailed("The reflect proposer needs a proposer backend.", field="proposer_backend")
    splits = {"feedback_split": spec.feedback_split, "selection_split": spec.selection_split}
    for field, split in splits.items():
        if split not in SPLITS or split == "holdout":
            raise ValidationFailed("Feedback and selection use train or dev, never holdout.", field=field)
    if spec.guard_split not in ("", "holdout"):
        raise ValidationFailed("The guard is the holdout split, or none.", field="guard_split")
    present = set(EvalCase.objects.filter(version=spec.suite_version).values_list("split", flat=True).distinct())
    for field, split in {**splits, "guard_split": spec.guard_split}.items():
        if split and split not in present:
            raise ValidationFailed(f"This suite version has no case in the {split} split.", field=field)
    numbers = {
        "candidates_per_round": (spec.candidates_per_round, 1, MAX_CANDIDATES),
        "samples": (spec.samples, 1, 20),
        "budget_rounds": (spec.budget_rounds, 1, 1000),
        "budget_tokens": (spec.budget_tokens, 1, 10**12),
        "budget_wall_s": (spec.budget_wall_s, 60, 30 * 86400),
        "plateau_rounds": (spec.plateau_rounds, 1, 100),
    }
    for field, (value, low, high) in numbers.items():
        if not low <= value <= high:
            raise ValidationFailed(f"Must be between {low:,} and {high:,}.", field=field)
    if spec.budget_usd <= 0:
        raise ValidationFailed("The USD budget must be above zero.", field="budget_usd")
    _check_guidance(spec.guidance)
    try:
        return validate_patterns(spec.protected_paths)
    except ValueError as error:
        raise ValidationFailed(str(error), field="protected_paths") from None


def _check_guidance(text: str) -> None:
    if len(text) > MAX_GUIDANCE_CHARS:
        raise ValidationFailed(f"Keep the guidance under {MAX_GUIDANCE_CHARS:,} characters.", field="guidance")


def campaign_create(
    *, actor: User | None, project: Project, spec: CampaignSpec, estimate_usd: Decimal = Decimal(0)
) -> Campaign:
    """Create and start a campaign; its first step is enqueued once this commits."""
    protected = _check_campaign_spec(project, spec)
    now = timezone.now()
    with transaction.atomic():
        Project.objects.select_for_update().filter(pk=project.pk).first()
        number = (Campaign.objects.filter(project=project).aggregate(n=Max("number"))["n"] or 0) + 1
        campaign = Campaign.objects.create(
            project=project,
            number=number,
            name=spec.name.strip()[:120],
            base_version=spec.base_version,
            parent_version=spec.base_version,
            suite_version=spec.suite_version,
            feedback_split=spec.feedback_split,
            selection_split=spec.selection_split,
            guard_split=spec.guard_split,
            runner_backend=spec.runner_backend,
            proposer_backend=spec.proposer_backend,
            proposer=spec.proposer,
            candidates_per_round=spec.candidates_per_round,
            samples=spec.samples,
            seed=spec.seed,
            protected_paths=protected,
            plateau_rounds=spec.plateau_rounds,
            budget_rounds=spec.budget_rounds,
            budget_usd=spec.budget_usd,
            budget_tokens=spec.budget_tokens,
            budget_wall_s=spec.budget_wall_s,
            estimate_usd=estimate_usd,
            running_since=now,
            created_by=actor,
        )
        guidance_leakage_check(Guidance.objects.create(campaign=campaign, number=1, text=spec.guidance, author=actor))
        audit_record(
            actor=actor,
            project_id=project.pk,
            action="campaign.create",
            object_type="campaign",
            object_id=campaign.pk,
            object_label=f"campaign {number} · {campaign.name}",
            after={
                "base": spec.base_version.number,
                "suite_version": spec.suite_version.number,
                "proposer": spec.proposer,
                "budget": {
                    "rounds": spec.budget_rounds,
                    "usd": str(spec.budget_usd),
                    "tokens": spec.budget_tokens,
                    "wall_s": spec.budget_wall_s,
                },
                "protected_paths": protected,
            },
        )
        _event(campaign)
        step_enqueue(campaign.pk)
    return campaign


def step_enqueue(campaign_id: int, countdown: float = 0) -> None:
    """Send the campaign's next step after commit, and note when it is due, so the
    reconciler knows a message is on its way."""
    from evolab.evolution.tasks import campaign_step

    Campaign.objects.filter(pk=campaign_id).update(step_enqueued_at=timezone.now() + timedelta(seconds=countdown))
    transaction.on_commit(lambda: campaign_step.apply_async(args=[campaign_id], countdown=countdown or None))


def _bank_wall_time(campaign: Campaign) -> None:
    if campaign.running_since is not None:
        campaign.active_s += (timezone.now() - campaign.running_since).total_seconds()
        campaign.running_since = None


def _change_status(
    *, actor: User | None, campaign: Campaign, allowed: Sequence[str], status: str, reason: str, action: str
) -> Campaign:
    with transaction.atomic():
        campaign = Campaign.objects.select_for_update().get(pk=campaign.pk)
        if campaign.status not in allowed:
            raise Conflict(f"A {campaign.status} campaign cannot be {action}d.", field="status")
        if status == CampaignStatus.RUNNING:
            campaign.running_since = timezone.now()
            # A plateau is judged on the rounds after this (re)start.
            campaign.plateau_base_round = (
                campaign.rounds.order_by("-number").values_list("number", flat=True).first() or 0
            )
        else:
            _bank_wall_time(campaign)
        if status in (CampaignStatus.STOPPED, CampaignStatus.FINISHED, CampaignStatus.FAILED):
            campaign.finished_at = timezone.now()
        campaign.status = status
        campaign.status_reason = reason[:300]
        campaign.save(
            update_fields=["status", "status_reason", "active_s", "running_since", "finished_at", "plateau_base_round"]
        )
        audit_record(
            actor=actor,
            project_id=campaign.project_id,
            action=f"campaign.{action}",
            object_type="campaign",
            object_id=campaign.pk,
            object_label=f"campaign {campaign.number} · {campaign.name}",
            after={"status": status, "reason": campaign.status_reason},
        )
        _event(campaign)
        if status == CampaignStatus.RUNNING:
            step_enqueue(campaign.pk)
        else:
            _cancel_active_runs(campaign)
    return campaign


def _cancel_active_runs(campaign: Campaign) -> None:
    """Stop the campaign's runs from starting new results; a resumed campaign starts
    fresh runs, which the response cache answers for everything already done."""
    from evolab.evolution.budget import campaign_run_ids
    from evolab.runs.actions import run_cancel
    from evolab.runs.models import ACTIVE_RUN_STATUSES, Run

    for run in Run.objects.filter(pk__in=campaign_run_ids(campaign), status__in=ACTIVE_RUN_STATUSES):
        with suppress(Conflict):  # it finished meanwhile
            run_cancel(actor=None, run=run)


def campaign_pause(*, actor: User | None, campaign: Campaign, reason: str = "") -> Campaign:
    who = actor.get_username() if actor else "the loop"
    return _change_status(
        actor=actor,
        campaign=campaign,
        allowed=[CampaignStatus.RUNNING],
        status=CampaignStatus.PAUSED,
        reason=reason or f"paused by {who}",
        action="pause",
    )


def campaign_resume(*, actor: User, campaign: Campaign) -> Campaign:
    return _change_status(
        actor=actor,
        campaign=campaign,
        allowed=[CampaignStatus.PAUSED],
        status=CampaignStatus.RUNNING,
        reason="",
        action="resume",
    )


def campaign_stop(*, actor: User, campaign: Campaign) -> Campaign:
    return _change_status(
        actor=actor,
        campaign=campaign,
        allowed=[CampaignStatus.RUNNING, CampaignStatus.PAUSED],
        status=CampaignStatus.STOPPED,
        reason=f"stopped by {actor.get_username()}",
        action="stop",
    )


def campaign_end(*, campaign: Campaign, status: str, reason: str) -> Campaign:
    """The loop ends (or pauses) a running campaign and says why: a cap, its rounds, a
    plateau, a failure."""
    action = {"paused": "pause", "failed": "fail", "stopped": "stop"}.get(status, "finish")
    return _change_status(
        actor=None, campaign=campaign, allowed=[CampaignStatus.RUNNING], status=status, reason=reason, action=action
    )


def guidance_leakage_check(guidance: Guidance) -> None:
    """Flag guidance that quotes dev or holdout cases of its campaign's suite at length:
    the proposer reads it, so a quoted case would teach the loop its eval set."""
    if guidance.text.strip():
        campaign = guidance.campaign
        leakage_check(
            project=campaign.project,
            subject_type=Subject.GUIDANCE,
            subject_id=guidance.pk,
            texts=[guidance.text],
            suite_versions=[campaign.suite_version],
        )


def guidance_set(*, actor: User, campaign: Campaign, text: str) -> Guidance:
    """A new version of the research direction; the next proposer prompt uses it."""
    _check_guidance(text)
    with transaction.atomic():
        Campaign.objects.select_for_update().filter(pk=campaign.pk).first()
        latest = Guidance.objects.filter(campaign=campaign).order_by("-number").first()
        if latest is not None and latest.text == text:
            raise Conflict("The guidance is unchanged.", field="guidance")
        number = (latest.number if latest else 0) + 1
        guidance = Guidance.objects.create(campaign=campaign, number=number, text=text, author=actor)
        guidance_leakage_check(guidance)
        audit_record(
            actor=actor,
            project_id=campaign.project_id,
            action="campaign.guidance",
            object_type="campaign",
            object_id=campaign.pk,
            object_label=f"campaign {campaign.number} guidance v{number}",
            before=latest.text if latest else None,
            after=text,
        )
        _event(campaign)
    return guidance


# --- proposals ----------------------------------------------------------------------


def proposal_number_next(project: Project) -> int:
    """Call inside a transaction that holds the project's row lock."""
    return (Proposal.objects.filter(project=project).aggregate(n=Max("number"))["n"] or 0) + 1


def proposal_submit(*, actor: User, campaign: Campaign, files: Mapping[str, str], hypothesis: str) -> Proposal:
    """A maintainer's own candidate: the whole new file tree, evaluated in the campaign's
    next round against the parent it was written on, and classified by the same policy."""
    from evolab.engine.edits import FileEdit
    from evolab.harnesses.actions import check_harness_config
    from evolab.harnesses.tree import normalise_tree

    if campaign.status not in (CampaignStatus.RUNNING, CampaignStatus.PAUSED):
        raise Conflict("Only a running or paused campaign takes proposals.", field="status")
    if not hypothesis.strip():
        raise ValidationFailed("Say what the change should do and why.", field="hypothesis")
    tree = normalise_tree(files)
    check_harness_config(tree)
    base = campaign.parent_version
    if tree == base.files:
        raise ValidationFailed("Nothing changed.", field="files")
    edits = [
        FileEdit(path=path, search="", replace="", delete=True) for path in sorted(set(base.files) - set(tree))
    ] + [
        FileEdit(path=path, search=base.files.get(path, ""), replace=text)
        for path, text in sorted(tree.items())
        if base.files.get(path) != text
    ]
    with transaction.atomic():
        Project.objects.select_for_update().filter(pk=campaign.project_id).first()
        proposal = Proposal.objects.create(
            project_id=campaign.project_id,
            number=proposal_number_next(campaign.project),
            campaign=campaign,
            kind=ProposerKind.HUMAN,
            stage=ProposalStage.QUEUED,
            hypothesis=hypothesis.strip(),
            edits=[asdict(edit) for edit in edits],
            base_version=base,
            author=actor,
        )
        audit_record(
            actor=actor,
            project_id=campaign.project_id,
            action="proposal.submit",
            object_type="proposal",
            object_id=proposal.pk,
            object_label=f"proposal {proposal.number}",
        )
        _event(campaign, "proposal.status")
    return proposal


def proposal_merge(*, actor: User | None, proposal: Proposal, details: Mapping[str, Any] | None = None) -> None:
    """Move head from the proposal's base to its candidate by compare-and-swap; a head
    that moved meanwhile raises Conflict (field "head") and leaves everything as it was.
    `actor` None is a merge by policy; `details` go into the audit record.

    One audit event, `proposal.merge`, records the decision and the head move it made
    (`before`/`after`: the old and new head's number and digest); `head_move` writes none
    of its own (issue #11: one event per decision; `harnesses.head_log` reads them)."""
    if proposal.candidate_version is None:
        raise Conflict("This proposal made no version to merge.", field="proposal")
    with transaction.atomic():
        head_move(
            actor=actor,
            project=proposal.project,
            expected=proposal.base_version,
            new=proposal.candidate_version,
            audited_by_caller=True,
        )
        Proposal.objects.filter(pk=proposal.pk).update(merged_at=timezone.now(), merged_by=actor)
        Campaign.objects.filter(pk=proposal.campaign_id, parent_version=proposal.base_version).update(
            parent_version=proposal.candidate_version
        )
        audit_record(
            actor=actor,
            project_id=proposal.project_id,
            action="proposal.merge",
            object_type="proposal",
            object_id=proposal.pk,
            object_label=f"proposal {proposal.number} → v{proposal.candidate_version.number}",
            before=head_fields(proposal.base_version),
            after={**(details or {}), **head_fields(proposal.candidate_version)},
        )
        event_emit(
            project_id=proposal.project_id, type="proposal.status", object_type="proposal", object_id=proposal.pk
        )


def memory_record(
    *, campaign: Campaign, text: str, kind: str = MemoryKind.ATTEMPT, proposal: Proposal | None = None
) -> None:
    """Append to the campaign's memory and keep it bounded (oldest entries go first)."""
    MemoryEntry.objects.create(campaign=campaign, proposal=proposal, kind=kind, text=text[:1000])
    stale = MemoryEntry.objects.filter(campaign=campaign).order_by("-pk").values_list("pk", flat=True)[MEMORY_LIMIT:]
    MemoryEntry.objects.filter(pk__in=list(stale)).delete()
