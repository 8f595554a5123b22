"""The review panel's forms on the proposal page — vote, comment, resolve, merge, reject,
request changes, revert — and the page that revises a person's proposal.

Each POST calls one action. To htmx it answers with the review panel's inner HTML (the
forms target `#review-panel`), the action's refusal shown next to the form that asked;
without JS it redirects back to the page with the outcome as a message. htmx swaps only
2xx answers, so a refused action answers 200 with the refusal in the panel.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from django import forms
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.http import Http404, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.views.decorators.http import require_http_methods, require_POST

from evolab.core.errors import DomainError, ValidationFailed
from evolab.core.forms import add_domain_error
from evolab.core.http import AuthedRequest
from evolab.evolution.models import Comment, CommentAnchor, Outcome, Proposal, ProposerKind, Resolution, VoteValue
from evolab.evolution.proposal_selectors import get_proposal, revision_chain
from evolab.evolution.rebase import (
    interdiff,
    may_revise,
    proposal_for_revision,
    proposal_request_changes,
    proposal_revert,
    proposal_revise,
    proposal_tree,
)
from evolab.evolution.review import (
    comment_add,
    comment_resolve,
    comments_of,
    proposal_merge_reviewed,
    proposal_reject,
    review_of,
    vote_cast,
)
from evolab.projects.models import Project, Role
from evolab.projects.selectors import get_project_for, role_of

PANEL_TEMPLATE = "evolution/proposal_review.html"
# Radio ids and labels; a minus sign (U+2212) reads better than a hyphen.
VOTE_CHOICES = (
    (VoteValue.VETO, "vote-m2", "\u22122 veto"),
    (VoteValue.AGAINST, "vote-m1", "\u22121"),
    (VoteValue.FOR, "vote-p1", "+1"),
    (VoteValue.APPROVE, "vote-p2", "+2 approve"),
)


# --- the panel ------------------------------------------------------------------------


@dataclass
class Thread:
    comment: Comment
    replies: list[Thread] = field(default_factory=list)


def _threads(comments: list[Comment]) -> list[Thread]:
    """Comments (oldest first) as threads; a reply whose parent is not shown is left out."""
    nodes = {comment.pk: Thread(comment) for comment in comments}
    roots = []
    for comment in comments:
        if comment.parent_id is None:
            roots.append(nodes[comment.pk])
        elif comment.parent_id in nodes:
            nodes[comment.parent_id].replies.append(nodes[comment.pk])
    return roots


def _is_open(proposal: Proposal) -> bool:
    """Whether votes and blocking comments are still taken (as `review.vote_cast` checks)."""
    return (
        proposal.merged_at is None
        and proposal.closed_at is None
        and proposal.outcome != Outcome.AUTO_REJECT
        and bool(proposal.diff_hash)
    )


def _revisions(request: AuthedRequest, proposal: Proposal) -> dict[str, Any]:
    chain = revision_chain(proposal)
    if not chain:
        return {}
    position = next(i for i, link in enumerate(chain) if link.current) + 1
    context: dict[str, Any] = {"revision_position": position, "revision_count": len(chain)}
    if proposal.revision_of_id is not None:
        context["previous_number"] = next(
            (link.number for link in chain if link.revision == proposal.revision - 1), None
        )
        # The interdiff is read only when asked for: its lines carry the same ids as the
        # diff panel's, which anchors and links rely on.
        if request.GET.get("interdiff") == "1":
            pair = {
                p.pk: p
                for p in Proposal.objects.select_related("base_version", "candidate_version").filter(
                    pk__in=[proposal.pk, proposal.revision_of_id]
                )
            }
            context["interdiff"] = interdiff(pair[proposal.revision_of_id], pair[proposal.pk])
    return context


def review_panel_context(request: AuthedRequest, project: Project, proposal: Proposal) -> dict[str, Any]:
    """What the review panel shows `request.user`, in a fixed number of queries."""
    role = role_of(project)
    review = review_of(proposal, role)
    user = request.user
    open_ = _is_open(proposal)
    return {
        "review": review,
        "state": review.state,
        "threads": _threads(review.comments),
        "open_blocking": [c for c in review.comments if c.blocking and c.resolution == Resolution.OPEN],
        "my_vote": next((row.vote.value for row in review.state.votes if row.vote.voter_id == user.pk), None),
        "vote_choices": VOTE_CHOICES,
        "anchor_choices": CommentAnchor.choices,
        "is_open": open_,
        "can_review": role >= Role.REVIEWER,
        "can_merge": role >= Role.MAINTAINER,
        "can_resolve_any": role >= Role.MAINTAINER,
        "can_revise": open_ and proposal.kind == ProposerKind.HUMAN and may_revise(role, user, proposal),
        "proposal_url": reverse("evolution:proposal", args=[project.slug, proposal.number]),
        **_revisions(request, proposal),
    }


def _answer(
    request: AuthedRequest,
    project: Project,
    number: int,
    *,
    notice: str = "",
    form: str = "",
    error: DomainError | None = None,
    comment_id: int | None = None,
) -> HttpResponse:
    if not request.htmx:  # type: ignore[attr-defined]
        if error is not None:
            messages.error(request, error.message)
        else:
            messages.success(request, notice)
        return redirect(reverse("evolution:proposal", args=[project.slug, number]) + "#review-panel")
    proposal = get_proposal(project, number)
    context = {
        "project": project,
        "proposal": proposal,
        "campaign": proposal.campaign,
        "notice": notice,
        "error_form": form if error is not None else "",
        "error": error,
        "error_comment": comment_id,
        "posted": request.POST if error is not None else {},
        **review_panel_context(request, project, proposal),
    }
    response = render(request, PANEL_TEMPLATE, context)
    response["Vary"] = "HX-Request"
    return response


def _act(
    request: AuthedRequest,
    slug: str,
    number: int,
    min_role: Role,
    form: str,
    action: Callable[[Project, Proposal], str],
    *,
    load: Callable[[Project, int], Proposal] = get_proposal,
) -> HttpResponse:
    project = get_project_for(request.user, slug, min_role)
    proposal = load(project, number)
    try:
        notice = action(project, proposal)
    except DomainError as error:
        return _answer(request, project, number, form=form, error=error)
    return _answer(request, project, number, notice=notice)


# --- the forms ------------------------------------------------------------------------


@login_required
@require_POST
def proposal_vote(request: AuthedRequest, slug: str, number: int) -> HttpResponse:
    def act(project: Project, proposal: Proposal) -> str:
        raw = request.POST.get("value", "")
        try:
            value = int(raw)
        except ValueError:
            raise ValidationFailed("Choose a vote.", field="value") from None
        vote = vote_cast(actor=request.user, proposal=proposal, value=value)
        return f"You voted {vote.get_value_display()} on proposal #{proposal.number}."

    return _act(request, slug, number, Role.REVIEWER, "vote", act)


def _parent(project: Project, proposal: Proposal, raw: str) -> Comment | None:
    if not raw:
        return None
    parent = comments_of(proposal, role_of(project)).filter(pk=int(raw) if raw.isdigit() else 0).first()
    if parent is None:
        raise ValidationFailed("Reply to a comment of this proposal.", field="parent")
    return parent


@login_required
@require_POST
def proposal_comment(request: AuthedRequest, slug: str, number: int) -> HttpResponse:
    data = request.POST

    def act(project: Project, proposal: Proposal) -> str:
        line = data.get("line", "").strip()
        comment = comment_add(
            actor=request.user,
            proposal=proposal,
            text=data.get("text", ""),
            anchor=data.get("anchor") or CommentAnchor.PROPOSAL,
            path=data.get("path", "").strip(),
            line=int(line) if line.isdigit() else None,
            case_key=data.get("case_key", "").strip(),
            blocking=data.get("blocking") in ("on", "1", "true"),
            parent=_parent(project, proposal, data.get("parent", "")),
        )
        return "Blocking comment added." if comment.blocking else "Comment added."

    return _act(request, slug, number, Role.REVIEWER, "reply" if data.get("parent") else "comment", act)


@login_required
@require_POST
def proposal_comment_resolve(request: AuthedRequest, slug: str, number: int, comment_id: int) -> HttpResponse:
    project = get_project_for(request.user, slug, Role.REVIEWER)
    proposal = get_proposal(project, number)
    comment = comments_of(proposal, role_of(project)).filter(pk=comment_id).first()
    if comment is None:
        raise Http404("No such comment")
    comment.proposal = proposal
    try:
        resolved = comment_resolve(
            actor=request.user,
            comment=comment,
            resolution=request.POST.get("resolution", ""),
            reason=request.POST.get("reason", ""),
        )
    except DomainError as error:
        return _answer(request, project, number, form="resolve", error=error, comment_id=comment.pk)
    return _answer(request, project, number, notice=f"Comment marked {resolved.resolution}.")


@login_required
@require_POST
def proposal_merge(request: AuthedRequest, slug: str, number: int) -> HttpResponse:
    def act(project: Project, proposal: Proposal) -> str:
        proposal_merge_reviewed(actor=request.user, proposal=proposal)
        return f"Proposal #{proposal.number} merged."

    return _act(request, slug, number, Role.MAINTAINER, "merge", act)


@login_required
@require_POST
def proposal_reject_view(request: AuthedRequest, slug: str, number: int) -> HttpResponse:
    def act(project: Project, proposal: Proposal) -> str:
        proposal_reject(actor=request.user, proposal=proposal, reason=request.POST.get("reason", ""))
        return f"Proposal #{proposal.number} rejected."

    return _act(request, slug, number, Role.MAINTAINER, "reject", act)


@login_required
@require_POST
def proposal_request_changes_view(request: AuthedRequest, slug: str, number: int) -> HttpResponse:
    def act(project: Project, proposal: Proposal) -> str:
        proposal_request_changes(actor=request.user, proposal=proposal, summary=request.POST.get("summary", ""))
        return "Changes requested: a blocking comment holds the merge until it is resolved."

    return _act(request, slug, number, Role.REVIEWER, "request_changes", act, load=proposal_for_revision)


@login_required
@require_POST
def proposal_revert_view(request: AuthedRequest, slug: str, number: int) -> HttpResponse:
    def act(project: Project, proposal: Proposal) -> str:
        version = proposal_revert(actor=request.user, proposal=proposal, reason=request.POST.get("reason", ""))
        return f"Proposal #{proposal.number} reverted: head is v{version.number}."

    return _act(request, slug, number, Role.MAINTAINER, "revert", act, load=proposal_for_revision)


# --- the revise page ------------------------------------------------------------------


class RevisionForm(forms.Form):
    """One file of the proposal's tree rewritten whole, and what the revision changes."""

    path = forms.ChoiceField(label="File")
    text = forms.CharField(
        label="New text",
        widget=forms.Textarea(attrs={"rows": 16, "class": "mono", "spellcheck": "false"}),
        required=False,
        strip=False,
    )
    note = forms.CharField(widget=forms.Textarea(attrs={"rows": 3}), help_text="What this revision changes, and why.")

    def __init__(self, *args: Any, files: dict[str, str], **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.tree_files = files
        choice = self.fields["path"]
        assert isinstance(choice, forms.ChoiceField)
        choice.choices = [(path, path) for path in sorted(files)]

    def tree(self) -> dict[str, str]:
        return {**self.tree_files, self.cleaned_data["path"]: self.cleaned_data["text"]}


@login_required
@require_http_methods(["GET", "POST"])
def proposal_revise_page(request: AuthedRequest, slug: str, number: int) -> HttpResponse:
    """A new revision of a person's proposal: one file of its tree edited, with a note."""
    project = get_project_for(request.user, slug)
    proposal = proposal_for_revision(project, number)
    if not may_revise(role_of(project), request.user, proposal):
        raise PermissionDenied("Maintainers revise a proposal; its author revises their own.")
    files = proposal_tree(proposal) or {}
    status = 200
    if request.method == "POST":
        form = RevisionForm(request.POST, files=files)
        status = 422
        if form.is_valid():
            try:
                revision = proposal_revise(
                    actor=request.user, proposal=proposal, files=form.tree(), note=form.cleaned_data["note"]
                )
            except DomainError as error:
                add_domain_error(form, error)
                status = error.status
            else:
                messages.success(
                    request,
                    f"Revision {revision.revision} queued as #{revision.number}: "
                    "the campaign's next round evaluates it.",
                )
                return redirect("evolution:proposal", slug=project.slug, number=revision.number)
    else:
        form = RevisionForm(files=files)
        chosen = request.GET.get("path", "")
        path = chosen if chosen in files else next(iter(sorted(files)), "")
        form.initial = {"path": path, "text": files.get(path, "")}
    context = {"project": project, "proposal": proposal, "form": form}
    return render(request, "evolution/proposal_revise.html", context, status=status)
