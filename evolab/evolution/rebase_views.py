"""The rebase page of a proposal: its change merged onto head, each conflicting file as
an editable text prefilled with the merge's markers, and the button that queues the
rebased revision for the campaign's next round."""

from __future__ import annotations

from typing import Any

from django import forms
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import HttpResponse
from django.shortcuts import redirect, render
from django.views.decorators.http import require_http_methods

from evolab.core.errors import Conflict, DomainError
from evolab.core.http import AuthedRequest
from evolab.engine.merge3 import MergeConflict, TreeMerge
from evolab.evolution.models import Proposal
from evolab.evolution.rebase import check_rebase, proposal_for_revision, proposal_rebase, rebase_preview
from evolab.harnesses.models import HarnessVersion
from evolab.harnesses.tree import diff_trees
from evolab.projects.models import Project, Role
from evolab.projects.selectors import get_project_for

DELETABLE = ("delete/modify", "modify/delete")


class ResolutionForm(forms.Form):
    """One textarea per conflicting file (`file_<i>`), a `delete_<i>` box for a file one
    side deleted, and the head the page was shown for: resolutions written for one merge
    must not be applied to another."""

    head = forms.IntegerField(widget=forms.HiddenInput)

    def __init__(self, merge: TreeMerge, head: HarnessVersion, data: Any = None) -> None:
        super().__init__(data, initial={"head": head.number})
        self.conflicts = merge.conflicts
        self.head_number = head.number
        for index, conflict in enumerate(self.conflicts):
            self.fields[f"file_{index}"] = forms.CharField(
                label=conflict.path,
                required=False,
                strip=False,
                initial=conflict.merged_with_markers,
                widget=forms.Textarea(attrs={"rows": 14, "class": "mono", "spellcheck": "false"}),
            )
            if conflict.kind in DELETABLE:
                self.fields[f"delete_{index}"] = forms.BooleanField(label=f"Delete {conflict.path}", required=False)

    def clean_head(self) -> int:
        number: int = self.cleaned_data["head"]
        if number != self.head_number:
            raise forms.ValidationError(
                f"Head moved from v{number} to v{self.head_number} since this page was shown: review the merge again."
            )
        return number

    def rows(self) -> list[tuple[MergeConflict, forms.BoundField, forms.BoundField | None]]:
        return [
            (conflict, self[f"file_{i}"], self[f"delete_{i}"] if f"delete_{i}" in self.fields else None)
            for i, conflict in enumerate(self.conflicts)
        ]

    def field_for(self, error: DomainError) -> str | None:
        """The textarea of the file an action's error names, if any."""
        path = error.details.get("path") if isinstance(error.details, dict) else None
        return next((f"file_{i}" for i, c in enumerate(self.conflicts) if c.path == path), None)

    def resolutions(self) -> dict[str, str | None] | None:
        if not self.conflicts:
            return None
        return {
            conflict.path: None if self.cleaned_data.get(f"delete_{i}") else self.cleaned_data[f"file_{i}"]
            for i, conflict in enumerate(self.conflicts)
        }


def _render(
    request: AuthedRequest,
    project: Project,
    proposal: Proposal,
    *,
    head: HarnessVersion | None = None,
    merge: TreeMerge | None = None,
    form: ResolutionForm | None = None,
    refusal: str = "",
    status: int = 200,
) -> HttpResponse:
    context = {
        "project": project,
        "proposal": proposal,
        "head": head,
        "merge": merge,
        "form": form,
        "refusal": refusal,
        # What the rebased revision changes on head (a conflicting file shows its markers).
        "tree_diff": diff_trees(head.files, merge.files) if head is not None and merge is not None else None,
        "old": head,
        "view": "unified",
    }
    return render(request, "evolution/rebase.html", context, status=status)


@login_required
@require_http_methods(["GET", "POST"])
def proposal_rebase_page(request: AuthedRequest, slug: str, number: int) -> HttpResponse:
    """The merge onto head, conflicts to resolve; POST queues the rebased revision."""
    project = get_project_for(request.user, slug, Role.MAINTAINER)
    proposal = proposal_for_revision(project, number)
    try:
        head = check_rebase(proposal)
        merge = rebase_preview(proposal)
    except DomainError as error:
        return _render(
            request, project, proposal, refusal=error.message, status=200 if request.method == "GET" else 409
        )
    form = ResolutionForm(merge, head, request.POST if request.method == "POST" else None)
    if request.method == "GET" or not form.is_valid():
        status = 200 if request.method == "GET" else 422
        return _render(request, project, proposal, head=head, merge=merge, form=form, status=status)
    try:
        revision = proposal_rebase(actor=request.user, proposal=proposal, resolved_files=form.resolutions())
    except DomainError as error:
        form.add_error(form.field_for(error), error.message)
        status = 409 if isinstance(error, Conflict) else 422
        return _render(request, project, proposal, head=head, merge=merge, form=form, status=status)
    messages.success(
        request,
        f"Proposal #{proposal.number} rebased onto v{revision.base_version.number} as #{revision.number} "
        f"(revision {revision.revision}): the campaign's next round evaluates it.",
    )
    return redirect("evolution:campaign", slug=project.slug, number=proposal.campaign.number)
