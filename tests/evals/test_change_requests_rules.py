"""The shared vote-counting rule (evolab.engine.approval_rules), alone."""

from __future__ import annotations

from evolab.engine.approval_rules import ApprovalRules, Ballot, Verdict, tally

REVIEWER, MAINTAINER, OWNER = 20, 30, 40
RULES = ApprovalRules(approvals_needed=2, approver_min_rank=REVIEWER, veto_min_rank=REVIEWER)


def _approve(voter: str, rank: int | None, **kw: bool) -> Ballot:
    return Ballot(voter=voter, approve=True, veto=False, rank=rank, **kw)


def test_counts_current_approvals_from_the_approver_role_up_but_not_the_author() -> None:
    ballots = [
        _approve("a", REVIEWER),
        _approve("author", OWNER, is_author=True),
        _approve("stale", MAINTAINER, stale=True),
        _approve("left", None),
        _approve("viewer", 10),
    ]
    result = tally(ballots, RULES)
    assert result.approvals == ("a",) and result.missing == 1 and result.verdict == Verdict.PENDING
    assert result.blockers == ("needs 2 approvals, has 1",)
    assert tally([*ballots, _approve("b", MAINTAINER)], RULES).verdict == Verdict.APPROVED


def test_one_current_veto_blocks() -> None:
    ballots = [_approve("a", REVIEWER), _approve("b", OWNER), Ballot("c", approve=False, veto=True, rank=REVIEWER)]
    result = tally(ballots, RULES)
    assert result.verdict == Verdict.VETOED and result.blockers == ("vetoed by c",)
    stale_veto = Ballot("c", approve=False, veto=True, rank=REVIEWER, stale=True)
    assert tally([*ballots[:2], stale_veto], RULES).verdict == Verdict.APPROVED


def test_consent_from_an_owner_approval_or_an_owner_author() -> None:
    rules = ApprovalRules(
        approvals_needed=1,
        approver_min_rank=REVIEWER,
        veto_min_rank=REVIEWER,
        consent_rank=OWNER,
        consent_label="owner",
    )
    assert tally([_approve("r", REVIEWER)], rules).blockers == ("needs an approval from an owner",)
    assert tally([_approve("r", REVIEWER), _approve("o", OWNER)], rules).verdict == Verdict.APPROVED
    assert tally([_approve("r", REVIEWER)], rules, author_rank=OWNER).verdict == Verdict.APPROVED
