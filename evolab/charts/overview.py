"""The project overview charts: the score of each accepted version over time, and spend.

Accepted versions are the versions that were head at some point, read from the audit
log's head moves (append-only; each decision that moves head records the move in its
one event: `harness.head`, `harness.revert`, `proposal.merge` incl. auto-merges,
`proposal.revert`, see `harnesses.head_log`). Merged proposals plus the base would miss
versions people uploaded or reverted to by hand, which head also carried; the audit log
has every one of them, with the time it became head.

A version's score on a split is the mean of its latest completed run on that split (on
the chosen suite version), with the 95% interval of `engine.statistics.score_estimate`.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

import plotly.graph_objects as go
from django.db.models import F, FloatField, Sum
from django.db.models.fields.json import KT
from django.db.models.functions import Cast, Coalesce
from django.urls import reverse

from evolab.charts.figures import (
    AMBER,
    BLUE,
    GREEN,
    PURPLE,
    Chart,
    chart,
    completed_runs,
    layout,
    split_scores,
    visible_splits,
)
from evolab.core.models import AuditEvent
from evolab.engine.statistics import Estimate
from evolab.evals.models import Split, SuiteVersion
from evolab.evolution.models import Proposal
from evolab.harnesses.head_log import HEAD_MOVE_ACTIONS, head_moves
from evolab.projects.models import Project, Role
from evolab.runs.models import CaseResult

SPLIT_COLOURS: dict[str, str] = {Split.DEV: BLUE, Split.HOLDOUT: PURPLE, Split.TRAIN: GREEN}


@dataclass(frozen=True)
class VersionPoint:
    """One accepted version on one split: when it became head, and its latest run's score."""

    version: int
    became_head: datetime
    run_number: int
    score: Estimate


def accepted_versions(project: Project) -> list[tuple[int, datetime]]:
    """(version number, time it became head), in the order head moved."""
    events = AuditEvent.objects.filter(project_id=project.pk, action__in=HEAD_MOVE_ACTIONS).order_by("created_at", "id")
    return head_moves(events.values_list("action", "created_at", "after"))


def version_scores(
    project: Project, suite_version: SuiteVersion | None, role: Role | int, splits: tuple[str, ...] = ("dev", "holdout")
) -> dict[str, list[VersionPoint]]:
    """Per visible split, the points of the accepted versions that have a completed run on it."""
    shown = visible_splits(role, splits)
    heads = accepted_versions(project)
    if suite_version is None or not heads:
        return {split: [] for split in shown}
    latest: dict[tuple[int, str], dict[str, Any]] = {}
    for run in completed_runs(project, suite_version):  # oldest first: later runs replace earlier ones
        for split in run["splits"]:
            latest[(run["harness_version__number"], split)] = run
    wanted = {latest[key]["pk"] for version, _ in heads for split in shown if (key := (version, split)) in latest}
    scores = split_scores(wanted, shown)
    points: dict[str, list[VersionPoint]] = {split: [] for split in shown}
    for version, when in heads:
        for split in shown:
            latest_run = latest.get((version, split))
            estimate = scores.get((latest_run["pk"], split)) if latest_run else None
            if latest_run and estimate:
                points[split].append(VersionPoint(version, when, latest_run["number"], estimate))
    return points


def score_chart(project: Project, suite_version: SuiteVersion | None, role: Role | int) -> Chart:
    points = version_scores(project, suite_version, role)
    figure = go.Figure(layout=layout(yaxis={"title": {"text": "mean score"}, "range": [0, 1.02]}))
    described = []
    for split, series in points.items():
        if not series:
            continue
        colour = SPLIT_COLOURS.get(split, GREEN)
        x = [p.became_head for p in series]
        # The band: the high edge, then the low edge filled up to it.
        figure.add_trace(
            go.Scatter(
                x=x,
                y=[p.score.high for p in series],
                mode="lines",
                line={"width": 0},
                hoverinfo="skip",
                showlegend=False,
                legendgroup=split,
            )
        )
        figure.add_trace(
            go.Scatter(
                x=x,
                y=[p.score.low for p in series],
                mode="lines",
                line={"width": 0},
                fill="tonexty",
                fillcolor=_translucent(colour),
                hoverinfo="skip",
                name=f"{split} 95% interval",
                legendgroup=split,
            )
        )
        figure.add_trace(
            go.Scatter(
                x=x,
                y=[p.score.mean for p in series],
                mode="lines+markers",
                name=split,
                legendgroup=split,
                line={"color": colour, "dash": "dot" if split == Split.HOLDOUT else "solid"},
                text=[f"v{p.version} · run {p.run_number}" for p in series],
                customdata=[reverse("runs:run", args=[project.slug, p.run_number]) for p in series],
                hovertemplate=f"%{{text}}<br>{split} %{{y:.3f}}<extra></extra>",
            )
        )
        described.append(
            f"{split}: "
            + ", ".join(f"v{p.version} {p.score.mean:.3f} [{p.score.low:.3f}, {p.score.high:.3f}]" for p in series)
        )
    if not described:
        return chart(figure, "No accepted version has a completed run on this suite yet.", empty=True)
    return chart(figure, "Score of each accepted version (95% interval) — " + "; ".join(described))


def _translucent(hex_colour: str) -> str:
    red, green, blue = (int(hex_colour[i : i + 2], 16) for i in (1, 3, 5))
    return f"rgba({red},{green},{blue},0.15)"


# --------------------------------------------------------------------------- spend


@dataclass(frozen=True)
class SpendEvent:
    """Money spent at one moment: a run (its runner and judge cost) or a proposal (its proposer)."""

    at: datetime
    label: str
    url: str
    runner: float = 0.0
    proposer: float = 0.0
    judge: float = 0.0


def spend_events(project: Project) -> list[SpendEvent]:
    """Every run and proposal that cost something, oldest first, in two queries.

    A result's `cost_usd` already includes its judge's cost (`runs.execution` adds
    `grade_details.judge_cost_usd`), so the runner part is the difference. Results of
    graders without a judge have no such key and count 0 for the judge.
    """
    judge = Coalesce(Sum(Cast(KT("grade_details__judge_cost_usd"), FloatField())), 0.0)
    runs = (
        CaseResult.objects.filter(run__project=project)
        .values("run__number", "run__created_at", "run__started_at", "run__finished_at")
        .annotate(total=Coalesce(Sum("cost_usd"), 0.0, output_field=FloatField()), judge=judge)
        .order_by()
    )
    events = [
        SpendEvent(
            at=row["run__finished_at"] or row["run__started_at"] or row["run__created_at"],
            label=f"run {row['run__number']}",
            url=reverse("runs:run", args=[project.slug, row["run__number"]]),
            runner=float(row["total"]) - float(row["judge"]),
            judge=float(row["judge"]),
        )
        for row in runs
        if row["total"]
    ]
    proposals = Proposal.objects.filter(project=project, proposer_cost_usd__gt=0).values(
        "number", "created_at", cost=F("proposer_cost_usd")
    )
    events += [
        SpendEvent(
            at=row["created_at"],
            label=f"proposal #{row['number']}",
            url=reverse("evolution:proposal", args=[project.slug, row["number"]]),
            proposer=float(row["cost"]),
        )
        for row in proposals
    ]
    return sorted(events, key=lambda event: event.at)


def spend_chart(project: Project) -> Chart:
    events = spend_events(project)
    figure = go.Figure(layout=layout(yaxis={"title": {"text": "cumulative USD"}, "rangemode": "tozero"}))
    if not events:
        return chart(figure, "Nothing has been spent yet.", empty=True)
    totals = {"runner": 0.0, "proposer": 0.0, "judge": 0.0}
    series: dict[str, list[float]] = {part: [] for part in totals}
    for event in events:
        for part in totals:
            totals[part] += getattr(event, part)
            series[part].append(totals[part])
    x = [event.at for event in events]
    labels = [event.label for event in events]
    urls = [event.url for event in events]
    # Stacked on one shared time axis, so the top edge is the total spend.
    for part, colour in (("runner", BLUE), ("proposer", AMBER), ("judge", PURPLE)):
        figure.add_trace(
            go.Scatter(
                x=x,
                y=series[part],
                name=part,
                mode="lines+markers",
                stackgroup="spend",
                line={"color": colour},
                text=labels,
                customdata=urls,
                hovertemplate=f"%{{text}}<br>{part} total $%{{y:.4f}}<extra></extra>",
            )
        )
    summary = ", ".join(f"{part} ${value:.4f}" for part, value in totals.items())
    return chart(figure, f"Spend to date: {summary} (judge: 0 where a grader has no judge).")
