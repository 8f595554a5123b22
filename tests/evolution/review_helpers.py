"""Proposals that wait for review, written directly (no model is called): a real
candidate version off the campaign's parent, with its diff hash, as the loop leaves it."""

from __future__ import annotations

import hashlib
from typing import Any

from evolab.evolution.models import Campaign, Outcome, Proposal, ProposalStage, ProposerKind
from evolab.harnesses.actions import version_create
from evolab.harnesses.tree import diff_trees
from evolab.projects.models import Role
from tests.factories import MembershipFactory, UserFactory

CHANGED_PATH = "skills/refunds.md"


def waiting(
    campaign: Campaign,
    *,
    text: str = "Refunds need a receipt.\n",
    path: str = CHANGED_PATH,
    outcome: str = Outcome.NEEDS_REVIEW,
    reasons: list[dict[str, str]] | None = None,
    **fields: Any,
) -> Proposal:
    """A classified proposal on the campaign's parent that changes `path` to `text`."""
    base = campaign.parent_version
    files = {**base.files, path: text}
    candidate = version_create(
        actor=None,
        project=campaign.project,
        files=files,
        message=f"candidate {text[:20]}",
        parents=[base],
        move_head=False,
    )
    diff = diff_trees(base.files, files)
    last = Proposal.objects.filter(project_id=campaign.project_id).order_by("-number").first()
    return Proposal.objects.create(
        project_id=campaign.project_id,
        number=(last.number if last else 0) + 1,
        campaign=campaign,
        kind=fields.pop("kind", ProposerKind.REFLECT),
        stage=ProposalStage.CLASSIFIED,
        hypothesis="ask for a receipt",
        base_version=base,
        candidate_version=candidate,
        touched_paths=[path],
        diff_lines=diff.added + diff.removed,
        diff_hash=hashlib.sha256("".join(f.unified for f in diff.files).encode()).hexdigest(),
        outcome=outcome,
        reasons=reasons or [{"code": "policy_requires_review", "text": "The policy sends every merge to a person."}],
        **fields,
    )


def member(project: Any, username: str, role: Role) -> Any:
    user = UserFactory(username=username)
    MembershipFactory(project=project, user=user, role=role)
    return user
