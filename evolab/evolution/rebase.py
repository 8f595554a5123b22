"""Revisions of proposals — rebase, request changes, revise — and reverting merged ones.

A proposal is never edited in place: its runs, statistics and votes belong to what it
was. A rebase (onto a head that moved) or a revision (after "request changes") is a new
Proposal — `revision_of` the old one, `revision` one higher — queued for the campaign's
next round, which evaluates it against its own base; the old one is closed as superseded.
Votes are bound to a diff and a base: a revision on the same base with the same diff
keeps them, a rebase (new base) starts without any.

A revert is a new version on head without the proposal's change (a three-way merge when
head has moved on since); nothing is rewritten.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from dataclasses import asdict

from django.contrib.auth.models import User
from django.db import transaction
from django.http import Http404
from django.utils import timezone

from evolab.core.actions import audit_record, event_emit
from evolab.core.errors import Conflict, ValidationFailed
from evolab.engine.edits import EditError, FileEdit, ProposalDraft, apply_edits
from evolab.engine.merge3 import Labels, TreeMerge, UnresolvedConflict, apply_resolutions, merge_trees
from evolab.evolution.actions import memory_record, proposal_number_next
from evolab.evolution.models import (
    Campaign,
    CampaignStatus,
    Comment,
    MemoryKind,
    Outcome,
    Proposal,
    ProposalStage,
    ProposerKind,
    Vote,
)
from evolab.evolution.notifications import notify
from evolab.evolution.review import comment_add
from evolab.harnesses.actions import check_harness_config, version_create
from evolab.harnesses.head_log import head_fields
from evolab.harnesses.models import HarnessHead, HarnessVersion
from evolab.harnesses.tree import TreeDiff, diff_trees, normalise_text, normalise_tree
from evolab.projects.models import Project, Role

MAX_NOTE_CHARS = 2000
# Campaigns whose next round still evaluates a queued revision.
OPEN_CAMPAIGN_STATUSES = (CampaignStatus.RUNNING, CampaignStatus.PAUSED)
CHANGES_REQUESTED = "Changes requested: "


def proposal_for_revision(project: Project, number: int) -> Proposal:
    """The proposal `number` with the trees a rebase, revision or revert reads."""
    proposal = (
        Proposal.objects.select_related("campaign", "base_version", "candidate_version", "author", "assignee")
        .filter(project=project, number=number)
        .first()
    )
    if proposal is None:
        raise Http404("No such proposal")
    proposal.project = project
    return proposal


def diff_hash(base_files: Mapping[str, str], files: Mapping[str, str]) -> str:
    """What votes are bound to: SHA-256 of the unified diff base → files (as the loop
    computes it for a candidate)."""
    return hashlib.sha256("".join(f.unified for f in diff_trees(base_files, files).files).encode()).hexdigest()


def full_file_edits(base_files: Mapping[str, str], files: Mapping[str, str]) -> list[FileEdit]:
    """Edits that turn `base_files` into `files`: deletions, then each new or changed
    file replaced whole (as `actions.proposal_submit` stores a person's proposal)."""
    deleted = [FileEdit(path=path, search="", replace="", delete=True) for path in sorted(set(base_files) - set(files))]
    return deleted + [
        FileEdit(path=path, search=base_files.get(path, ""), replace=text)
        for path, text in sorted(files.items())
        if base_files.get(path) != text
    ]


def proposal_tree(proposal: Proposal) -> dict[str, str] | None:
    """The proposal's file tree: its candidate version, or (queued, not evaluated yet) its
    edits applied to its base; None when neither gives one."""
    if proposal.candidate_version is not None:
        return dict(proposal.candidate_version.files)
    draft = ProposalDraft(hypothesis=proposal.hypothesis, edits=tuple(FileEdit(**edit) for edit in proposal.edits))
    try:
        return apply_edits(proposal.base_version.files, draft)
    except EditError:
        return None


def interdiff(old: Proposal, new: Proposal) -> TreeDiff:
    """What changed between two revisions: old candidate tree → new candidate tree."""
    return diff_trees(proposal_tree(old) or {}, proposal_tree(new) or {})


def _head(project: Project) -> HarnessVersion:
    head = HarnessHead.objects.select_related("version").filter(project=project).first()
    if head is None:
        raise Conflict("This project has no head.", field="head")
    return head.version


def _check_open(proposal: Proposal) -> None:
    if proposal.merged_at is not None:
        raise Conflict(f"Proposal #{proposal.number} is merged; revert it instead.", field="proposal")
    if proposal.closed_at is not None:
        raise Conflict(f"Proposal #{proposal.number} is closed: {proposal.closed_reason}.", field="proposal")
    if proposal.outcome == Outcome.AUTO_REJECT:
        raise Conflict(f"Proposal #{proposal.number} was rejected by the policy.", field="proposal")


def _check_revisable(proposal: Proposal) -> None:
    """An open, classified proposal of a campaign that still evaluates revisions."""
    _check_open(proposal)
    if proposal.stage != ProposalStage.CLASSIFIED or proposal.candidate_version_id is None:
        raise Conflict(
            f"Proposal #{proposal.number} is {proposal.get_stage_display()}; revise it once it is classified.",
            field="proposal",
        )
    campaign = proposal.campaign
    if campaign.status not in OPEN_CAMPAIGN_STATUSES:
        raise Conflict(
            f"Campaign {campaign.number} has ended ({campaign.status}): nothing would evaluate a revision. "
            "Start a campaign from head and propose the change there.",
            field="campaign",
        )


def _labels(proposal: Proposal, head: HarnessVersion) -> Labels:
    return Labels(
        ours=f"head v{head.number}", base=f"base v{proposal.base_version.number}", theirs=f"proposal #{proposal.number}"
    )


def rebase_preview(proposal: Proposal) -> TreeMerge:
    """The proposal's change merged onto head: base = its base, ours = head, theirs = its
    candidate."""
    if proposal.candidate_version is None:
        raise Conflict(f"Proposal #{proposal.number} made no version to rebase.", field="proposal")
    head = _head(proposal.project)
    return merge_trees(
        proposal.base_version.files, head.files, proposal.candidate_version.files, _labels(proposal, head)
    )


def _revision(
    *,
    actor: User,
    old: Proposal,
    base: HarnessVersion,
    files: dict[str, str],
    action: str,
    why: str,
    keep_votes: bool,
) -> Proposal:
    """Queue revision `old.revision + 1` of `old` with `files` on `base`, close `old` as
    "superseded by revision N" + `why`, and (`keep_votes`) carry over the votes still
    bound to the same diff."""
    with transaction.atomic():
        Project.objects.select_for_update().filter(pk=old.project_id).first()
        # Read again under the lock: two rebases of one proposal make one revision.
        _check_open(Proposal.objects.get(pk=old.pk))
        new = Proposal.objects.create(
            project_id=old.project_id,
            number=proposal_number_next(old.project),
            campaign_id=old.campaign_id,
            kind=old.kind,
            stage=ProposalStage.QUEUED,
            hypothesis=old.hypothesis,
            edits=[asdict(edit) for edit in full_file_edits(base.files, files)],
            base_version=base,
            diff_hash=diff_hash(base.files, files),
            revision_of=old,
            revision=old.revision + 1,
            author=old.author,
            assignee=old.assignee,
        )
        reason = f"superseded by revision {new.revision}{why}"[:300]
        Proposal.objects.filter(pk=old.pk).update(closed_at=timezone.now(), closed_by=actor, closed_reason=reason)
        if keep_votes:
            Vote.objects.bulk_create(
                Vote(proposal=new, voter_id=vote.voter_id, value=vote.value, diff_hash=new.diff_hash, base_version=base)
                for vote in Vote.objects.filter(proposal=old, diff_hash=new.diff_hash, base_version=base)
            )
        audit_record(
            actor=actor,
            project_id=old.project_id,
            action=action,
            object_type="proposal",
            object_id=new.pk,
            object_label=f"proposal {old.number} → {new.number} (revision {new.revision})",
            before={"proposal": old.number, "base": old.base_version.number},
            after={"proposal": new.number, "base": base.number, "revision": new.revision},
        )
        for proposal in (old, new):
            event_emit(project_id=old.project_id, type="proposal.status", object_type="proposal", object_id=proposal.pk)
    return new


def _resolutions(resolved: Mapping[str, str | None]) -> dict[str, str | None]:
    """Browser text in canonical form (CRLF → LF), so markers and trees compare as stored."""
    return {path: normalise_text(path, text) if text is not None else None for path, text in resolved.items()}


def check_rebase(proposal: Proposal) -> HarnessVersion:
    """Head, if the proposal may be rebased onto it; else Conflict saying why not."""
    _check_revisable(proposal)
    head = _head(proposal.project)
    if head.pk == proposal.base_version_id:
        raise Conflict(f"Proposal #{proposal.number} is already based on head v{head.number}.", field="head")
    return head


def proposal_rebase(
    *, actor: User, proposal: Proposal, resolved_files: Mapping[str, str | None] | None = None
) -> Proposal:
    """Rebase the proposal onto head as a new revision, queued for the next round. When
    the merge conflicts, `resolved_files` gives the finished text of each conflicting path
    (None deletes it); anything short of that refuses and writes nothing."""
    with transaction.atomic():
        head = check_rebase(proposal)
        merge = rebase_preview(proposal)
        if merge.clean and resolved_files:
            raise ValidationFailed("Nothing to resolve: head moved since the preview.", field="files")
        if not merge.clean and not resolved_files:
            paths = ", ".join(merge.conflict_paths)
            raise Conflict(
                f"Rebasing onto v{head.number} conflicts in {paths}: resolve them and rebase again.",
                field="files",
                details={"paths": merge.conflict_paths, "head": head.number},
            )
        try:
            files = apply_resolutions(merge, _resolutions(resolved_files or {}))
        except UnresolvedConflict as error:
            field = f"files[{error.path!r}]"
            raise ValidationFailed(error.message, field=field, details={"path": error.path}) from None
        tree = normalise_tree(files)
        check_harness_config(tree)
        if tree == head.files:
            raise Conflict(
                f"Rebased onto v{head.number}, proposal #{proposal.number} changes nothing: head already has it.",
                field="files",
            )
        return _revision(
            actor=actor,
            old=proposal,
            base=head,
            files=tree,
            action="proposal.rebase",
            why=f" (rebased onto v{head.number})",
            keep_votes=False,
        )


def proposal_request_changes(*, actor: User, proposal: Proposal, summary: str) -> Comment:
    """A reviewer asks for changes: a blocking comment (`review.comment_add`: it holds the
    merge until it is fixed, dropped, or the proposal is superseded by a revision, and it
    enters the campaign memory, so the proposer reads it too) and a notification to the
    author. A person's proposal stays open; its author answers with `proposal_revise`.
    A reflect proposal of a campaign still running is superseded at once by a revision
    request, which the loop answers by asking the proposer with the comments."""
    summary = " ".join(summary.split())
    if not summary:
        raise ValidationFailed("Say what should change.", field="summary")
    _check_open(proposal)
    with transaction.atomic():
        comment = comment_add(actor=actor, proposal=proposal, text=CHANGES_REQUESTED + summary, blocking=True)
        audit_record(
            actor=actor,
            project_id=proposal.project_id,
            action="proposal.request_changes",
            object_type="proposal",
            object_id=proposal.pk,
            object_label=f"proposal {proposal.number}",
            after={"comment": comment.pk},
        )
        if proposal.kind == ProposerKind.REFLECT and _model_may_revise(proposal):
            _revision_request(actor=actor, old=proposal)
        if proposal.author is not None and proposal.author.pk != actor.pk:
            notify(
                user=proposal.author,
                project=proposal.project,
                kind="changes_requested",
                text=f"{actor.get_username()} requested changes on proposal #{proposal.number}",
                proposal=proposal,
            )
    return comment


def _model_may_revise(proposal: Proposal) -> bool:
    return (
        proposal.campaign.status in OPEN_CAMPAIGN_STATUSES
        and proposal.stage == ProposalStage.CLASSIFIED
        and proposal.candidate_version_id is not None
    )


def _revision_request(*, actor: User, old: Proposal) -> Proposal:
    """Queue an empty revision of a reflect proposal (no hypothesis yet): the loop asks the
    proposer for it in the next round, with the reviewers' comments in the prompt."""
    Project.objects.select_for_update().filter(pk=old.project_id).first()
    new = Proposal.objects.create(
        project_id=old.project_id,
        number=proposal_number_next(old.project),
        campaign_id=old.campaign_id,
        kind=ProposerKind.REFLECT,
        stage=ProposalStage.QUEUED,
        hypothesis="",
        base_version=old.base_version,
        revision_of=old,
        revision=old.revision + 1,
        assignee=old.assignee,
    )
    reason = f"superseded by revision {new.revision} (changes requested; the proposer revises it)"
    Proposal.objects.filter(pk=old.pk).update(closed_at=timezone.now(), closed_by=actor, closed_reason=reason)
    event_emit(project_id=old.project_id, type="proposal.status", object_type="proposal", object_id=new.pk)
    return new


def may_revise(role: Role, user: User, proposal: Proposal) -> bool:
    """Maintainers revise any human proposal; its author revises their own."""
    return role >= Role.MAINTAINER or (proposal.author_id is not None and proposal.author_id == user.pk)


def proposal_revise(*, actor: User, proposal: Proposal, files: Mapping[str, str], note: str) -> Proposal:
    """A new revision of a person's proposal on the same base, queued for the next round;
    votes given on the same diff carry over (a revision that only answers with a note)."""
    note = note.strip()
    if not note:
        raise ValidationFailed("Say what this revision changes.", field="note")
    if len(note) > MAX_NOTE_CHARS:
        raise ValidationFailed(f"Keep the note under {MAX_NOTE_CHARS:,} characters.", field="note")
    if proposal.kind != ProposerKind.HUMAN:
        raise Conflict(
            f"Proposal #{proposal.number} came from the {proposal.kind} proposer: request changes, "
            "and the reviewers' comments reach it through the campaign memory.",
            field="proposal",
        )
    _check_revisable(proposal)
    tree = normalise_tree(files)
    check_harness_config(tree)
    base = proposal.base_version
    if tree == base.files:
        raise ValidationFailed(f"These are the files of the base v{base.number}: nothing is proposed.", field="files")
    return _revision(
        actor=actor,
        old=proposal,
        base=base,
        files=tree,
        action="proposal.revise",
        why=": " + " ".join(note.split()),
        keep_votes=True,
    )


def proposal_revert(*, actor: User, proposal: Proposal, reason: str) -> HarnessVersion:
    """Take a merged proposal's change out of head, as a new version on head (compare-and-
    swap). Head still at its candidate → its base's files; head moved on → a three-way
    merge that removes only the proposal's change, refused (nothing written) on conflict."""
    reason = " ".join(reason.split())
    if not reason:
        raise ValidationFailed("Say why it is reverted.", field="reason")
    if len(reason) > MAX_NOTE_CHARS:
        raise ValidationFailed(f"Keep the reason under {MAX_NOTE_CHARS:,} characters.", field="reason")
    candidate = proposal.candidate_version
    if proposal.merged_at is None or candidate is None:
        raise Conflict(f"Proposal #{proposal.number} was never merged: nothing to revert.", field="proposal")
    base = proposal.base_version
    with transaction.atomic():
        head = _head(proposal.project)
        if head.pk == candidate.pk:
            files = dict(base.files)
        else:
            labels = Labels(ours=f"head v{head.number}", base=f"proposal #{proposal.number}", theirs=f"v{base.number}")
            merge = merge_trees(candidate.files, head.files, base.files, labels)
            if not merge.clean:
                paths = ", ".join(merge.conflict_paths)
                raise Conflict(
                    f"Cannot revert proposal #{proposal.number} onto v{head.number}: {paths} changed since. "
                    "Revert by hand from the harness page.",
                    field="proposal",
                    details={"paths": merge.conflict_paths, "head": head.number},
                )
            files = merge.files
        if files == head.files:
            raise Conflict(f"Head v{head.number} no longer has proposal #{proposal.number}'s change.", field="proposal")
        version = version_create(
            actor=actor,
            project=proposal.project,
            files=files,
            message=f"Revert proposal #{proposal.number}: {reason}",
            parents=[head],
            audited_by_caller=True,  # the proposal.revert event below records the version and the move
        )
        # A campaign that was following head follows the revert (as a merge moves it).
        Campaign.objects.filter(pk=proposal.campaign_id, parent_version=head).update(parent_version=version)
        memory_record(
            campaign=proposal.campaign,
            proposal=proposal,
            kind=MemoryKind.REVIEW,
            text=f"proposal #{proposal.number} was reverted by {actor.get_username()}: {reason}",
        )
        audit_record(
            actor=actor,
            project_id=proposal.project_id,
            action="proposal.revert",
            object_type="proposal",
            object_id=proposal.pk,
            object_label=f"proposal {proposal.number} reverted in v{version.number}",
            before=head_fields(head),
            after={**head_fields(version), "parents": [head.number], "files": len(version.files), "reason": reason},
        )
        event_emit(
            project_id=proposal.project_id, type="proposal.status", object_type="proposal", object_id=proposal.pk
        )
    return version
