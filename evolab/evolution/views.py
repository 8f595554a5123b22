"""Pages for campaigns and the merge policy: the list, the start form (with its cost
estimate), a campaign's page with its panels, its controls, guidance and human
proposals, and the policy editor.

The campaign page's URL also serves each of its panels to htmx (`?panel=timeline`, …);
the panels refresh when the project's websocket relays `campaign.status`,
`campaign.round` or `proposal.status` (templates/live/socket.html).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.paginator import Paginator
from django.http import HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from evolab.core.errors import DomainError
from evolab.core.forms import add_domain_error
from evolab.core.http import AuthedRequest
from evolab.evals.selectors import can_see_holdout
from evolab.evolution import actions
from evolab.evolution.assignment import path_owner_remove, path_owner_set, path_owners_of
from evolab.evolution.estimates import CampaignEstimate, campaign_estimate
from evolab.evolution.forms import (
    CampaignForm,
    GuidanceForm,
    HumanProposalForm,
    PathOwnerForm,
    PolicyForm,
    policy_error_field,
)
from evolab.evolution.models import Campaign, CampaignStatus
from evolab.evolution.policy import PolicyRules
from evolab.evolution.selectors import (
    campaign_list,
    campaign_row,
    campaign_timeline,
    get_campaign,
    guidance_history,
    memory_of,
    policy_history,
)
from evolab.harnesses.models import HarnessVersion
from evolab.leakage.models import Subject
from evolab.leakage.selectors import checks_of, summarise, summary_of
from evolab.projects.models import Project, Role
from evolab.projects.selectors import get_project_for, role_of

CAMPAIGNS_PAGE_SIZE = 25
PANELS = ("header", "budget", "timeline", "guidance", "memory", "human")


@login_required
@require_GET
def campaigns_page(request: AuthedRequest, slug: str) -> HttpResponse:
    project = get_project_for(request.user, slug)
    page = Paginator(campaign_list(project), CAMPAIGNS_PAGE_SIZE).get_page(request.GET.get("page"))
    context = {"project": project, "page": page, "can_start": role_of(project).may_change}
    return render(request, "evolution/list.html", context)


@login_required
@require_http_methods(["GET", "POST"])
def campaign_new(request: AuthedRequest, slug: str) -> HttpResponse:
    """The form; "Estimate" shows what it could cost, "Start" creates the campaign."""
    project = get_project_for(request.user, slug, Role.MAINTAINER)
    form = CampaignForm(request.POST if request.method == "POST" else None, project=project)
    estimate: CampaignEstimate | None = None
    status = 200
    if request.method == "POST":
        status = 422
        if form.is_valid():
            try:
                spec = form.spec()
                estimate = campaign_estimate(spec)
                if request.POST.get("action") != "estimate":
                    campaign = actions.campaign_create(
                        actor=request.user, project=project, spec=spec, estimate_usd=estimate.usd
                    )
                    return redirect("evolution:campaign", slug=project.slug, number=campaign.number)
                status = 200
            except DomainError as error:
                add_domain_error(form, error)
    context = {"project": project, "form": form, "estimate": estimate}
    return render(request, "evolution/new.html", context, status=status)


@login_required
@require_GET
def campaign_estimate_panel(request: AuthedRequest, slug: str) -> HttpResponse:
    """The estimate panel of the start form, for the form's current values."""
    project = get_project_for(request.user, slug, Role.MAINTAINER)
    form = CampaignForm(request.GET, project=project)
    estimate: CampaignEstimate | None = None
    if form.is_valid():
        try:
            estimate = campaign_estimate(form.spec())
        except DomainError as error:
            add_domain_error(form, error)
    return render(request, "evolution/new.html#estimate", {"project": project, "form": form, "estimate": estimate})


def _takes_proposals(campaign: Campaign) -> bool:
    return campaign.status in (CampaignStatus.RUNNING, CampaignStatus.PAUSED)


def _human_form(
    request: AuthedRequest, campaign: Campaign, data: Any = None
) -> tuple[HumanProposalForm, HarnessVersion]:
    parent = HarnessVersion.objects.only("files", "number").get(pk=campaign.parent_version_id)
    form = HumanProposalForm(data, files=parent.files)
    if data is None:
        chosen = request.GET.get("path", "")
        path = chosen if chosen in parent.files else next(iter(sorted(parent.files)), "")
        form.initial = {"path": path, "text": parent.files.get(path, "")}
    return form, parent


def _campaign_context(
    request: AuthedRequest, project: Project, campaign: Campaign, panel: str | None = None, **extra: Any
) -> dict[str, Any]:
    """What the page (or one panel) shows; each panel's data is read only when shown."""
    role = role_of(project)
    can_manage = role.may_change
    context: dict[str, Any] = {
        "project": project,
        "campaign": campaign,
        "can_manage": can_manage,
        "takes_proposals": _takes_proposals(campaign),
        **extra,
    }
    wanted = {panel} if panel else set(PANELS)
    if wanted & {"header", "budget"}:
        context["row"] = campaign_row(campaign)
    if "timeline" in wanted:
        context["timeline"] = campaign_timeline(campaign, sees_holdout=can_see_holdout(role))
    if "guidance" in wanted:
        context["guidance_versions"] = list(guidance_history(campaign))
        found = checks_of(project, Subject.GUIDANCE, [version.pk for version in context["guidance_versions"]])
        for version in context["guidance_versions"]:
            version.leakage = summarise(found.get(version.pk, []), role=role)
        if can_manage and "guidance_form" not in context:
            latest = context["guidance_versions"][0].text if context["guidance_versions"] else ""
            context["guidance_form"] = GuidanceForm(initial={"text": latest})
    if "memory" in wanted:
        context["memory"] = list(memory_of(campaign))
    if "human" in wanted and can_manage and context["takes_proposals"] and "human_form" not in context:
        context["human_form"], context["parent"] = _human_form(request, campaign)
    return context


@login_required
@require_GET
def campaign_detail(request: AuthedRequest, slug: str, number: int) -> HttpResponse:
    """The campaign page; to htmx, the panel named by `?panel=` alone."""
    project = get_project_for(request.user, slug)
    campaign = get_campaign(project, number)
    panel = request.GET.get("panel", "")
    if request.htmx and panel in PANELS:  # type: ignore[attr-defined]
        context = _campaign_context(request, project, campaign, panel)
        return render(request, f"evolution/campaign.html#{panel}", context)
    return render(request, "evolution/campaign.html", _campaign_context(request, project, campaign))


CONTROLS: dict[str, Callable[..., Campaign]] = {
    "pause": actions.campaign_pause,
    "resume": actions.campaign_resume,
    "stop": actions.campaign_stop,
}


def _control(request: AuthedRequest, slug: str, number: int, verb: str) -> HttpResponse:
    project = get_project_for(request.user, slug, Role.MAINTAINER)
    campaign = get_campaign(project, number)
    change = CONTROLS[verb]
    try:
        change(actor=request.user, campaign=campaign)
    except DomainError as error:
        messages.error(request, error.message)
    else:
        done = {"pause": "paused", "resume": "resumed", "stop": "stopped"}[verb]
        messages.success(request, f"Campaign {campaign.number} {done}.")
    return redirect("evolution:campaign", slug=project.slug, number=campaign.number)


@login_required
@require_POST
def campaign_pause(request: AuthedRequest, slug: str, number: int) -> HttpResponse:
    return _control(request, slug, number, "pause")


@login_required
@require_POST
def campaign_resume(request: AuthedRequest, slug: str, number: int) -> HttpResponse:
    return _control(request, slug, number, "resume")


@login_required
@require_POST
def campaign_stop(request: AuthedRequest, slug: str, number: int) -> HttpResponse:
    return _control(request, slug, number, "stop")


@login_required
@require_POST
def guidance_save(request: AuthedRequest, slug: str, number: int) -> HttpResponse:
    project = get_project_for(request.user, slug, Role.MAINTAINER)
    campaign = get_campaign(project, number)
    form = GuidanceForm(request.POST)
    if form.is_valid():
        try:
            guidance = actions.guidance_set(actor=request.user, campaign=campaign, text=form.cleaned_data["text"])
        except DomainError as error:
            add_domain_error(form, error)
        else:
            messages.success(request, f"Guidance v{guidance.number} saved: the next proposer prompt uses it.")
            leakage = summary_of(project, Subject.GUIDANCE, guidance.pk, role=role_of(project))
            if leakage.flagged:
                messages.warning(
                    request,
                    f"Guidance v{guidance.number} quotes {leakage.holdout_cases} holdout and {leakage.dev_cases} dev "
                    f"case(s) at length (longest overlap {leakage.longest} words): see the warning below it.",
                )
            return redirect("evolution:campaign", slug=project.slug, number=campaign.number)
    context = _campaign_context(request, project, campaign, guidance_form=form)
    return render(request, "evolution/campaign.html", context, status=422)


@login_required
@require_POST
def proposal_new(request: AuthedRequest, slug: str, number: int) -> HttpResponse:
    """A maintainer's own candidate: one file of the parent rewritten, the rest kept."""
    project = get_project_for(request.user, slug, Role.MAINTAINER)
    campaign = get_campaign(project, number)
    form, _ = _human_form(request, campaign, request.POST)
    if form.is_valid():
        try:
            proposal = actions.proposal_submit(
                actor=request.user, campaign=campaign, files=form.tree(), hypothesis=form.cleaned_data["hypothesis"]
            )
        except DomainError as error:
            add_domain_error(form, error)
        else:
            messages.success(request, f"Proposal #{proposal.number} queued: the next round evaluates it.")
            return redirect("evolution:campaign", slug=project.slug, number=campaign.number)
    context = _campaign_context(request, project, campaign, human_form=form)
    return render(request, "evolution/campaign.html", context, status=422)


@login_required
@require_http_methods(["GET", "POST"])
def policy_page(request: AuthedRequest, slug: str) -> HttpResponse:
    """Everyone reads the merge policy; owners edit it, and each edit is a new version."""
    project = get_project_for(request.user, slug, Role.OWNER if request.method == "POST" else Role.VIEWER)
    rules, number = actions.policy_current(project)
    status = 200
    if request.method == "POST":
        form = PolicyForm(request.POST)
        status = 422
        if form.is_valid():
            try:
                version = actions.policy_set(actor=request.user, project=project, rules=form.rules())
            except DomainError as error:
                form.add_error(policy_error_field(error.message), error.message)
            else:
                messages.success(request, f"Policy v{version.number} saved: proposals classified from now on use it.")
                return redirect("evolution:policy", slug=project.slug)
    else:
        form = PolicyForm(initial=PolicyForm.initial_for(rules))
    return _render_policy(request, project, (rules, number), form, PathOwnerForm(project=project), status)


def _render_policy(
    request: AuthedRequest,
    project: Project,
    current: tuple[PolicyRules, int],
    form: PolicyForm,
    owner_form: PathOwnerForm,
    status: int,
) -> HttpResponse:
    rules, number = current
    context = {
        "project": project,
        "form": form,
        "rules": rules,
        "number": number,
        "history": list(policy_history(project)),
        "can_edit": role_of(project).may_administer,
        "path_owners": list(path_owners_of(project)),
        "owner_form": owner_form,
    }
    return render(request, "evolution/policy.html", context, status=status)


@login_required
@require_POST
def path_owners(request: AuthedRequest, slug: str) -> HttpResponse:
    """Owners make a reviewer the owner of paths matching a pattern."""
    project = get_project_for(request.user, slug, Role.OWNER)
    owner_form = PathOwnerForm(request.POST, project=project)
    if owner_form.is_valid():
        try:
            owner = path_owner_set(
                actor=request.user,
                project=project,
                pattern=owner_form.cleaned_data["pattern"],
                user=owner_form.cleaned_data["user"],
            )
        except DomainError as error:
            add_domain_error(owner_form, error)
        else:
            messages.success(request, f"{owner.user.get_username()} now reviews changes to {owner.pattern}.")
            return redirect("evolution:policy", slug=project.slug)
    current = actions.policy_current(project)
    policy_form = PolicyForm(initial=PolicyForm.initial_for(current[0]))
    return _render_policy(request, project, current, policy_form, owner_form, 422)


@login_required
@require_POST
def path_owner_delete(request: AuthedRequest, slug: str, owner_id: int) -> HttpResponse:
    project = get_project_for(request.user, slug, Role.OWNER)
    owner = get_object_or_404(path_owners_of(project).select_related("project"), pk=owner_id)
    path_owner_remove(actor=request.user, owner=owner)
    messages.success(request, f"{owner.user.get_username()} no longer owns {owner.pattern}.")
    return redirect("evolution:policy", slug=project.slug)
