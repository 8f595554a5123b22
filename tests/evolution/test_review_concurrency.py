"""Review writes racing on real database connections (threads), on SQLite and on
PostgreSQL (`DATABASE_URL=postgres://… pytest tests/evolution/test_review_concurrency.py`).

Each race holds the first writer's transaction open while the second one arrives, so the
second really waits on the first (the row lock on PostgreSQL, the write lock on SQLite)
and then sees what the first committed.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import Any

import pytest
from django.db import connection, transaction

from evolab.core.errors import Conflict
from evolab.evolution.models import Proposal, Vote
from evolab.evolution.review import approval_state, proposal_merge_reviewed, proposal_reject, vote_cast
from evolab.harnesses.models import HarnessHead
from tests.evolution.conftest import Evo
from tests.evolution.review_helpers import waiting

pytestmark = pytest.mark.django_db(transaction=True)


def race(first: Callable[[], Any], second: Callable[[], Any]) -> dict[str, Any]:
    """Run `first` in a transaction held open until `second` (in another thread) has
    started and is waiting; each result is the return value or the exception raised."""
    results: dict[str, Any] = {}
    first_done, release = threading.Event(), threading.Event()

    def run_first() -> None:
        try:
            with transaction.atomic():
                results["first"] = first()
                first_done.set()
                release.wait(10)
        except Exception as error:
            results["first"] = error
        finally:
            first_done.set()
            connection.close()

    def run_second() -> None:
        first_done.wait(10)
        try:
            results["second"] = second()
        except Exception as error:
            results["second"] = error
        finally:
            connection.close()

    threads = [threading.Thread(target=run_first), threading.Thread(target=run_second)]
    for thread in threads:
        thread.start()
    time.sleep(0.5)  # the second writer now waits on the first one's lock
    release.set()
    for thread in threads:
        thread.join(30)
    assert not any(thread.is_alive() for thread in threads)
    return results


def together(*calls: Callable[[], Any]) -> list[Any]:
    """Start every call at the same moment, each in its own thread and connection."""
    barrier = threading.Barrier(len(calls))
    results: list[Any] = [None] * len(calls)

    def run(index: int, call: Callable[[], Any]) -> None:
        barrier.wait(10)
        try:
            results[index] = call()
        except Exception as error:
            results[index] = error
        finally:
            connection.close()

    threads = [threading.Thread(target=run, args=(i, call)) for i, call in enumerate(calls)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    return results


@pytest.fixture
def proposal(evo: Evo) -> Proposal:
    proposal = waiting(evo.start())
    vote_cast(actor=evo.team.reviewer, proposal=proposal, value=2)
    return proposal


def test_two_merges_of_one_proposal_one_wins(evo: Evo, proposal: Proposal) -> None:
    def merge(persona: str) -> Callable[[], Any]:
        return lambda: proposal_merge_reviewed(actor=getattr(evo.team, persona), proposal=proposal)

    results = race(merge("maintainer"), merge("owner"))

    assert isinstance(results["first"], Proposal)
    assert isinstance(results["second"], Conflict) and "already merged" in str(results["second"])
    proposal.refresh_from_db()
    assert proposal.merged_by == evo.team.maintainer
    assert HarnessHead.objects.get(project=evo.team.project).version_id == proposal.candidate_version_id


def test_two_proposals_on_one_base_one_merges_the_other_is_stale(evo: Evo, proposal: Proposal) -> None:
    rival = waiting(proposal.campaign, text="Refunds need a photo.\n")
    vote_cast(actor=evo.team.reviewer, proposal=rival, value=2)

    results = race(
        lambda: proposal_merge_reviewed(actor=evo.team.maintainer, proposal=proposal),
        lambda: proposal_merge_reviewed(actor=evo.team.owner, proposal=rival),
    )

    assert isinstance(results["first"], Proposal)
    error = results["second"]
    head = HarnessHead.objects.select_related("version").get(project=evo.team.project).version
    assert head == proposal.candidate_version
    assert isinstance(error, Conflict)
    assert f"stale: head moved to v{head.number} since this was proposed; rebase it" in str(error)
    rival.refresh_from_db()
    assert rival.merged_at is None


def test_a_merge_after_a_veto_refuses(evo: Evo, proposal: Proposal) -> None:
    results = race(
        lambda: vote_cast(actor=evo.team.owner, proposal=proposal, value=-2),
        lambda: proposal_merge_reviewed(actor=evo.team.maintainer, proposal=proposal),
    )

    assert isinstance(results["first"], Vote)
    assert isinstance(results["second"], Conflict) and "vetoed by owner" in str(results["second"])
    proposal.refresh_from_db()
    assert proposal.merged_at is None


def test_a_veto_after_a_merge_is_refused(evo: Evo, proposal: Proposal) -> None:
    results = race(
        lambda: proposal_merge_reviewed(actor=evo.team.maintainer, proposal=proposal),
        lambda: vote_cast(actor=evo.team.owner, proposal=proposal, value=-2),
    )

    assert isinstance(results["first"], Proposal)
    assert isinstance(results["second"], Conflict) and "already merged" in str(results["second"])
    assert not Vote.objects.filter(value=-2).exists()


def test_merges_started_together_merge_once(evo: Evo, proposal: Proposal) -> None:
    results = together(
        *(
            (lambda persona=persona: proposal_merge_reviewed(actor=getattr(evo.team, persona), proposal=proposal))
            for persona in ("maintainer", "owner", "maintainer", "owner")
        )
    )

    assert sum(isinstance(result, Proposal) for result in results) == 1
    refusals = [result for result in results if not isinstance(result, Proposal)]
    assert all(isinstance(r, Conflict) and "already merged" in str(r) for r in refusals), refusals


def test_approve_veto_and_merge_together_end_consistent(evo: Evo, proposal: Proposal) -> None:
    results = together(
        lambda: vote_cast(actor=evo.team.maintainer, proposal=proposal, value=2),
        lambda: vote_cast(actor=evo.team.owner, proposal=proposal, value=-2),
        lambda: proposal_merge_reviewed(actor=evo.team.maintainer, proposal=proposal),
    )

    proposal.refresh_from_db()
    state = approval_state(proposal)
    approve, veto, merge = results
    assert isinstance(approve, Vote) or "already merged" in str(approve)
    if isinstance(merge, Proposal):
        # The merge came before the veto, which was then refused.
        assert proposal.merged_at is not None and isinstance(veto, Conflict) and "already merged" in str(veto)
        assert state.vetoes == ()
    else:
        # The veto came first: the merge refused and nothing moved.
        assert isinstance(veto, Vote) and proposal.merged_at is None and "vetoed by owner" in str(merge)
        assert state.vetoes == ("owner",) and not state.mergeable
        assert HarnessHead.objects.get(project=evo.team.project).version_id == proposal.base_version_id


def test_reject_and_merge_racing_end_in_one_outcome(evo: Evo, proposal: Proposal) -> None:
    results = together(
        lambda: proposal_reject(actor=evo.team.owner, proposal=proposal, reason="not this way"),
        lambda: proposal_merge_reviewed(actor=evo.team.maintainer, proposal=proposal),
    )

    proposal.refresh_from_db()
    rejected, merged = results
    head = HarnessHead.objects.get(project=evo.team.project).version_id
    if isinstance(merged, Proposal):
        # The merge won: the rejection was refused and head moved.
        assert isinstance(rejected, Conflict) and proposal.closed_at is None
        assert proposal.merged_at is not None and head == proposal.candidate_version_id
    else:
        # The rejection won: the merge was refused and head stayed.
        assert isinstance(merged, Conflict) and "not this way" in str(merged)  # the rejection is named
        assert proposal.closed_at is not None and proposal.merged_at is None
        assert head == proposal.base_version_id
