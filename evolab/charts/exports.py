"""A run's results as rows for CSV and JSON downloads.

Rows of holdout cases are left out below maintainer (not merely sealed): an export is
read outside evolab, where nothing marks a row as one the reader may not act on.
"""

from __future__ import annotations

from typing import Any

from django.contrib.auth.models import User
from django.db.models import F, QuerySet

from evolab.charts.figures import visible_splits
from evolab.evals.change_requests import holdout_view_record
from evolab.evals.models import Split
from evolab.evals.selectors import can_see_holdout
from evolab.projects.models import Role
from evolab.runs.models import CaseResult, Run

# The first two come from the case; the rest are the result's own columns.
EXPORT_FIELDS = (
    "case_key",
    "split",
    "sample",
    "status",
    "score",
    "passed",
    "input_tokens",
    "output_tokens",
    "reasoning_tokens",
    "cost_usd",
    "latency_s",
    "cached",
    "error",
)


def export_rows(run: Run, role: Role | int) -> QuerySet[CaseResult, dict[str, Any]]:
    """The run's results as plain dicts of EXPORT_FIELDS, by case key and sample."""
    return (
        CaseResult.objects.filter(run=run, case__split__in=visible_splits(role))
        .order_by("case__key", "sample")
        .values(*EXPORT_FIELDS[2:], case_key=F("case__key"), split=F("case__split"))
    )


def export_holdout_record(*, actor: User, run: Run, role: Role | int, fmt: str) -> None:
    """Audit an export that holds held-out rows (their error text can carry the case's
    text, and the rows leave evolab): one event listing every held-out key in it."""
    if not can_see_holdout(role):
        return
    keys = list(
        CaseResult.objects.filter(run=run, case__split=Split.HOLDOUT)
        .order_by("case__key")
        .values_list("case__key", flat=True)
        .distinct()
    )
    holdout_view_record(actor=actor, suite=run.suite_version.suite, keys=keys, where=f"run {run.number} {fmt} export")
