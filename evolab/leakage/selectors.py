"""Reads of leakage checks, shaped for who is looking.

Below maintainer a holdout overlap is reported as a count only: no case key, no excerpt
(the excerpt is the case's own text). Dev overlaps are shown to every member, as dev
cases are.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from evolab.evals.models import Split
from evolab.evals.selectors import can_see_holdout
from evolab.leakage.models import LeakageCheck, Subject
from evolab.projects.models import Project, Role


@dataclass(frozen=True)
class LeakageSummary:
    checked: bool
    holdout_cases: int = 0
    dev_cases: int = 0
    longest: int = 0
    min_words: int = 0
    # What this person may read: every dev match; holdout matches for maintainers and up.
    matches: list[dict[str, Any]] = field(default_factory=list)
    holdout_hidden: bool = False

    @property
    def flagged(self) -> bool:
        return bool(self.holdout_cases or self.dev_cases)


def summarise(checks: Iterable[LeakageCheck], *, role: Role | int) -> LeakageSummary:
    checks = list(checks)
    if not checks:
        return LeakageSummary(checked=False)
    sees_holdout = can_see_holdout(role)
    matches = [
        {**match, "suite_version_id": check.suite_version_id}
        for check in checks
        for match in check.matches
        if sees_holdout or match.get("split") != Split.HOLDOUT
    ]
    holdout = sum(check.holdout_cases for check in checks)
    return LeakageSummary(
        checked=True,
        holdout_cases=holdout,
        dev_cases=sum(check.dev_cases for check in checks),
        longest=max(check.longest for check in checks),
        min_words=min(check.min_words for check in checks),
        matches=sorted(matches, key=lambda m: -int(m.get("words", 0))),
        holdout_hidden=bool(holdout) and not sees_holdout,
    )


def checks_of(project: Project, subject_type: Subject, subject_ids: Iterable[int]) -> dict[int, list[LeakageCheck]]:
    """The checks of several subjects of one kind, in one query."""
    found: dict[int, list[LeakageCheck]] = defaultdict(list)
    for check in LeakageCheck.objects.filter(
        project=project, subject_type=subject_type, subject_id__in=list(subject_ids)
    ).order_by("suite_version_id"):
        found[check.subject_id].append(check)
    return found


def summary_of(project: Project, subject_type: Subject, subject_id: int, *, role: Role | int) -> LeakageSummary:
    return summarise(checks_of(project, subject_type, [subject_id]).get(subject_id, []), role=role)
