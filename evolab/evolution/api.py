"""Campaigns, their guidance and proposals, and the merge policy over the REST API,
mounted under /projects."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from django.contrib.auth.models import User
from django.core.exceptions import PermissionDenied
from django.db.models import QuerySet, Value
from django.http import Http404
from ninja import Router, Status
from ninja.pagination import paginate

from evolab.core.errors import ValidationFailed
from evolab.core.http import AuthedRequest
from evolab.core.pagination import LimitOffsetPagination
from evolab.evals.selectors import can_see_holdout
from evolab.evolution import actions, assignment, rebase, review
from evolab.evolution.actions import CampaignSpec
from evolab.evolution.budget import Spend
from evolab.evolution.estimates import CampaignEstimate, campaign_estimate
from evolab.evolution.models import Campaign, Comment, Guidance, PathOwner, Proposal
from evolab.evolution.proposal_selectors import get_proposal
from evolab.evolution.schemas import (
    CampaignCreatedOut,
    CampaignEstimateOut,
    CampaignIn,
    CampaignOut,
    CommentIn,
    CommentOut,
    GuidanceIn,
    GuidanceOut,
    InboxItemOut,
    PathOwnerIn,
    PathOwnerOut,
    PolicyIn,
    PolicyOut,
    ProposalOut,
    ProposalRevertIn,
    RebaseIn,
    RebasePreviewOut,
    RejectIn,
    RequestChangesIn,
    ResolveIn,
    RevertedOut,
    ReviewOut,
    ReviseIn,
    RevisionOut,
    VoteIn,
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
from evolab.projects.selectors import get_project_for, role_of
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
    project = get_project_for(request.user, slug)
    proposals = proposals_of(get_campaign(project, number))
    # The schema leaves the held-out guard's numbers out below maintainer.
    return proposals.annotate(viewer_sees_holdout=Value(can_see_holdout(role_of(project))))  # type: ignore[return-value]


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


# --- review -------------------------------------------------------------------------


def _proposal(project: Project, number: int) -> Proposal:
    proposal = get_proposal(project, number)
    proposal.project = project
    return proposal


def _review(project: Project, number: int) -> review.Review:
    return review.review_of(_proposal(project, number), role_of(project))


@router.get("/{slug}/proposals/{number}/review", response=ReviewOut)
def get_review(request: AuthedRequest, slug: str, number: int) -> review.Review:
    """Whether the proposal may merge now (and every blocker, in words), its votes and comments."""
    return _review(get_project_for(request.user, slug), number)


@router.post("/{slug}/proposals/{number}/votes", response=ReviewOut)
def cast_vote(request: AuthedRequest, slug: str, number: int, payload: VoteIn) -> review.Review:
    """Cast or replace your vote, bound to the diff and base now; 409 on a merged,
    closed or auto-rejected proposal."""
    project = get_project_for(request.user, slug, Role.REVIEWER)
    review.vote_cast(actor=request.user, proposal=_proposal(project, number), value=payload.value)
    return _review(project, number)


def _comment(project: Project, proposal: Proposal, comment_id: int) -> Comment:
    """A comment the caller may see (404 otherwise, held-out threads included)."""
    comment = review.comments_of(proposal, role_of(project)).filter(pk=comment_id).first()
    if comment is None:
        raise Http404("No such comment")
    comment.proposal = proposal
    return comment


@router.post("/{slug}/proposals/{number}/comments", response={201: CommentOut})
def add_comment(request: AuthedRequest, slug: str, number: int, payload: CommentIn) -> Status:
    project = get_project_for(request.user, slug, Role.REVIEWER)
    proposal = _proposal(project, number)
    parent = _comment(project, proposal, payload.parent) if payload.parent is not None else None
    comment = review.comment_add(
        actor=request.user,
        proposal=proposal,
        text=payload.text,
        anchor=payload.anchor,
        path=payload.path,
        line=payload.line,
        case_key=payload.case_key,
        blocking=payload.blocking,
        parent=parent,
    )
    return Status(201, comment)


@router.post("/{slug}/proposals/{number}/comments/{comment_id}/resolve", response=CommentOut)
def resolve_comment(request: AuthedRequest, slug: str, number: int, comment_id: int, payload: ResolveIn) -> Comment:
    """By the comment's author or a maintainer; "dropped" needs a reason."""
    project = get_project_for(request.user, slug, Role.REVIEWER)
    comment = _comment(project, _proposal(project, number), comment_id)
    return review.comment_resolve(
        actor=request.user, comment=comment, resolution=payload.resolution, reason=payload.reason
    )


@router.post("/{slug}/proposals/{number}/merge", response=ReviewOut)
def merge_proposal(request: AuthedRequest, slug: str, number: int) -> review.Review:
    """409 naming every blocker unless the review allows the merge; 409 "stale" when
    head moved since the proposal's base."""
    project = get_project_for(request.user, slug, Role.MAINTAINER)
    review.proposal_merge_reviewed(actor=request.user, proposal=_proposal(project, number))
    return _review(project, number)


@router.post("/{slug}/proposals/{number}/reject", response=ReviewOut)
def reject_proposal(request: AuthedRequest, slug: str, number: int, payload: RejectIn) -> review.Review:
    project = get_project_for(request.user, slug, Role.MAINTAINER)
    review.proposal_reject(actor=request.user, proposal=_proposal(project, number), reason=payload.reason)
    return _review(project, number)


@router.get("/{slug}/inbox", response=list[InboxItemOut])
@paginate(LimitOffsetPagination)
def list_inbox(request: AuthedRequest, slug: str, campaign: int | None = None) -> QuerySet[Proposal]:
    """Proposals of the project (or one campaign) waiting for review, yours first."""
    project = get_project_for(request.user, slug)
    chosen = get_campaign(project, campaign) if campaign is not None else None
    waiting = assignment.inbox(request.user, project=project, campaign=chosen)
    return waiting.annotate(viewer_sees_holdout=Value(can_see_holdout(role_of(project))))


@router.get("/{slug}/path-owners", response=list[PathOwnerOut])
def list_path_owners(request: AuthedRequest, slug: str) -> list[PathOwner]:
    return list(assignment.path_owners_of(get_project_for(request.user, slug)))


@router.post("/{slug}/path-owners", response={201: PathOwnerOut})
def add_path_owner(request: AuthedRequest, slug: str, payload: PathOwnerIn) -> Status:
    """Owners only; the user must be a reviewer or above of the project."""
    project = get_project_for(request.user, slug, Role.OWNER)
    user = User.objects.filter(memberships__project=project, username=payload.user).first()
    if user is None:
        raise ValidationFailed(f"{payload.user} is not a member of this project.", field="user")
    owner = assignment.path_owner_set(actor=request.user, project=project, pattern=payload.pattern, user=user)
    return Status(201, owner)


@router.delete("/{slug}/path-owners/{owner_id}", response={204: None})
def remove_path_owner(request: AuthedRequest, slug: str, owner_id: int) -> Status:
    project = get_project_for(request.user, slug, Role.OWNER)
    owner = assignment.path_owners_of(project).filter(pk=owner_id).first()
    if owner is None:
        raise Http404("No such path owner")
    assignment.path_owner_remove(actor=request.user, owner=owner)
    return Status(204, None)


# --- revisions and reverts (evolution.rebase) -------------------------------------


@router.get("/{slug}/proposals/{number}/rebase", response=RebasePreviewOut)
def preview_rebase(request: AuthedRequest, slug: str, number: int) -> dict[str, object]:
    """The proposal's change merged onto head, with the conflicts to resolve."""
    project = get_project_for(request.user, slug, Role.MAINTAINER)
    proposal = rebase.proposal_for_revision(project, number)
    head = rebase.check_rebase(proposal)
    merge = rebase.rebase_preview(proposal)
    return {
        "base": proposal.base_version.number,
        "head": head.number,
        "clean": merge.clean,
        "conflicts": merge.conflicts,
        "files": merge.files,
    }


@router.post("/{slug}/proposals/{number}/rebase", response={201: RevisionOut})
def rebase_proposal(request: AuthedRequest, slug: str, number: int, payload: RebaseIn) -> Status:
    """A new revision on head, queued for the next round; the proposal is closed as
    superseded. 409 naming the paths when the merge conflicts and `resolved_files` is
    missing; 422 when a resolution is missing or still has markers; 409 when the
    campaign has ended."""
    project = get_project_for(request.user, slug, Role.MAINTAINER)
    proposal = rebase.proposal_for_revision(project, number)
    revision = rebase.proposal_rebase(actor=request.user, proposal=proposal, resolved_files=payload.resolved_files)
    return Status(201, revision)


@router.post("/{slug}/proposals/{number}/revise", response={201: RevisionOut})
def revise_proposal(request: AuthedRequest, slug: str, number: int, payload: ReviseIn) -> Status:
    """A new revision of a person's proposal on the same base, by a maintainer or its
    author; votes on an unchanged diff carry over."""
    project = get_project_for(request.user, slug, Role.REVIEWER)
    proposal = rebase.proposal_for_revision(project, number)
    if not rebase.may_revise(role_of(project), request.user, proposal):
        raise PermissionDenied("Only a maintainer or the proposal's author may revise it.")
    revision = rebase.proposal_revise(actor=request.user, proposal=proposal, files=payload.files, note=payload.note)
    return Status(201, revision)


@router.post("/{slug}/proposals/{number}/request-changes", response={201: CommentOut})
def request_changes(request: AuthedRequest, slug: str, number: int, payload: RequestChangesIn) -> Status:
    """A blocking comment that holds the merge until a revision (or its resolution); the
    author is notified."""
    project = get_project_for(request.user, slug, Role.REVIEWER)
    proposal = rebase.proposal_for_revision(project, number)
    comment = rebase.proposal_request_changes(actor=request.user, proposal=proposal, summary=payload.summary)
    return Status(201, comment)


@router.post("/{slug}/proposals/{number}/revert", response={201: RevertedOut})
def revert_proposal(request: AuthedRequest, slug: str, number: int, payload: ProposalRevertIn) -> Status:
    """A new head without a merged proposal's change; 409 naming the paths when head
    changed them since (nothing is written)."""
    project = get_project_for(request.user, slug, Role.MAINTAINER)
    proposal = rebase.proposal_for_revision(project, number)
    version = rebase.proposal_revert(actor=request.user, proposal=proposal, reason=payload.reason)
    body = {"proposal": proposal.number, "version": version.number, "digest": version.digest}
    return Status(201, {**body, "message": version.message})
