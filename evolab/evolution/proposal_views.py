"""The proposal page: what changed, what it did to the scores, the cases behind the
numbers, and a case's transcripts before and after.

One URL serves the page and, to htmx, each of its panels (`?panel=header|diff|scores|
evidence|pair|review`); the query carries the panel's state (`view=split`, the evidence
filters, `case` and `sample`), so every state is also a plain link that renders the
whole page. Access is checked here for every panel: viewers and up read; the guard's
numbers and held-out cases are only read for maintainers and owners.

The review panel (votes, merge) lives in `evolution/proposal_review.html`, built with
the review actions; the page shows it only when that template exists.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from django.contrib.auth.decorators import login_required
from django.core.paginator import Paginator
from django.http import Http404, HttpResponse
from django.shortcuts import render
from django.template import TemplateDoesNotExist
from django.template.loader import get_template
from django.views.decorators.http import require_GET

from evolab.core.http import AuthedRequest
from evolab.evals.selectors import can_see_holdout
from evolab.evolution.models import Proposal
from evolab.evolution.policy import PolicyRules
from evolab.evolution.proposal_selectors import (
    EVIDENCE_SORTS,
    RunPair,
    case_deltas,
    delta_histogram,
    evidence_pairs,
    evidence_rows,
    evidence_tags,
    get_proposal,
    head_info,
    param_rows,
    proposal_diff,
    proposal_policy,
    proposal_status,
    revision_chain,
    run_numbers,
    selection_pair,
    transcript_pair,
    usage_change,
)
from evolab.evolution.review_views import review_panel_context
from evolab.evolution.selectors import points_text, shown_reasons, tone_of
from evolab.leakage.models import Subject
from evolab.leakage.selectors import summary_of
from evolab.projects.models import Project, Role
from evolab.projects.selectors import get_project_for, role_of

EVIDENCE_PAGE_SIZE = 50
REVIEW_TEMPLATE = "evolution/proposal_review.html"
PANELS = ("header", "review", "scores", "diff", "evidence", "pair")


def review_panel_exists() -> bool:
    """Whether the review partial has been built (it comes with the review actions)."""
    try:
        get_template(REVIEW_TEMPLATE)
    except TemplateDoesNotExist:
        return False
    return True


@dataclass(frozen=True)
class EvidenceFilters:
    split: str
    regressions: bool
    tag: str
    sort: str

    @property
    def narrowed(self) -> bool:
        return self.regressions or bool(self.tag)


def _filters(request: AuthedRequest, pairs: dict[str, RunPair], default_split: str) -> EvidenceFilters:
    split = request.GET.get("split", "")
    sort = request.GET.get("sort", "delta")
    return EvidenceFilters(
        # A split this viewer may not list (the guard, below maintainer) falls back to
        # the selection split rather than answering differently for a sealed one.
        split=split if split in pairs else default_split,
        regressions=request.GET.get("regressions") == "1",
        tag=request.GET.get("tag", "").strip(),
        sort=sort if sort in EVIDENCE_SORTS else "delta",
    )


def _sample(request: AuthedRequest) -> int:
    raw = request.GET.get("sample", "0")
    return int(raw) if raw.isdigit() else 0


def _proposal_context(
    request: AuthedRequest, project: Project, number: int, panel: str | None = None
) -> dict[str, Any]:
    """What the page (or one panel) shows; each panel's data is read only when shown."""
    proposal = get_proposal(project, number)
    role = role_of(project)
    sees_holdout = can_see_holdout(role)
    wanted = {panel} if panel else set(PANELS)
    pairs = evidence_pairs(proposal, sees_holdout=sees_holdout)
    selection = selection_pair(proposal)
    context: dict[str, Any] = {
        "project": project,
        "proposal": proposal,
        "campaign": proposal.campaign,
        "sees_holdout": sees_holdout,
        "can_review": role >= Role.REVIEWER,
        "can_merge": role >= Role.MAINTAINER,
        "view": "split" if request.GET.get("view") == "split" else "unified",
    }
    # Run numbers, for links to the runs (the scores and the transcript pair show them).
    run_ids = run_numbers(proposal, {**pairs, selection.split: selection}) if wanted & {"scores", "pair"} else {}
    policy: PolicyRules | None = None
    if wanted & {"diff", "evidence", "pair"}:
        policy = proposal_policy(proposal)
        context["critical_tag"] = policy.critical_tag
    if "header" in wanted:
        context.update(
            status=proposal_status(proposal, head_info(project)),
            reasons=shown_reasons(proposal, sees_holdout=sees_holdout),
            revisions=revision_chain(proposal),
            leakage=summary_of(project, Subject.PROPOSAL, proposal.pk, role=role),
        )
    if "review" in wanted:
        context["has_review"] = review_panel_exists()
        context["review_template"] = REVIEW_TEMPLATE
        if context["has_review"]:
            context.update(review_panel_context(request, project, proposal))
    filters = _filters(request, pairs, selection.split)
    # The histogram and the default evidence (regressions first, on the selection split)
    # show the same per-case numbers: one pass over the results serves both.
    default_evidence = "evidence" in wanted and filters == EvidenceFilters(selection.split, False, "", "delta")
    selection_cases = case_deltas(selection) if "scores" in wanted or default_evidence else []
    if "scores" in wanted:
        comparison = proposal.stats.get("comparison")
        context.update(
            comparison=comparison,
            comparison_text=points_text(comparison),
            comparison_tone=tone_of(comparison),
            guard_state=_guard_state(proposal),
            usage=usage_change(selection),
            histogram=delta_histogram(selection_cases),
            selection=selection,
            parent_run_number=run_ids.get(selection.parent_run_id or 0),
            candidate_run_number=run_ids.get(selection.candidate_run_id or 0),
        )
        if sees_holdout:
            guard = proposal.stats.get("guard")
            context.update(guard=guard, guard_text=points_text(guard), guard_tone=tone_of(guard))
    if "diff" in wanted:
        assert policy is not None
        context.update(
            tree_diff=proposal_diff(proposal),
            old=proposal.base_version,
            new=proposal.candidate_version,
            highlight_diff=True,
            params=param_rows(proposal, policy),
            runner_backend=proposal.campaign.runner_backend,
        )
    if "evidence" in wanted:
        assert policy is not None
        pair = pairs.get(filters.split)
        context.update(filters=filters, splits=list(pairs), evidence_pair=pair)
        if pair is not None and pair.complete:
            if default_evidence:
                cases = selection_cases
            else:
                cases = case_deltas(pair, regressions=filters.regressions, tag=filters.tag, sort=filters.sort)
            page = Paginator(cases, EVIDENCE_PAGE_SIZE).get_page(request.GET.get("page"))
            context["page"] = page
            context["rows"] = evidence_rows(list(page), critical_tag=policy.critical_tag)
            context["tags"] = evidence_tags(proposal, pair.split)
    if "pair" in wanted and request.GET.get("case"):
        context["pair"] = transcript_pair(proposal, pairs, request.GET["case"], _sample(request), run_ids)
    return context


def _guard_state(proposal: Proposal) -> str:
    """What everyone may know of the held-out guard: "passed", "diverged" or "not run"."""
    if not proposal.stats.get("guard"):
        return "not run"
    return "diverged" if proposal.stats.get("diverged") else "passed"


@login_required
@require_GET
def proposal_detail(request: AuthedRequest, slug: str, number: int) -> HttpResponse:
    """The proposal page; to htmx, the panel named by `?panel=` alone."""
    project = get_project_for(request.user, slug)
    panel = request.GET.get("panel", "")
    htmx = request.htmx  # type: ignore[attr-defined]
    if htmx and not htmx.history_restore_request and panel in PANELS:
        context = _proposal_context(request, project, number, panel)
        if panel == "review" and not context["has_review"]:
            raise Http404("No review panel")
        return render(request, f"evolution/proposal.html#{panel}", context)
    return render(request, "evolution/proposal.html", _proposal_context(request, project, number))
