"""Revisions of proposals: rebase onto head (the action, the page, the API), request
changes and revise, the interdiff, and the loop evaluating a rebased revision against its
own base."""

from __future__ import annotations

import json
from typing import Any

import pytest
from django.utils import timezone

from evolab.core.errors import Conflict, ValidationFailed
from evolab.core.models import AuditEvent
from evolab.engine.edits import FileEdit, ProposalDraft, apply_edits, normalised_diff_key
from evolab.evolution import actions, rebase
from evolab.evolution.models import (
    Campaign,
    CampaignStatus,
    Comment,
    MemoryEntry,
    Notification,
    Outcome,
    Proposal,
    ProposalStage,
    ProposerKind,
    Vote,
    VoteValue,
)
from evolab.harnesses.actions import version_create
from evolab.harnesses.models import HarnessVersion
from evolab.harnesses.selectors import head_of
from evolab.projects.models import Role
from tests.evolution.conftest import Evo, drive

REFUNDS = "skills/refunds.md"
RULE = "Customers can get a refund when they ask for it within 30 days of delivery.\n"


def classified(
    evo: Evo,
    campaign: Campaign,
    changes: dict[str, str | None],
    *,
    base: HarnessVersion | None = None,
    kind: str = ProposerKind.HUMAN,
    outcome: str = Outcome.NEEDS_REVIEW,
) -> Proposal:
    """A proposal the loop has evaluated and classified: `changes` applied to `base`
    (None deletes a file), as its candidate version."""
    base = base or campaign.parent_version
    files = {**base.files, **{path: text for path, text in changes.items() if text is not None}}
    files = {path: text for path, text in files.items() if changes.get(path, "") is not None}
    candidate = version_create(
        actor=None, project=campaign.project, files=files, message="candidate", parents=[base], move_head=False
    )
    return Proposal.objects.create(
        project=campaign.project,
        number=actions.proposal_number_next(campaign.project),
        campaign=campaign,
        kind=kind,
        stage=ProposalStage.CLASSIFIED,
        hypothesis="Say the refund window twice.",
        base_version=base,
        candidate_version=candidate,
        diff_key=normalised_diff_key(base.files, candidate.files),
        diff_hash=rebase.diff_hash(base.files, candidate.files),
        outcome=outcome,
        author=evo.team.maintainer,
    )


def move_head(evo: Evo, changes: dict[str, str]) -> HarnessVersion:
    head = head_of(evo.team.project)
    assert head is not None
    return version_create(
        actor=evo.team.owner, project=evo.team.project, files={**head.files, **changes}, message="by hand"
    )


def tree_of(proposal: Proposal) -> dict[str, str]:
    draft = ProposalDraft(hypothesis="", edits=tuple(FileEdit(**edit) for edit in proposal.edits))
    return apply_edits(proposal.base_version.files, draft)


def refunds(evo: Evo, line: str) -> str:
    return str(evo.harness.files[REFUNDS]).replace(RULE, line)


# --- rebase -----------------------------------------------------------------------


@pytest.mark.django_db
class TestRebase:
    def test_a_clean_rebase_queues_a_revision_on_head_and_closes_the_old_one(self, evo: Evo) -> None:
        campaign = evo.start()
        old = classified(evo, campaign, {REFUNDS: refunds(evo, RULE + "Say the window: 30 days.\n")})
        head = move_head(evo, {"workflow.md": "# Workflow\n\nBe brief.\n"})

        new = rebase.proposal_rebase(actor=evo.team.maintainer, proposal=old)

        assert (new.revision, new.revision_of_id, new.base_version_id) == (2, old.pk, head.pk)
        assert (new.stage, new.round_id, new.kind, new.hypothesis) == (
            ProposalStage.QUEUED,
            None,
            old.kind,
            old.hypothesis,
        )
        assert tree_of(new) == {**head.files, REFUNDS: old.candidate_version.files[REFUNDS]}
        assert new.diff_hash == rebase.diff_hash(head.files, tree_of(new))
        old.refresh_from_db()
        assert old.closed_at is not None and old.closed_by == evo.team.maintainer
        assert old.closed_reason == f"superseded by revision 2 (rebased onto v{head.number})"
        event = AuditEvent.objects.get(action="proposal.rebase")
        assert event.after == {"proposal": new.number, "base": head.number, "revision": 2}

    def test_a_rebase_leaves_every_vote_behind_as_stale(self, evo: Evo) -> None:
        campaign = evo.start()
        old = classified(evo, campaign, {REFUNDS: refunds(evo, "Refunds: 30 days.\n")})
        for voter in (evo.team.reviewer, evo.team.owner):
            Vote.objects.create(
                proposal=old,
                voter=voter,
                value=VoteValue.APPROVE,
                diff_hash=old.diff_hash,
                base_version=old.base_version,
            )
        move_head(evo, {"workflow.md": "# Workflow\n\nBe brief.\n"})

        new = rebase.proposal_rebase(actor=evo.team.maintainer, proposal=old)

        assert not Vote.objects.filter(proposal=new).exists()
        assert Vote.objects.filter(proposal=old).count() == 2  # kept, bound to the old base

    def test_conflicts_refuse_without_resolutions_and_write_nothing(self, evo: Evo) -> None:
        campaign = evo.start()
        old = classified(evo, campaign, {REFUNDS: refunds(evo, "Refunds within 30 days.\n")})
        head = move_head(evo, {REFUNDS: refunds(evo, "Refunds within 14 days.\n")})
        before = Proposal.objects.count()

        with pytest.raises(Conflict) as raised:
            rebase.proposal_rebase(actor=evo.team.maintainer, proposal=old)

        assert raised.value.details == {"paths": [REFUNDS], "head": head.number}
        assert f"conflicts in {REFUNDS}" in raised.value.message
        assert Proposal.objects.count() == before
        old.refresh_from_db()
        assert old.closed_at is None

    def test_the_preview_marks_conflicts_with_the_versions_they_come_from(self, evo: Evo) -> None:
        campaign = evo.start()
        old = classified(evo, campaign, {REFUNDS: refunds(evo, "Refunds within 30 days.\n")})
        head = move_head(evo, {REFUNDS: refunds(evo, "Refunds within 14 days.\n")})

        merge = rebase.rebase_preview(old)

        (conflict,) = merge.conflicts
        assert conflict.kind == "content"
        assert (
            f"<<<<<<< head v{head.number}\nRefunds within 14 days.\n"
            f"||||||| base v{old.base_version.number}\n{RULE}"
            f"=======\nRefunds within 30 days.\n>>>>>>> proposal #{old.number}\n"
        ) in conflict.merged_with_markers

    def test_resolutions_finish_the_rebase_and_markers_are_refused(self, evo: Evo) -> None:
        campaign = evo.start()
        old = classified(evo, campaign, {REFUNDS: refunds(evo, "Refunds within 30 days.\n")})
        move_head(evo, {REFUNDS: refunds(evo, "Refunds within 14 days.\n")})
        marked = rebase.rebase_preview(old).files[REFUNDS]

        with pytest.raises(ValidationFailed) as raised:
            rebase.proposal_rebase(actor=evo.team.maintainer, proposal=old, resolved_files={REFUNDS: marked})
        assert raised.value.details == {"path": REFUNDS} and "conflict markers" in raised.value.message
        assert not Proposal.objects.filter(revision_of=old).exists()

        resolved = refunds(evo, "Refunds within 14 days; say the window.\r\n")  # as a browser sends it
        new = rebase.proposal_rebase(actor=evo.team.maintainer, proposal=old, resolved_files={REFUNDS: resolved})

        assert tree_of(new)[REFUNDS] == refunds(evo, "Refunds within 14 days; say the window.\n")

    def test_a_resolution_may_delete_a_file_head_deleted(self, evo: Evo) -> None:
        campaign = evo.start()
        changed = refunds(evo, "Refunds: 30 days.\n")
        old = classified(evo, campaign, {"workflow.md": "# Workflow\n\nShorter.\n", REFUNDS: changed})
        files = {path: text for path, text in evo.harness.files.items() if path != "workflow.md"}
        head = version_create(actor=evo.team.owner, project=evo.team.project, files=files, message="no workflow")
        assert [c.kind for c in rebase.rebase_preview(old).conflicts] == ["delete/modify"]

        new = rebase.proposal_rebase(actor=evo.team.maintainer, proposal=old, resolved_files={"workflow.md": None})

        assert tree_of(new) == {**head.files, REFUNDS: changed}
        assert [edit["path"] for edit in new.edits] == [REFUNDS]

    @pytest.mark.parametrize(
        ("state", "message"),
        [
            ({"merged_at": timezone.now()}, "is merged"),
            ({"closed_at": timezone.now(), "closed_reason": "not useful"}, "is closed: not useful"),
            ({"outcome": Outcome.AUTO_REJECT}, "was rejected by the policy"),
            ({"stage": ProposalStage.EVALUATING}, "is evaluating; revise it once it is classified"),
        ],
    )
    def test_only_open_classified_proposals_are_rebased(self, evo: Evo, state: dict[str, Any], message: str) -> None:
        campaign = evo.start()
        old = classified(evo, campaign, {REFUNDS: refunds(evo, "Refunds: 30 days.\n")})
        Proposal.objects.filter(pk=old.pk).update(**state)
        old.refresh_from_db()
        move_head(evo, {"workflow.md": "# Workflow\n\nBe brief.\n"})

        with pytest.raises(Conflict, match=message):
            rebase.proposal_rebase(actor=evo.team.maintainer, proposal=old)

    def test_a_proposal_already_on_head_needs_no_rebase(self, evo: Evo) -> None:
        campaign = evo.start()
        old = classified(evo, campaign, {REFUNDS: refunds(evo, "Refunds: 30 days.\n")})

        with pytest.raises(Conflict, match=r"already based on head v1"):
            rebase.proposal_rebase(actor=evo.team.maintainer, proposal=old)

    def test_an_ended_campaign_evaluates_no_revision(self, evo: Evo) -> None:
        campaign = evo.start()
        old = classified(evo, campaign, {REFUNDS: refunds(evo, "Refunds: 30 days.\n")})
        actions.campaign_stop(actor=evo.team.maintainer, campaign=campaign)
        move_head(evo, {"workflow.md": "# Workflow\n\nBe brief.\n"})
        old = rebase.proposal_for_revision(evo.team.project, old.number)

        with pytest.raises(Conflict, match=rf"Campaign {campaign.number} has ended \(stopped\)"):
            rebase.proposal_rebase(actor=evo.team.maintainer, proposal=old)

    def test_a_change_head_already_has_is_not_rebased(self, evo: Evo) -> None:
        campaign = evo.start()
        changed = refunds(evo, "Refunds: 30 days.\n")
        old = classified(evo, campaign, {REFUNDS: changed})
        move_head(evo, {REFUNDS: changed})

        with pytest.raises(Conflict, match="head already has it"):
            rebase.proposal_rebase(actor=evo.team.maintainer, proposal=old)

    def test_the_same_proposal_is_rebased_once(self, evo: Evo) -> None:
        campaign = evo.start()
        old = classified(evo, campaign, {REFUNDS: refunds(evo, "Refunds: 30 days.\n")})
        move_head(evo, {"workflow.md": "# Workflow\n\nBe brief.\n"})
        stale_copy = Proposal.objects.select_related("campaign", "base_version", "candidate_version").get(pk=old.pk)
        rebase.proposal_rebase(actor=evo.team.maintainer, proposal=old)

        with pytest.raises(Conflict, match="is closed: superseded by revision 2"):
            rebase.proposal_rebase(actor=evo.team.maintainer, proposal=stale_copy)
        assert Proposal.objects.filter(revision_of=old).count() == 1


# --- request changes, revise, interdiff -------------------------------------------


@pytest.mark.django_db
class TestRevise:
    def test_request_changes_blocks_the_merge_and_tells_the_author(self, evo: Evo) -> None:
        campaign = evo.start()
        proposal = classified(evo, campaign, {REFUNDS: refunds(evo, "Refunds: 30 days.\n")})

        comment = rebase.proposal_request_changes(
            actor=evo.team.reviewer, proposal=proposal, summary="  Name the\nexceptions too. "
        )

        assert (comment.blocking, comment.text, comment.resolution) == (
            True,
            "Changes requested: Name the exceptions too.",
            "",
        )
        proposal.refresh_from_db()
        assert proposal.closed_at is None  # still open: its author revises it
        memory = MemoryEntry.objects.get(campaign=campaign, proposal=proposal)
        assert "Name the exceptions too." in memory.text
        (notification,) = Notification.objects.filter(user=evo.team.maintainer)
        assert notification.text == f"reviewer requested changes on proposal #{proposal.number}"
        assert AuditEvent.objects.filter(action="proposal.request_changes").count() == 1

    def test_request_changes_needs_words_and_an_open_proposal(self, evo: Evo) -> None:
        campaign = evo.start()
        proposal = classified(evo, campaign, {REFUNDS: refunds(evo, "Refunds: 30 days.\n")})
        with pytest.raises(ValidationFailed):
            rebase.proposal_request_changes(actor=evo.team.reviewer, proposal=proposal, summary="  ")
        Proposal.objects.filter(pk=proposal.pk).update(merged_at=timezone.now())
        proposal.refresh_from_db()
        with pytest.raises(Conflict):
            rebase.proposal_request_changes(actor=evo.team.reviewer, proposal=proposal, summary="more")
        assert not Comment.objects.exists()

    def test_a_revision_keeps_the_base_and_only_votes_on_the_same_diff(self, evo: Evo) -> None:
        campaign = evo.start()
        old = classified(evo, campaign, {REFUNDS: refunds(evo, "Refunds: 30 days.\n")})
        Vote.objects.create(
            proposal=old,
            voter=evo.team.reviewer,
            value=VoteValue.APPROVE,
            diff_hash=old.diff_hash,
            base_version=old.base_version,
        )
        Vote.objects.create(
            proposal=old,
            voter=evo.team.owner,
            value=VoteValue.VETO,
            diff_hash="an older diff",
            base_version=old.base_version,
        )

        # A revision that answers with a note and the same files keeps the current votes.
        same = rebase.proposal_revise(
            actor=evo.team.maintainer, proposal=old, files=old.candidate_version.files, note="Kept: see comment."
        )

        assert same.base_version_id == old.base_version_id and same.diff_hash == old.diff_hash
        assert list(Vote.objects.filter(proposal=same).values_list("voter", "value")) == [
            (evo.team.reviewer.pk, VoteValue.APPROVE)
        ]
        old.refresh_from_db()
        assert old.closed_reason == "superseded by revision 2: Kept: see comment."

        # A revision with other files starts without votes.
        Proposal.objects.filter(pk=same.pk).update(stage=ProposalStage.CLASSIFIED, outcome=Outcome.NEEDS_REVIEW)
        same = rebase.proposal_for_revision(evo.team.project, same.number)
        same.candidate_version = old.candidate_version
        files = {**old.candidate_version.files, REFUNDS: refunds(evo, "Refunds: 30 days, 15 for electronics.\n")}
        changed = rebase.proposal_revise(actor=evo.team.maintainer, proposal=same, files=files, note="Exceptions.")

        assert changed.revision == 3 and tree_of(changed) == files
        assert not Vote.objects.filter(proposal=changed).exists()
        assert AuditEvent.objects.filter(action="proposal.revise").count() == 2

    def test_interdiff_shows_what_changed_between_revisions(self, evo: Evo) -> None:
        campaign = evo.start()
        old = classified(evo, campaign, {REFUNDS: refunds(evo, "Refunds: 30 days.\n")})
        files = {**old.candidate_version.files, REFUNDS: refunds(evo, "Refunds: 14 days.\n")}
        new = rebase.proposal_revise(actor=evo.team.maintainer, proposal=old, files=files, note="Shorter window.")

        diff = rebase.interdiff(old, new)

        (changed,) = diff.files
        assert changed.path == REFUNDS and (changed.added, changed.removed) == (1, 1)
        assert "-Refunds: 30 days." in changed.unified and "+Refunds: 14 days." in changed.unified

    def test_who_may_revise(self, evo: Evo) -> None:
        campaign = evo.start()
        proposal = classified(evo, campaign, {REFUNDS: refunds(evo, "Refunds: 30 days.\n")})
        team = evo.team

        assert rebase.may_revise(Role.MAINTAINER, team.owner, proposal)
        assert rebase.may_revise(Role.REVIEWER, team.maintainer, proposal)  # its author, demoted since
        assert not rebase.may_revise(Role.REVIEWER, team.reviewer, proposal)

    @pytest.mark.parametrize(
        ("kind", "files", "error", "message"),
        [
            (ProposerKind.REFLECT, None, Conflict, "came from the reflect proposer"),
            (ProposerKind.HUMAN, "base", ValidationFailed, "These are the files of the base"),
        ],
    )
    def test_revisions_that_are_refused(
        self, evo: Evo, kind: str, files: str | None, error: type[Exception], message: str
    ) -> None:
        campaign = evo.start()
        proposal = classified(evo, campaign, {REFUNDS: refunds(evo, "Refunds: 30 days.\n")}, kind=kind)
        tree = proposal.base_version.files if files == "base" else proposal.candidate_version.files

        with pytest.raises(error, match=message):
            rebase.proposal_revise(actor=evo.team.maintainer, proposal=proposal, files=tree, note="x")
        assert not Proposal.objects.filter(revision_of=proposal).exists()


# --- the page and the API ---------------------------------------------------------


def page(evo: Evo, proposal: Proposal) -> str:
    return f"/p/{evo.team.project.slug}/proposals/{proposal.number}/rebase/"


def api(evo: Evo, proposal: Proposal, verb: str) -> str:
    return f"/api/v1/projects/{evo.team.project.slug}/proposals/{proposal.number}/{verb}"


@pytest.mark.django_db
class TestRebasePage:
    def conflicted(self, evo: Evo) -> tuple[Proposal, HarnessVersion]:
        old = classified(evo, evo.start(), {REFUNDS: refunds(evo, "Refunds within 30 days.\n")})
        return old, move_head(evo, {REFUNDS: refunds(evo, "Refunds within 14 days.\n")})

    def test_it_shows_conflicts_as_editable_marked_text(self, evo: Evo) -> None:
        old, head = self.conflicted(evo)

        response = evo.team.client_for("maintainer").get(page(evo, old))

        assert response.status_code == 200
        body = response.content.decode()
        assert "1 conflict to resolve" in body
        assert "&lt;&lt;&lt;&lt;&lt;&lt;&lt; head v" in body and "<textarea" in body
        assert f'name="head" value="{head.number}"' in body

    def test_a_clean_merge_shows_what_the_revision_changes_on_head(self, evo: Evo) -> None:
        old = classified(evo, evo.start(), {REFUNDS: refunds(evo, "Refunds within 30 days.\n")})
        head = move_head(evo, {"workflow.md": "# Workflow\n\nBe brief.\n"})

        response = evo.team.client_for("maintainer").get(page(evo, old))

        body = response.content.decode()
        assert response.status_code == 200
        assert f"merges onto v{head.number} without conflict" in body and "<textarea" not in body
        assert REFUNDS in body and "Refunds within 30 days." in body
        redirect = evo.team.client_for("maintainer").post(page(evo, old), {"head": head.number})
        assert redirect.status_code == 302 and Proposal.objects.filter(revision_of=old).exists()

    def test_a_resolved_post_queues_the_revision(self, evo: Evo) -> None:
        old, head = self.conflicted(evo)
        text = refunds(evo, "Refunds within 14 days; say the window.\n")

        response = evo.team.client_for("maintainer").post(page(evo, old), {"head": head.number, "file_0": text})

        assert response.status_code == 302
        new = Proposal.objects.get(revision_of=old)
        assert new.base_version_id == head.pk and tree_of(new)[REFUNDS] == text

    def test_markers_left_in_are_shown_next_to_the_file(self, evo: Evo) -> None:
        old, head = self.conflicted(evo)
        marked = rebase.rebase_preview(old).files[REFUNDS]

        response = evo.team.client_for("maintainer").post(page(evo, old), {"head": head.number, "file_0": marked})

        assert response.status_code == 422
        assert "still has conflict markers" in response.content.decode()
        assert not Proposal.objects.filter(revision_of=old).exists()

    def test_resolutions_for_an_older_head_are_refused(self, evo: Evo) -> None:
        old, head = self.conflicted(evo)
        move_head(evo, {"workflow.md": "# Workflow\n\nBe brief.\n"})

        response = evo.team.client_for("maintainer").post(
            page(evo, old), {"head": head.number, "file_0": refunds(evo, "Refunds within 14 days; say it.\n")}
        )

        assert response.status_code == 422
        assert "Head moved from" in response.content.decode()
        assert not Proposal.objects.filter(revision_of=old).exists()

    def test_it_says_why_a_proposal_cannot_be_rebased(self, evo: Evo) -> None:
        old = classified(evo, evo.start(), {REFUNDS: refunds(evo, "Refunds: 30 days.\n")})

        response = evo.team.client_for("maintainer").get(page(evo, old))

        assert response.status_code == 200
        assert "already based on head v1" in response.content.decode()
        assert "<textarea" not in response.content.decode()


@pytest.mark.django_db
class TestRevisionApi:
    def test_rebase_answers_the_revision_or_the_conflicting_paths(self, evo: Evo) -> None:
        old = classified(evo, evo.start(), {REFUNDS: refunds(evo, "Refunds within 30 days.\n")})
        head = move_head(evo, {REFUNDS: refunds(evo, "Refunds within 14 days.\n")})
        client = evo.team.client_for("maintainer")

        preview = client.get(api(evo, old, "rebase")).json()
        assert (preview["head"], preview["clean"], preview["conflicts"][0]["path"]) == (head.number, False, REFUNDS)

        refused = client.post(api(evo, old, "rebase"), data="{}", content_type="application/json")
        assert refused.status_code == 409 and refused.json()["details"]["paths"] == [REFUNDS]

        body = {"resolved_files": {REFUNDS: refunds(evo, "Refunds within 14 days; say it.\n")}}
        created = client.post(api(evo, old, "rebase"), data=json.dumps(body), content_type="application/json")
        assert created.status_code == 201
        out = created.json()
        assert (out["revision"], out["revision_of"], out["base"], out["stage"]) == (
            2,
            old.number,
            head.number,
            "queued",
        )

    def test_revise_is_for_maintainers_and_the_author(self, evo: Evo) -> None:
        old = classified(evo, evo.start(), {REFUNDS: refunds(evo, "Refunds: 30 days.\n")})
        files = {**old.candidate_version.files, REFUNDS: refunds(evo, "Refunds: 14 days.\n")}
        body = json.dumps({"files": files, "note": "Shorter."})

        reviewer = evo.team.client_for("reviewer").post(
            api(evo, old, "revise"), data=body, content_type="application/json"
        )
        author = evo.team.client_for("maintainer").post(
            api(evo, old, "revise"), data=body, content_type="application/json"
        )

        assert reviewer.status_code == 403
        assert author.status_code == 201 and author.json()["revision"] == 2

    def test_request_changes_answers_the_blocking_comment(self, evo: Evo) -> None:
        old = classified(evo, evo.start(), {REFUNDS: refunds(evo, "Refunds: 30 days.\n")})

        response = evo.team.client_for("reviewer").post(
            api(evo, old, "request-changes"),
            data=json.dumps({"summary": "Cite the policy."}),
            content_type="application/json",
        )

        assert response.status_code == 201
        assert response.json()["blocking"] is True and response.json()["text"] == "Changes requested: Cite the policy."


# --- the loop evaluates a rebased revision against its own base --------------------


@pytest.mark.django_db(transaction=True)
def test_a_rebased_revision_is_evaluated_against_its_own_base(evo: Evo) -> None:
    campaign = evo.start(budget_rounds=1, candidates_per_round=1)
    exceptions = (
        "\n## Refund exceptions\n- Opened electronics are refundable only within 15 days of delivery.\n"
        "- Final-sale items are never refundable, whatever the date.\n"
    )
    old = classified(evo, campaign, {REFUNDS: evo.harness.files[REFUNDS] + exceptions}, kind=ProposerKind.REFLECT)
    # Head moves by hand; the campaign's parent (the next round's) stays v1.
    head = move_head(evo, {"workflow.md": evo.harness.files["workflow.md"] + "5. Be brief.\n"})
    revision = rebase.proposal_rebase(actor=evo.team.maintainer, proposal=old)

    campaign = drive(campaign)

    assert campaign.status == CampaignStatus.FINISHED, campaign.status_reason
    revision = Proposal.objects.select_related("round", "parent_run", "candidate_run", "candidate_version").get(
        pk=revision.pk
    )
    current = revision.round
    assert current is not None and current.parent_version_id == evo.harness.pk != head.pk
    # The model's candidate took slot 0; the queued revision (a reflect proposal) the next.
    assert sorted(Proposal.objects.filter(round=current).values_list("index", "kind")) == [
        (0, "reflect"),
        (1, "reflect"),
    ]
    assert revision.stage == ProposalStage.CLASSIFIED and revision.base_version_id == head.pk
    assert revision.candidate_version is not None
    assert revision.candidate_version.files == {**head.files, REFUNDS: evo.harness.files[REFUNDS] + exceptions}
    assert list(revision.candidate_version.parents.values_list("pk", flat=True)) == [head.pk]
    # Compared with a run of its own base, not with the round's parent run.
    assert revision.parent_run is not None and revision.parent_run.harness_version_id == head.pk
    assert revision.parent_run_id != current.parent_run_id
    assert (
        revision.candidate_run is not None
        and revision.candidate_run.harness_version_id == revision.candidate_version_id
    )
    assert revision.stats["comparison"]["delta"] > 0
    # The same change as the proposal it revises is not a duplicate of it.
    assert revision.diff_key == old.diff_key
    assert "duplicate" not in {reason["code"] for reason in revision.reasons}
    # It gained, so it was scored on the guard against its own base too.
    assert revision.guard_run_id is not None and "guard" in revision.stats
    assert revision.parent_guard_run is not None and revision.parent_guard_run.harness_version_id == head.pk
    assert revision.parent_guard_run_id != current.parent_guard_run_id
