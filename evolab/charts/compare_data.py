"""What the compare view reads from the database, in a fixed number of queries whatever
the number of cases: the cases of the runs' suite versions with their tags (one query),
and every finished sample of the runs (one query).

Both are read only for runs whose numbers are not cached yet (`compare_stats`): a
completed run's numbers never change, so each run is read once, not once per view.

Rows come straight from the cursor: Django's per-value converters would cost more than
the queries for 100,000 samples. Held-out cases are dropped here, before any caller
sees them, unless the reader may see them (`sees_holdout`).
"""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass, field
from typing import Any

from django.db import connections
from django.db.models import QuerySet

from evolab.evals.models import EvalCase, Split
from evolab.runs.models import CaseResult, ResultStatus


@dataclass(frozen=True)
class CaseIndex:
    """The cases the reader may see: case id → (key, tags)."""

    cases: dict[int, tuple[str, tuple[str, ...]]]


def load_cases(suite_version_ids: Collection[int], *, sees_holdout: bool) -> CaseIndex:
    """One query: (case id, key, tag) over the given suite versions."""
    rows = EvalCase.objects.filter(version_id__in=list(suite_version_ids))
    if not sees_holdout:
        rows = rows.exclude(split=Split.HOLDOUT)
    keys: dict[int, str] = {}
    tags: dict[int, list[str]] = {}
    for case_id, key, tag in _fetch(rows.values_list("id", "key", "tag_rows__tag").order_by()):
        keys[case_id] = key
        if tag is not None:
            tags.setdefault(case_id, []).append(tag)
    return CaseIndex({case_id: (key, tuple(sorted(tags.get(case_id, ())))) for case_id, key in keys.items()})


@dataclass
class Samples:
    """One run's finished samples: scores grouped by case key, each case's tags (in the
    run's own suite version), and every latency and token count (in no particular order)."""

    scores: dict[str, list[float]] = field(default_factory=dict)
    tags: dict[str, tuple[str, ...]] = field(default_factory=dict)
    latencies: list[float] = field(default_factory=list)
    tokens: list[float] = field(default_factory=list)


def load_samples(run_ids: Collection[int], cases: CaseIndex) -> dict[int, Samples]:
    """One query: every finished sample of `run_ids` on the cases of `cases`."""
    rows = (
        CaseResult.objects.filter(run_id__in=list(run_ids), status=ResultStatus.DONE)
        .values_list("run_id", "case_id", "score", "latency_s", "input_tokens", "output_tokens")
        .order_by()
    )
    loaded = {run_id: Samples() for run_id in run_ids}
    known = cases.cases
    for run_id, case_id, score, latency, input_tokens, output_tokens in _fetch(rows):
        case = known.get(case_id)
        if case is None:  # a held-out case the reader may not see
            continue
        side = loaded[run_id]
        if score is not None:
            key, tags = case
            side.scores.setdefault(key, []).append(score)
            side.tags[key] = tags
        if latency is not None:
            side.latencies.append(latency)
        side.tokens.append(input_tokens + output_tokens)
    return loaded


def _fetch(query: QuerySet[Any, Any]) -> list[tuple[Any, ...]]:
    sql, params = query.query.sql_with_params()
    with connections[query.db].cursor() as cursor:
        cursor.execute(sql, params)
        return cursor.fetchall()
