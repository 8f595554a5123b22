"""The evolution loop, one short step at a time.

A step holds the campaign's lease (a conditional UPDATE, like a run chunk's), reads where
the campaign is, does one bounded thing — start a round, ask the proposer for one
candidate, start or check one run, classify one proposal, settle a round — and enqueues
the next step after commit. A step repeated after a crash finds its work recorded and
moves on: proposals are unique per (round, index), runs are linked from the row that
waits for them, and proposer answers come back from the response cache.

Budget: before any step that could send a model request the spend is derived again from
rows; once a cap is reached the campaign stops and says which cap. The runs a campaign
starts carry what is left of the budget as their own caps, so the stop holds inside a
run too.
"""

from __future__ import annotations

import hashlib
import json
import logging
import uuid
from dataclasses import asdict, replace
from datetime import timedelta
from typing import Any

from django.conf import settings
from django.db import DatabaseError, IntegrityError, transaction
from django.db.models import Q
from django.utils import timezone

from evolab.backends.errors import BackendError
from evolab.core.actions import audit_record, event_emit
from evolab.core.errors import Conflict, DomainError
from evolab.engine.comparison import compare_paired
from evolab.engine.edits import (
    EditError,
    ProposalDraft,
    ProposalError,
    apply_edits,
    normalised_diff_key,
    param_changes,
    parse_proposal,
)
from evolab.engine.harness_config import HARNESS_YAML
from evolab.engine.protected_paths import check_proposal_paths
from evolab.evals.discussion import disputed_keys
from evolab.evals.models import EvalCase, EvalCaseTag, Split
from evolab.evolution import actions
from evolab.evolution.assignment import assign_reviewer
from evolab.evolution.budget import Spend, campaign_spend, cap_reached, caps_for_next_run, warnings_due
from evolab.evolution.models import (
    Campaign,
    CampaignStatus,
    Comment,
    CommentAnchor,
    Guidance,
    Outcome,
    Proposal,
    ProposalStage,
    ProposerKind,
    Resolution,
    Round,
    RoundStatus,
)
from evolab.evolution.policy import ProposalFacts, classify
from evolab.evolution.prompts import ReviewToAnswer
from evolab.evolution.proposers import Answer, reflect_answer, reflect_request, sweep_draft
from evolab.harnesses.actions import version_create
from evolab.harnesses.models import HarnessVersion
from evolab.leakage.actions import proposal_check
from evolab.runs.actions import RunSpec, run_create
from evolab.runs.models import CaseResult, ResultStatus, Run, RunStatus

logger = logging.getLogger(__name__)

# Below this many fresh (uncached) results on a side, latency is not compared.
MIN_LATENCY_SAMPLES = 5


def _poll_s() -> float:
    return float(getattr(settings, "EVOLAB_CAMPAIGN_POLL_S", 1.0))


def _requeue_after() -> timedelta:
    """How long a step message may be due before the reconciler sends another (the file
    broker drops a message its worker had fetched when that worker is killed)."""
    return timedelta(seconds=float(getattr(settings, "EVOLAB_CAMPAIGN_REQUEUE_S", 30)))


def _lease() -> timedelta:
    return timedelta(seconds=float(getattr(settings, "EVOLAB_CAMPAIGN_STEP_LEASE_S", 180)))


# --- the lease ----------------------------------------------------------------------


def step_claim(campaign_id: int) -> str | None:
    now = timezone.now()
    token = uuid.uuid4().hex
    taken = (
        Campaign.objects.filter(pk=campaign_id, status=CampaignStatus.RUNNING)
        .filter(Q(step_expires_at__isnull=True) | Q(step_expires_at__lt=now))
        .update(step_token=token, step_expires_at=now + _lease(), step_enqueued_at=None)
    )
    return token if taken else None


def step_release(campaign_id: int, token: str, next_in: float | None) -> None:
    with transaction.atomic():
        released = Campaign.objects.filter(pk=campaign_id, step_token=token).update(step_token="", step_expires_at=None)
        running = Campaign.objects.filter(pk=campaign_id, status=CampaignStatus.RUNNING).exists()
        if released and running and next_in is not None:
            actions.step_enqueue(campaign_id, next_in)


def campaign_step(campaign_id: int) -> None:
    """Do the campaign's next bounded piece of work, if nobody else is doing it."""
    token = step_claim(campaign_id)
    if token is None:
        return
    next_in: float | None = None
    try:
        next_in = advance(campaign_id)
    except DatabaseError:
        logger.exception("campaign %s: step failed on the database; the reconciler retries it", campaign_id)
        raise
    except Exception as error:
        logger.exception("campaign %s: step failed", campaign_id)
        campaign = Campaign.objects.get(pk=campaign_id)
        if campaign.status == CampaignStatus.RUNNING:
            actions.campaign_end(campaign=campaign, status=CampaignStatus.FAILED, reason=f"internal error: {error}")
        raise
    finally:
        step_release(campaign_id, token, next_in)


def campaigns_reconcile() -> int:
    """Enqueue a step for each running campaign nobody is working on and no message is
    due for (its worker died, or the broker dropped the message)."""
    now = timezone.now()
    ids = list(
        Campaign.objects.filter(status=CampaignStatus.RUNNING)
        .filter(Q(step_expires_at__isnull=True) | Q(step_expires_at__lt=now))
        .filter(Q(step_enqueued_at__isnull=True) | Q(step_enqueued_at__lt=now - _requeue_after()))
        .values_list("pk", flat=True)
    )
    for campaign_id in ids:
        with transaction.atomic():
            actions.step_enqueue(campaign_id)
    return len(ids)


# --- one step -----------------------------------------------------------------------


def advance(campaign_id: int) -> float | None:
    """One bounded piece of work; returns the delay before the next step, or None when
    the campaign needs no more steps (it ended or paused)."""
    campaign = Campaign.objects.select_related(
        "project", "runner_backend", "proposer_backend", "parent_version", "suite_version"
    ).get(pk=campaign_id)
    if campaign.status != CampaignStatus.RUNNING:
        return None
    spend = campaign_spend(campaign)
    _give_warnings(campaign, spend)
    reason = cap_reached(campaign, spend)
    if reason:
        actions.campaign_end(campaign=campaign, status=CampaignStatus.STOPPED, reason=f"Stopped: {reason}.")
        return None
    current = Round.objects.filter(campaign=campaign).select_related("parent_version").order_by("-number").first()
    if current is None or current.status in (RoundStatus.DONE, RoundStatus.FAILED):
        return _between_rounds(campaign, spend, current)
    if current.status == RoundStatus.PARENT:
        return _evaluate_parent(campaign, current, spend)
    if current.status == RoundStatus.PROPOSING:
        return _propose(campaign, current)
    return _evaluate_candidates(campaign, current, spend)


def _give_warnings(campaign: Campaign, spend: Spend) -> None:
    due = warnings_due(campaign, spend)
    if not due:
        return
    with transaction.atomic():
        campaign.warnings = [*campaign.warnings, *due]
        Campaign.objects.filter(pk=campaign.pk).update(warnings=campaign.warnings)
        audit_record(
            actor=None,
            project_id=campaign.project_id,
            action="campaign.budget_warning",
            object_type="campaign",
            object_id=campaign.pk,
            object_label=f"campaign {campaign.number}: {', '.join(due)} of budget used",
            after={"warnings": due, "usd": spend.usd, "tokens": spend.tokens, "wall_s": round(spend.wall_s)},
        )
        event_emit(
            project_id=campaign.project_id, type="campaign.status", object_type="campaign", object_id=campaign.pk
        )


def _plateau(campaign: Campaign) -> str:
    window = campaign.plateau_rounds
    rounds = list(
        Round.objects.filter(campaign=campaign, status=RoundStatus.DONE, number__gt=campaign.plateau_base_round)
        .order_by("-number")
        .values_list("pk", flat=True)[:window]
    )
    if len(rounds) < window:
        return ""
    if Proposal.objects.filter(round_id__in=rounds, merged_at__isnull=False).exists():
        return ""
    return f"Paused on a plateau: no accepted gain in the last {window} rounds. Edit the guidance, then resume."


def _between_rounds(campaign: Campaign, spend: Spend, last: Round | None) -> float | None:
    if spend.rounds_done >= campaign.budget_rounds:
        actions.campaign_end(
            campaign=campaign, status=CampaignStatus.FINISHED, reason=f"All {campaign.budget_rounds} rounds done."
        )
        return None
    plateau = _plateau(campaign)
    if plateau:
        actions.campaign_end(campaign=campaign, status=CampaignStatus.PAUSED, reason=plateau)
        return None
    with transaction.atomic():
        Campaign.objects.select_for_update().filter(pk=campaign.pk).first()
        guidance = Guidance.objects.filter(campaign=campaign).order_by("-number").first()
        current = Round.objects.create(
            campaign=campaign,
            number=(last.number if last else 0) + 1,
            parent_version=campaign.parent_version,
            guidance=guidance,
        )
        current.parent_run = _start_run(campaign, current.parent_version, _parent_splits(campaign), spend)
        current.save(update_fields=["parent_run"])
        _round_event(campaign)
    return 0


def _parent_splits(campaign: Campaign) -> list[str]:
    return list(dict.fromkeys([campaign.feedback_split, campaign.selection_split]))


def _round_event(campaign: Campaign) -> None:
    event_emit(project_id=campaign.project_id, type="campaign.round", object_type="campaign", object_id=campaign.pk)


def _start_run(campaign: Campaign, version: Any, splits: list[str], spend: Spend) -> Run:
    caps = caps_for_next_run(campaign, spend)
    spec = RunSpec(
        harness_version=version,
        suite_version=campaign.suite_version,
        splits=splits,
        backend=campaign.runner_backend,
        samples=campaign.samples,
        seed=campaign.seed,  # the same seed everywhere: unchanged requests hit the cache
        max_concurrency=campaign.runner_backend.max_concurrency,
        cost_cap_usd=caps.cost_cap_usd,
        token_cap=caps.token_cap,
        deadline_at=caps.deadline_at,
        use_cache=True,
    )
    return run_create(actor=None, project=campaign.project, spec=spec)


WAIT, DONE, FAILED, HALTED = "wait", "done", "failed", "halted"


def _follow_run(campaign: Campaign, run: Run | None) -> str:
    """Where a run the loop waits for stands. A run that stopped at a cap stops the
    campaign; one cancelled (by a pause, or by hand) or past a deadline while the
    campaign still has time is replaced by the caller (None means: start one)."""
    if run is None:
        return "start"
    run.refresh_from_db(fields=["status", "stop_reason"])
    if run.is_active:
        return WAIT
    if run.status == RunStatus.COMPLETED:
        return DONE
    if run.status == RunStatus.FAILED:
        return FAILED
    if run.status == RunStatus.STOPPED and ("cost cap" in run.stop_reason or "token cap" in run.stop_reason):
        cap = "USD" if "cost cap" in run.stop_reason else "token"
        spend = campaign_spend(campaign)
        reason = cap_reached(campaign, spend) or f"the {cap} cap was reached inside run {run.number}"
        actions.campaign_end(campaign=campaign, status=CampaignStatus.STOPPED, reason=f"Stopped: {reason}.")
        return HALTED
    return "start"


def _evaluate_parent(campaign: Campaign, current: Round, spend: Spend) -> float | None:
    state = _follow_run(campaign, current.parent_run)
    if state == WAIT:
        return _poll_s()
    if state == HALTED:
        return None
    if state == "start":
        with transaction.atomic():
            current.parent_run = _start_run(campaign, current.parent_version, _parent_splits(campaign), spend)
            current.save(update_fields=["parent_run"])
        return 0
    if state == FAILED:
        assert current.parent_run is not None
        _round_fail(current, f"the parent's evaluation (run {current.parent_run.number}) failed")
        actions.campaign_end(
            campaign=campaign,
            status=CampaignStatus.FAILED,
            reason=f"Round {current.number}: the parent's evaluation failed: {current.parent_run.stop_reason}",
        )
        return None
    Round.objects.filter(pk=current.pk).update(status=RoundStatus.PROPOSING)
    _round_event(campaign)
    return 0


def _round_fail(current: Round, reason: str) -> None:
    Round.objects.filter(pk=current.pk).update(
        status=RoundStatus.FAILED, status_reason=reason[:300], finished_at=timezone.now()
    )


# --- proposing ----------------------------------------------------------------------


def _propose(campaign: Campaign, current: Round) -> float | None:
    _take_human_proposals(campaign, current)
    if _answer_revision_request(campaign, current):
        return 0
    # The proposer's slots come first; queued proposals (people's, and revisions of any
    # kind) take the slots after them.
    made = Proposal.objects.filter(round=current, index__lt=campaign.candidates_per_round).count()
    if made >= campaign.candidates_per_round:
        Round.objects.filter(pk=current.pk).update(status=RoundStatus.CANDIDATES)
        _round_event(campaign)
        return 0
    guidance = Guidance.objects.filter(campaign=campaign).order_by("-number").first()
    answer = Answer(text="", cost_usd=0.0, tokens=0, cache_key="")
    try:
        if campaign.proposer == ProposerKind.SWEEP:
            sweep = sweep_draft(campaign, current, made)
            draft: ProposalDraft | str = (
                sweep if sweep is not None else "the sweep grid is exhausted: every value was tried"
            )
            answer = replace(answer, text=json.dumps(asdict(sweep)) if sweep is not None else "")
        else:
            request = reflect_request(campaign, current, made, guidance.text if guidance else "")
            answer = reflect_answer(campaign, request)
            draft = _parse(answer.text)
    except BackendError as error:
        draft = f"the proposer request failed: {error}"
    _record_proposal(campaign, current, made, ProposerKind(campaign.proposer), draft, answer, guidance)
    return 0


def _revision_requests(campaign: Campaign) -> Any:
    """Revisions reviewers asked the proposer model for: queued, still without an answer
    (an empty hypothesis; every proposal the model answered has one)."""
    return Proposal.objects.filter(
        campaign=campaign, round__isnull=True, stage=ProposalStage.QUEUED, kind=ProposerKind.REFLECT, hypothesis=""
    )


def _answer_revision_request(campaign: Campaign, current: Round) -> bool:
    """Ask the proposer to revise one proposal people requested changes on; the answer
    joins this round after the model's own slots, applied to the proposal's base."""
    pending = (
        _revision_requests(campaign)
        .select_related("base_version", "revision_of__base_version", "revision_of__candidate_version")
        .order_by("number")
        .first()
    )
    if pending is None or pending.revision_of is None or campaign.proposer_backend is None:
        return False
    old = pending.revision_of
    sealed = EvalCase.objects.filter(version=campaign.suite_version, split=Split.HOLDOUT).values("key")
    comments = (
        Comment.objects.filter(proposal=old)
        .exclude(resolution=Resolution.DROPPED)
        # A note on a held-out case would tell the proposer about the guard.
        .exclude(anchor=CommentAnchor.CASE, case_key__in=sealed)
        .order_by("pk")
    )
    review = ReviewToAnswer(
        number=old.number,
        hypothesis=old.hypothesis,
        diff=_unified(old.base_version.files, old.candidate_version.files if old.candidate_version else {}),
        comments=[comment.text for comment in comments],
    )
    guidance = Guidance.objects.filter(campaign=campaign).order_by("-number").first()
    answer = Answer(text="", cost_usd=0.0, tokens=0, cache_key="")
    try:
        request = reflect_request(
            campaign,
            current,
            campaign.candidates_per_round + pending.number,  # a seed of its own
            guidance.text if guidance else "",
            files=pending.base_version.files,
            review=review,
        )
        answer = reflect_answer(campaign, request)
        draft = _parse(answer.text)
    except BackendError as error:
        draft = f"the proposer request failed: {error}"
    with transaction.atomic():
        proposal = _revision_requests(campaign).select_for_update().filter(pk=pending.pk).first()
        if proposal is None:
            return True  # answered by another step meanwhile
        proposal.round = current
        proposal.index = _next_extra_slot(campaign, current)
        proposal.guidance = guidance
        proposal.model_text = answer.text
        proposal.answer_key = answer.cache_key
        proposal.proposer_cost_usd = answer.cost_usd
        proposal.proposer_tokens = answer.tokens
        if isinstance(draft, str):
            proposal.apply_error = draft
            proposal.hypothesis = f"(revision of proposal #{old.number}: no usable answer)"
            proposal.stage = ProposalStage.EVALUATING
            proposal.save()
        else:
            _materialise(campaign, pending.base_version, proposal, draft, check_protected=True)
        event_emit(
            project_id=campaign.project_id, type="proposal.status", object_type="proposal", object_id=proposal.pk
        )
    return True


def _next_extra_slot(campaign: Campaign, current: Round) -> int:
    """The next slot after the proposer's own in this round (queued proposals, revisions)."""
    taken = Proposal.objects.filter(round=current, index__gte=campaign.candidates_per_round).count()
    return campaign.candidates_per_round + taken


def _unified(old: dict[str, str], new: dict[str, str]) -> str:
    from evolab.harnesses.tree import diff_trees

    return "".join(file.unified for file in diff_trees(old, new).files)


def _parse(text: str) -> ProposalDraft | str:
    try:
        return parse_proposal(text)
    except ProposalError as error:
        return f"unparseable answer: {error}"


def _take_human_proposals(campaign: Campaign, current: Round) -> None:
    """Proposals queued since the last round (people's, and revisions) join this one,
    after the model's. Each is applied to its own base: a rebased revision's base is the
    head it was rebased onto, which need not be the round's parent."""
    with transaction.atomic():
        queued = list(
            Proposal.objects.select_for_update()
            .filter(campaign=campaign, round__isnull=True, stage=ProposalStage.QUEUED)
            .exclude(pk__in=_revision_requests(campaign).values("pk"))
            .order_by("number")
        )
        if not queued:
            return
        taken = Proposal.objects.filter(round=current, index__gte=campaign.candidates_per_round).count()
        for offset, proposal in enumerate(queued):
            proposal.round = current
            proposal.index = campaign.candidates_per_round + taken + offset
            proposal.guidance = current.guidance
            draft = ProposalDraft(hypothesis=proposal.hypothesis, edits=_edits_of(proposal), params={})
            _materialise(campaign, proposal.base_version, proposal, draft, check_protected=False)


def _edits_of(proposal: Proposal) -> tuple[Any, ...]:
    from evolab.engine.edits import FileEdit

    return tuple(FileEdit(**edit) for edit in proposal.edits)


def _record_proposal(
    campaign: Campaign,
    current: Round,
    index: int,
    kind: ProposerKind,
    draft: ProposalDraft | str,
    answer: Answer,
    guidance: Guidance | None,
) -> None:
    try:
        with transaction.atomic():
            from evolab.projects.models import Project

            Project.objects.select_for_update().filter(pk=campaign.project_id).first()
            proposal = Proposal(
                project_id=campaign.project_id,
                number=actions.proposal_number_next(campaign.project),
                campaign=campaign,
                round=current,
                index=index,
                kind=kind,
                model_text=answer.text,
                answer_key=answer.cache_key,
                guidance=guidance,
                base_version=current.parent_version,
                proposer_cost_usd=answer.cost_usd,
                proposer_tokens=answer.tokens,
            )
            if isinstance(draft, str):
                proposal.apply_error = draft
                proposal.hypothesis = ""
                proposal.save()
            else:
                _materialise(campaign, current.parent_version, proposal, draft, check_protected=True)
            event_emit(
                project_id=campaign.project_id, type="proposal.status", object_type="proposal", object_id=proposal.pk
            )
    except IntegrityError:
        logger.info("campaign %s round %s: proposal %s already recorded", campaign.pk, current.number, index)


def _materialise(
    campaign: Campaign, base: HarnessVersion, proposal: Proposal, draft: ProposalDraft, *, check_protected: bool
) -> None:
    """Apply the draft to `base` and store the candidate version, or record why not.
    A protected path is refused here, before any version exists or anything runs."""
    base_files: dict[str, str] = base.files
    proposal.base_version = base
    proposal.hypothesis = draft.hypothesis
    proposal.edits = [asdict(edit) for edit in draft.edits]
    proposal.params = dict(draft.params)
    touched = sorted({edit.path for edit in draft.edits} | ({HARNESS_YAML} if draft.params else set()))
    proposal.touched_paths = touched
    proposal.stage = ProposalStage.EVALUATING
    if check_protected:
        violations = check_proposal_paths(touched, campaign.protected_paths)
        if violations:
            proposal.stats = {"protected_violations": [f"{v.path}: {v.reason}" for v in violations]}
            proposal.save()
            return
    try:
        files = apply_edits(base_files, draft)
        if draft.params:
            from evolab.engine.edits import apply_params

            files[HARNESS_YAML] = apply_params(files.get(HARNESS_YAML, ""), draft.params)
    except EditError as error:
        proposal.apply_error = str(error)
        proposal.save()
        return
    proposal.param_changes = {
        key: list(change)
        for key, change in param_changes(base_files.get(HARNESS_YAML, ""), files.get(HARNESS_YAML, "")).items()
    }
    proposal.diff_key = normalised_diff_key(base_files, files)
    proposal.save()  # numbered before its version, so the version can name it
    try:
        with transaction.atomic():
            proposal.candidate_version = version_create(
                actor=None,
                project=campaign.project,
                files=files,
                message=f"proposal {proposal.number}: {draft.hypothesis}"[:2000],
                parents=[base],
                author_label=f"proposal {proposal.number} ({proposal.kind})",
                move_head=False,
            )
    except (DomainError, Conflict) as error:
        proposal.apply_error = f"the result is not a valid harness: {error}"
        proposal.diff_key = ""
    else:
        from evolab.harnesses.tree import diff_trees

        diff = diff_trees(base_files, files)
        proposal.diff_lines = diff.added + diff.removed
        proposal.diff_hash = hashlib.sha256("".join(f.unified for f in diff.files).encode()).hexdigest()
        proposal.stats = {**proposal.stats, "leakage": _leakage(campaign, proposal, base_files, files)}
    proposal.save()


def _leakage(
    campaign: Campaign, proposal: Proposal, base_files: dict[str, str], files: dict[str, str]
) -> dict[str, int]:
    """Counts of the dev and holdout cases the change's added text or rationale quotes
    (the matched keys and text are kept in the leakage check, shown by role)."""
    [check] = proposal_check(
        project=campaign.project,
        proposal_id=proposal.pk,
        base_files=base_files,
        files=files,
        rationale=proposal.hypothesis,
        suite_version=campaign.suite_version,
    )
    return {"holdout": check.holdout_cases, "dev": check.dev_cases, "longest": check.longest}


# --- evaluating and classifying ---------------------------------------------------


def _evaluate_candidates(campaign: Campaign, current: Round, spend: Spend) -> float | None:
    pending = (
        Proposal.objects.filter(round=current)
        .exclude(stage=ProposalStage.CLASSIFIED)
        .select_related("candidate_version", "candidate_run", "guard_run", "base_version", "parent_run")
        .order_by("index")
        .first()
    )
    if pending is None:
        _settle_round(campaign, current)
        return 0
    if pending.stage == ProposalStage.GUARDING:
        return _guard(campaign, current, pending, spend)
    return _evaluate(campaign, current, pending, spend)


def _revised(proposal: Proposal) -> list[int]:
    """The proposals this one is a revision of, nearest first."""
    ids: list[int] = []
    revised_id = proposal.revision_of_id
    while revised_id is not None and revised_id not in ids:
        ids.append(revised_id)
        revised_id = Proposal.objects.filter(pk=revised_id).values_list("revision_of_id", flat=True).first()
    return ids


def _duplicate_of(proposal: Proposal) -> str | None:
    if not proposal.diff_key:
        return None
    earlier = (
        Proposal.objects.filter(
            campaign_id=proposal.campaign_id, diff_key=proposal.diff_key, number__lt=proposal.number
        )
        .exclude(pk__in=_revised(proposal))  # a rebase keeps the change: it is no duplicate of itself
        .order_by("number")
        .values_list("number", flat=True)
        .first()
    )
    return f"proposal #{earlier}" if earlier is not None else None


def _early_facts(proposal: Proposal) -> ProposalFacts | None:
    """Facts that reject a proposal before anything is evaluated, or None."""
    violations = tuple(proposal.stats.get("protected_violations", ()))
    duplicate = _duplicate_of(proposal)
    if proposal.apply_error or violations or duplicate or proposal.candidate_version_id is None:
        return ProposalFacts(
            apply_error=proposal.apply_error or (None if violations or duplicate else "no version was made"),
            protected_violations=violations,
            duplicate_of=duplicate,
            touched_paths=tuple(proposal.touched_paths),
        )
    return None


def _evaluate(campaign: Campaign, current: Round, proposal: Proposal, spend: Spend) -> float | None:
    early = _early_facts(proposal)
    if early is not None:
        _classify(campaign, current, proposal, early)
        return 0
    wanted = [("candidate_run", proposal.candidate_version, "its evaluation run failed")]
    if _own_base(current, proposal):
        wanted.insert(0, ("parent_run", proposal.base_version, "the evaluation of its base failed"))
    for field, version, failure in wanted:
        state = _follow_run(campaign, getattr(proposal, field))
        if state == WAIT:
            return _poll_s()
        if state == HALTED:
            return None
        if state == "start":
            with transaction.atomic():
                setattr(proposal, field, _start_run(campaign, version, [campaign.selection_split], spend))
                proposal.save(update_fields=[field])
            return 0
        if state == FAILED:
            _classify(campaign, current, proposal, ProposalFacts(apply_error=failure))
            return 0
    parent_run = proposal.parent_run if _own_base(current, proposal) else current.parent_run
    assert parent_run is not None and proposal.candidate_run is not None
    stats = _selection_stats(campaign, parent_run, proposal.candidate_run)
    proposal.stats = {**proposal.stats, **stats}
    passes = stats.get("comparison") is not None and stats["comparison"]["delta"] > 0
    if campaign.guard_split and passes:
        proposal.stage = ProposalStage.GUARDING
        proposal.save(update_fields=["stats", "stage"])
        return 0
    proposal.save(update_fields=["stats"])
    _classify(campaign, current, proposal, _facts(campaign, proposal))
    return 0


def _own_base(current: Round, proposal: Proposal) -> bool:
    """Whether the proposal is compared with runs of its own base (a revision rebased onto
    a head that is not the round's parent) instead of the round's parent runs."""
    return proposal.base_version_id != current.parent_version_id


def _guard(campaign: Campaign, current: Round, proposal: Proposal, spend: Spend) -> float | None:
    """Score the parent (once a round, or the proposal's own base) and the candidate on
    the held-out guard."""
    parent: Round | Proposal = proposal if _own_base(current, proposal) else current
    parent_version = proposal.base_version if parent is proposal else current.parent_version
    for owner, field, version in (
        (parent, "parent_guard_run", parent_version),
        (proposal, "guard_run", proposal.candidate_version),
    ):
        state = _follow_run(campaign, getattr(owner, field))
        if state == HALTED:
            return None
        if state == "start":
            with transaction.atomic():
                setattr(owner, field, _start_run(campaign, version, [campaign.guard_split], spend))
                owner.save(update_fields=[field])
            return 0
        if state == WAIT:
            return _poll_s()
        if state == FAILED:
            _classify(campaign, current, proposal, ProposalFacts(apply_error="its held-out evaluation failed"))
            return 0
    assert parent.parent_guard_run is not None and proposal.guard_run is not None
    guard_parent, guard_candidate, guard_excluded = _without_disputed(
        campaign,
        _scores(parent.parent_guard_run, campaign.guard_split),
        _scores(proposal.guard_run, campaign.guard_split),
    )
    guard = _comparison(guard_parent, guard_candidate, campaign)
    # Aggregates only: the guard's case keys and texts stay out of the proposal.
    proposal.stats = {**proposal.stats, "guard": guard, "guard_disputed_excluded": guard_excluded}
    proposal.save(update_fields=["stats"])
    _classify(campaign, current, proposal, _facts(campaign, proposal))
    return 0


def _scores(run: Run, split: str) -> dict[str, list[float]]:
    scores: dict[str, list[float]] = {}
    rows = CaseResult.objects.filter(run=run, case__split=split, status=ResultStatus.DONE).values_list(
        "case__key", "score"
    )
    for key, score in rows:
        if score is not None:
            scores.setdefault(key, []).append(float(score))
    return scores


def _without_disputed(
    campaign: Campaign, parent: dict[str, list[float]], candidate: dict[str, list[float]]
) -> tuple[dict[str, list[float]], dict[str, list[float]], int]:
    """Both sides without the cases of the campaign's suite that are disputed now, and how
    many scored cases that left out: a case people believe is wrong must not make or
    break a decision until it is resolved (evals.discussion)."""
    disputed = disputed_keys(campaign.suite_version.suite_id)
    if not disputed:
        return parent, candidate, 0
    excluded = sum(1 for key in disputed if key in parent or key in candidate)
    return (
        {key: scores for key, scores in parent.items() if key not in disputed},
        {key: scores for key, scores in candidate.items() if key not in disputed},
        excluded,
    )


def _comparison(
    parent: dict[str, list[float]], candidate: dict[str, list[float]], campaign: Campaign
) -> dict[str, Any] | None:
    result = compare_paired(parent, candidate, seed=campaign.seed)
    return result.as_dict() if result is not None else None


def _usage(run: Run, split: str) -> dict[str, float | None]:
    """Mean cost (tokens priced at the runner backend's rates; cached answers keep their
    token counts, so this is what the version costs, not what this run paid) and mean
    latency of fresh answers."""
    backend = run.backend
    price_in = float(backend.price_in_per_m) if backend else 0.0
    price_out = float(backend.price_out_per_m) if backend else 0.0
    rows = list(
        CaseResult.objects.filter(run=run, case__split=split, status=ResultStatus.DONE).values_list(
            "input_tokens", "output_tokens", "latency_s", "cached"
        )
    )
    if not rows:
        return {"cost": None, "latency": None}
    if price_in or price_out:
        costs = [(i * price_in + o * price_out) / 1e6 for i, o, _, _ in rows]
    else:
        costs = [float(i + o) for i, o, _, _ in rows]
    fresh = [latency for _, _, latency, cached in rows if not cached and latency is not None]
    return {
        "cost": sum(costs) / len(costs),
        "latency": sum(fresh) / len(fresh) if len(fresh) >= MIN_LATENCY_SAMPLES else None,
    }


def _change_pct(old: float | None, new: float | None) -> float | None:
    if old is None or new is None or old <= 0:
        return None
    return (new - old) / old * 100


def _selection_stats(campaign: Campaign, parent_run: Run, candidate_run: Run) -> dict[str, Any]:
    split = campaign.selection_split
    parent, candidate, excluded = _without_disputed(campaign, _scores(parent_run, split), _scores(candidate_run, split))
    parent_usage, candidate_usage = _usage(parent_run, split), _usage(candidate_run, split)
    rules, _ = actions.policy_current(campaign.project)
    critical = set(
        EvalCaseTag.objects.filter(
            case__version=campaign.suite_version, case__split=split, tag=rules.critical_tag
        ).values_list("case__key", flat=True)
    )
    regressions = sorted(
        key
        for key in critical
        if key in parent
        and key in candidate
        and sum(candidate[key]) / len(candidate[key]) < sum(parent[key]) / len(parent[key])
    )
    return {
        "comparison": _comparison(parent, candidate, campaign),
        "disputed_excluded": excluded,
        "critical_regressions": regressions,
        "cost_change_pct": _change_pct(parent_usage["cost"], candidate_usage["cost"]),
        "latency_change_pct": _change_pct(parent_usage["latency"], candidate_usage["latency"]),
    }


def _facts(campaign: Campaign, proposal: Proposal) -> ProposalFacts:
    stats = proposal.stats
    comparison = stats.get("comparison") or {}
    guard = stats.get("guard")
    leakage = stats.get("leakage") or {}
    diverged = bool(guard) and comparison.get("delta", 0) > 0 and guard["delta"] <= 0
    if guard is not None:
        proposal.stats = {**stats, "diverged": diverged}
    return ProposalFacts(
        delta=comparison.get("delta"),
        low=comparison.get("low"),
        high=comparison.get("high"),
        mde=comparison.get("mde"),
        touched_paths=tuple(proposal.touched_paths),
        critical_regressions=tuple(stats.get("critical_regressions", ())),
        holdout_diverged=diverged,
        holdout_delta=guard["delta"] if guard else None,
        cost_change_pct=stats.get("cost_change_pct"),
        latency_change_pct=stats.get("latency_change_pct"),
        diff_lines=proposal.diff_lines,
        param_changes={key: (old, new) for key, (old, new) in proposal.param_changes.items()},
        leaked_holdout_cases=int(leakage.get("holdout", 0)),
        leaked_dev_cases=int(leakage.get("dev", 0)),
        leaked_words=int(leakage.get("longest", 0)),
    )


def _classify(campaign: Campaign, current: Round, proposal: Proposal, facts: ProposalFacts) -> None:
    rules, policy_number = actions.policy_current(campaign.project)
    result = classify(facts, rules)
    with transaction.atomic():
        proposal.outcome = result.outcome.value
        proposal.reasons = result.as_dict()["reasons"]
        proposal.policy_number = policy_number
        proposal.stage = ProposalStage.CLASSIFIED
        proposal.classified_at = timezone.now()
        proposal.save(update_fields=["outcome", "reasons", "policy_number", "stage", "classified_at", "stats"])
        actions.memory_record(campaign=campaign, proposal=proposal, text=_memory_line(current, proposal))
        if proposal.outcome == Outcome.NEEDS_REVIEW:
            assign_reviewer(proposal)
        event_emit(
            project_id=campaign.project_id, type="proposal.status", object_type="proposal", object_id=proposal.pk
        )


def _memory_line(current: Round, proposal: Proposal) -> str:
    comparison = proposal.stats.get("comparison")
    delta = (
        f"Δ {comparison['delta']:+.3f} [{comparison['low']:+.3f}, {comparison['high']:+.3f}]"
        if comparison
        else "not evaluated"
    )
    paths = ", ".join(proposal.touched_paths) or "no file"
    first = proposal.reasons[0]["code"] if proposal.reasons else ""
    hypothesis = " ".join(proposal.hypothesis.split())[:200] or proposal.apply_error[:200]
    outcome = f"{proposal.outcome} ({first})"
    return f"round {current.number} · proposal #{proposal.number} · {paths} · {delta} · {outcome} · {hypothesis}"


def _settle_round(campaign: Campaign, current: Round) -> None:
    """Merge the best auto-merge candidate (head moves by compare-and-swap); the others
    of the round were built on the same parent and now wait for a person."""
    mergeable = sorted(
        Proposal.objects.filter(round=current, outcome=Outcome.AUTO_MERGE).select_related(
            "project", "base_version", "candidate_version"
        ),
        key=lambda p: -(p.stats.get("comparison") or {}).get("low", 0.0),
    )
    merged: Proposal | None = None
    for proposal in mergeable:
        if merged is None:
            try:
                actions.proposal_merge(actor=None, proposal=proposal)
                merged = proposal
                continue
            except Conflict as error:
                reason = {"code": "stale", "text": f"Head moved before the merge: {error}"}
        else:
            reason = {"code": "superseded", "text": f"Proposal #{merged.number} of this round was merged first."}
        with transaction.atomic():
            Proposal.objects.filter(pk=proposal.pk).update(
                outcome=Outcome.NEEDS_REVIEW, reasons=[*proposal.reasons, reason]
            )
            assign_reviewer(proposal)
    Round.objects.filter(pk=current.pk).update(status=RoundStatus.DONE, finished_at=timezone.now())
    _round_event(campaign)
