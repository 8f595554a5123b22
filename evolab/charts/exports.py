"""A run's results as rows for CSV and JSON downloads.

Rows of holdout cases are left out below maintainer (not merely sealed): an export is
read outside evolab, where nothing marks a row as one the reader may not act on.
"""

from __future__ import annotations

from typing import Any

from django.db.models import F, QuerySet

from evolab.charts.figures import visible_splits
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
