"""Campaigns, their guidance and proposals, and the merge policy over the REST API,
mounted under /projects."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from ninja import Router, Status
from ninja.pagination import LimitOffsetPagination, paginate

from evolab.core.http import AuthedRequest
from evolab.evolution import actions
from evolab.evolution.actions import CampaignSpec
from evolab.evolution.budget import Spend
from evolab.evolution.estimates import CampaignEstimate, campaign_estimate
from evolab.evolution.models import Campaign, Guidance, Proposal
from evolab.evolution.schemas import (
    CampaignCreatedOut,
    CampaignEstimateOut,
    CampaignIn,
    CampaignOut,
    GuidanceIn,
    GuidanceOut,
    PolicyIn,
    PolicyOut,
    ProposalOut,
)
from evolab.evolution.selectors import (
    CampaignList,
    CampaignRow,
    campaign_list,
    campaign_row,
    get_campaign,
    guidance_history,
    proposals_of,
)
from evolab.projects.models import Project, Role
from evolab.projects.selectors import get_project_for
from evolab.runs.selectors import backend_named, harness_for, suite_version_for

router = Router(tags=["campaigns"])


@dataclass(frozen=True)
class CreatedCampaign:
    campaign: Campaign
    spend: Spend
    best_delta: float | None
    estimate: CampaignEstimate


def _spec(project: Project, payload: CampaignIn) -> CampaignSpec:
    return CampaignSpec(
        name=payload.name,
        base_version=harness_for(project, payload.base),
        suite_version=suite_version_for(project, payload.suite, payload.suite_version),
        runner_backend=backend_named(project, payload.runner_backend),
        proposer_backend=backend_named(project, payload.proposer_backend) if payload.proposer_backend else None,
        proposer=payload.proposer,
        feedback_split=payload.feedback_split,
        selection_split=payload.selection_split,
        guard_split=payload.guard_split,
        candidates_per_round=payload.candidates_per_round,
        samples=payload.samples,
        seed=payload.seed,
        budget_rounds=payload.budget_rounds,
        budget_usd=payload.budget_usd,
        budget_tokens=payload.budget_tokens,
        budget_wall_s=payload.budget_minutes * 60,
        guidance=payload.guidance,
        protected_paths=payload.protected_paths,
        plateau_rounds=payload.plateau_rounds,
    )


def _row(project: Project, number: int) -> CampaignRow:
    return campaign_row(get_campaign(project, number))


@router.get("/{slug}/campaigns", response=list[CampaignOut])
@paginate(LimitOffsetPagination)
def list_campaigns(request: AuthedRequest, slug: str) -> CampaignList:
    """Newest first, each with its spend against the budget (a fixed number of queries a page)."""
    return campaign_list(get_project_for(request.user, slug))


@router.post("/{slug}/campaigns", response={201: CampaignCreatedOut})
def create_campaign(request: AuthedRequest, slug: str, payload: CampaignIn) -> Status:
    """Start a campaign; the answer carries the cost estimate (an upper bound) it started with."""
    project = get_project_for(request.user, slug, Role.MAINTAINER)
    spec = _spec(project, payload)
    estimate = campaign_estimate(spec)
    campaign = actions.campaign_create(actor=request.user, project=project, spec=spec, estimate_usd=estimate.usd)
    row = _row(project, campaign.number)
    return Status(201, CreatedCampaign(row.campaign, row.spend, row.best_delta, estimate))


@router.post("/{slug}/campaigns/estimate", response=CampaignEstimateOut)
def estimate_campaign(request: AuthedRequest, slug: str, payload: CampaignIn) -> CampaignEstimate:
    """What `POST /campaigns` with the same body could cost, without starting anything."""
    project = get_project_for(request.user, slug, Role.MAINTAINER)
    return campaign_estimate(_spec(project, payload))


@router.get("/{slug}/campaigns/{number}", response=CampaignOut)
def get_campaign_detail(request: AuthedRequest, slug: str, number: int) -> CampaignRow:
    return _row(get_project_for(request.user, slug), number)


CONTROLS: dict[str, Callable[..., Campaign]] = {
    "pause": actions.campaign_pause,
    "resume": actions.campaign_resume,
    "stop": actions.campaign_stop,
}


def _control(request: AuthedRequest, slug: str, number: int, verb: str) -> CampaignRow:
    project = get_project_for(request.user, slug, Role.MAINTAINER)
    campaign = get_campaign(project, number)
    change = CONTROLS[verb]
    change(actor=request.user, campaign=campaign)
    return _row(project, number)


@router.post("/{slug}/campaigns/{number}/pause", response=CampaignOut)
def pause_campaign(request: AuthedRequest, slug: str, number: int) -> CampaignRow:
    """409 unless the campaign is running."""
    return _control(request, slug, number, "pause")


@router.post("/{slug}/campaigns/{number}/resume", response=CampaignOut)
def resume_campaign(request: AuthedRequest, slug: str, number: int) -> CampaignRow:
    """409 unless the campaign is paused."""
    return _control(request, slug, number, "resume")


@router.post("/{slug}/campaigns/{number}/stop", response=CampaignOut)
def stop_campaign(request: AuthedRequest, slug: str, number: int) -> CampaignRow:
    """409 unless the campaign is running or paused; a stopped campaign does not resume."""
    return _control(request, slug, number, "stop")


@router.get("/{slug}/campaigns/{number}/guidance", response=list[GuidanceOut])
def list_guidance(request: AuthedRequest, slug: str, number: int) -> list[Guidance]:
    """Every version, newest first."""
    return list(guidance_history(get_campaign(get_project_for(request.user, slug), number)))


@router.post("/{slug}/campaigns/{number}/guidance", response={201: GuidanceOut})
def set_guidance(request: AuthedRequest, slug: str, number: int, payload: GuidanceIn) -> Status:
    """A new version of the guidance; 409 when the text is unchanged."""
    project = get_project_for(request.user, slug, Role.MAINTAINER)
    guidance = actions.guidance_set(actor=request.user, campaign=get_campaign(project, number), text=payload.text)
    return Status(201, guidance)


@router.get("/{slug}/campaigns/{number}/proposals", response=list[ProposalOut])
@paginate(LimitOffsetPagination)
def list_proposals(request: AuthedRequest, slug: str, number: int) -> list[Proposal]:
    """In order of number, each with its outcome, reasons and statistics."""
    return proposals_of(get_campaign(get_project_for(request.user, slug), number))  # type: ignore[return-value]


@router.get("/{slug}/policy", response=PolicyOut)
def get_policy(request: AuthedRequest, slug: str) -> dict[str, object]:
    rules, number = actions.policy_current(get_project_for(request.user, slug))
    return {"number": number, "rules": rules.to_dict()}


@router.put("/{slug}/policy", response=PolicyOut)
def put_policy(request: AuthedRequest, slug: str, payload: PolicyIn) -> dict[str, object]:
    """Owners only; the rules are validated as a whole (422 naming the setting at fault)."""
    project = get_project_for(request.user, slug, Role.OWNER)
    version = actions.policy_set(actor=request.user, project=project, rules=payload.rules)
    return {"number": version.number, "rules": version.rules}
