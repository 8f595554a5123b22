"""The vote-counting rule shared by harness proposals and suite change requests.

Given the ballots cast on a reviewable thing and the rules that apply to it, say whether
the votes allow it to go ahead: approved, blocked by a veto, or short of approvals (and
by how many), with every reason in words. Pure Python over plain data (roles are their
integer ranks, higher is more), so `evolution` and `evals` count votes the same way
without either importing the other.

What counts:
- an approval counts when it is current (not stale), its voter still has a role of at
  least `approver_min_rank`, and the voter is not the author (nobody approves their own
  change);
- a veto counts when it is current and its voter still has a role of at least
  `veto_min_rank`; one counted veto blocks;
- `consent_rank` (optional) asks for the consent of someone of at least that rank: a
  counted approval from such a person, or the author holding that rank (their own
  change is their consent, but it is still not one of the approvals).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from enum import StrEnum


class Verdict(StrEnum):
    APPROVED = "approved"
    VETOED = "vetoed"
    PENDING = "pending"


@dataclass(frozen=True)
class Ballot:
    voter: str
    approve: bool
    veto: bool
    rank: int | None  # the voter's role rank now; None once they left
    stale: bool = False  # given on another revision than the current one
    is_author: bool = False


@dataclass(frozen=True)
class ApprovalRules:
    approvals_needed: int
    approver_min_rank: int
    veto_min_rank: int
    consent_rank: int | None = None
    consent_label: str = ""  # how to name the consenting role in a blocker ("owner")


@dataclass(frozen=True)
class Tally:
    approvals: tuple[str, ...]
    vetoes: tuple[str, ...]
    approvals_needed: int
    consent_missing: bool
    blockers: tuple[str, ...]

    @property
    def missing(self) -> int:
        """How many more approvals are needed."""
        return max(0, self.approvals_needed - len(self.approvals))

    @property
    def verdict(self) -> Verdict:
        if self.vetoes:
            return Verdict.VETOED
        return Verdict.PENDING if self.blockers else Verdict.APPROVED


def plural(count: int, word: str) -> str:
    return f"{count} {word}" if count == 1 else f"{count} {word}s"


def counts_as_approval(ballot: Ballot, rules: ApprovalRules) -> bool:
    return (
        ballot.approve
        and not ballot.stale
        and ballot.rank is not None
        and ballot.rank >= rules.approver_min_rank
        and not ballot.is_author
    )


def counts_as_veto(ballot: Ballot, rules: ApprovalRules) -> bool:
    return ballot.veto and not ballot.stale and ballot.rank is not None and ballot.rank >= rules.veto_min_rank


def tally(ballots: Iterable[Ballot], rules: ApprovalRules, *, author_rank: int | None = None) -> Tally:
    """Count `ballots` under `rules`; `author_rank` is the author's role rank now (for consent)."""
    ballots = list(ballots)
    counted = [ballot for ballot in ballots if counts_as_approval(ballot, rules)]
    approvals = tuple(ballot.voter for ballot in counted)
    vetoes = tuple(ballot.voter for ballot in ballots if counts_as_veto(ballot, rules))
    consent_missing = False
    if rules.consent_rank is not None:
        by_author = author_rank is not None and author_rank >= rules.consent_rank
        by_approver = any(ballot.rank is not None and ballot.rank >= rules.consent_rank for ballot in counted)
        consent_missing = not (by_author or by_approver)
    blockers: list[str] = []
    if len(approvals) < rules.approvals_needed:
        blockers.append(f"needs {plural(rules.approvals_needed, 'approval')}, has {len(approvals)}")
    if consent_missing:
        blockers.append(f"needs an approval from an {rules.consent_label or 'authorised person'}")
    if vetoes:
        blockers.append(f"vetoed by {', '.join(vetoes)}")
    return Tally(
        approvals=approvals,
        vetoes=vetoes,
        approvals_needed=rules.approvals_needed,
        consent_missing=consent_missing,
        blockers=tuple(blockers),
    )
