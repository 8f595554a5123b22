"""Cost against score: every completed run on one suite version and split, and the Pareto
frontier of runs no other run beats on both (cheaper or as cheap, and as good or better)."""

from __future__ import annotations

from dataclasses import dataclass

import plotly.graph_objects as go
from django.db.models import Count, FloatField, Sum
from django.db.models.functions import Coalesce
from django.urls import reverse

from evolab.charts.figures import BLUE, GREEN, GREY, Chart, chart, completed_runs, layout, split_scores
from evolab.evals.models import SuiteVersion
from evolab.projects.models import Project
from evolab.runs.models import CaseResult

AXES = {"per_case": "USD per case", "total": "total USD"}


@dataclass(frozen=True)
class RunPoint:
    number: int
    version: int
    cost: float
    score: float


def run_points(project: Project, suite_version: SuiteVersion, split: str, axis: str) -> list[RunPoint]:
    """Completed runs on the split: the mean score of its cases, and the cost of those
    results (total, or per case scored: samples of a case count as that case's cost)."""
    runs = [run for run in completed_runs(project, suite_version) if split in run["splits"]]
    ids = [run["pk"] for run in runs]
    scores = split_scores(ids, [split])
    usage = {
        row["run"]: row
        for row in CaseResult.objects.filter(run_id__in=ids, case__split=split)
        .values("run")
        .annotate(usd=Coalesce(Sum("cost_usd"), 0.0, output_field=FloatField()), cases=Count("case", distinct=True))
        .order_by()
    }
    points = []
    for run in runs:
        estimate, used = scores.get((run["pk"], split)), usage.get(run["pk"])
        if estimate is None or used is None:
            continue
        cost = used["usd"] / used["cases"] if axis == "per_case" else used["usd"]
        points.append(RunPoint(run["number"], run["harness_version__number"], float(cost), estimate.mean))
    return points


def pareto_frontier(points: list[RunPoint]) -> list[RunPoint]:
    """The runs no other run dominates, cheapest first. A run dominates another when it
    costs no more and scores no less, and is strictly better on one of the two."""
    frontier: list[RunPoint] = []
    for point in sorted(points, key=lambda p: (p.cost, -p.score)):
        last = frontier[-1] if frontier else None
        tie = last is not None and (point.cost, point.score) == (last.cost, last.score)
        if last is None or point.score > last.score or tie:
            frontier.append(point)
    return frontier


def cost_chart(project: Project, suite_version: SuiteVersion | None, split: str, axis: str) -> Chart:
    figure = go.Figure(
        layout=layout(
            xaxis={"title": {"text": AXES[axis]}, "rangemode": "tozero"},
            yaxis={"title": {"text": f"mean score ({split})"}, "range": [0, 1.05]},
        )
    )
    points = run_points(project, suite_version, split, axis) if suite_version else []
    if not points:
        return chart(figure, "No completed run on this suite version and split yet.", empty=True)
    frontier = pareto_frontier(points)
    on_frontier = {p.number for p in frontier}
    for name, shown, colour in (
        ("Pareto frontier runs", [p for p in points if p.number in on_frontier], GREEN),
        ("dominated runs", [p for p in points if p.number not in on_frontier], GREY),
    ):
        if shown:
            figure.add_trace(
                go.Scatter(
                    x=[p.cost for p in shown],
                    y=[p.score for p in shown],
                    mode="markers",
                    name=name,
                    marker={"color": colour, "size": 9, "symbol": "circle" if colour == GREEN else "circle-open"},
                    text=[f"run {p.number} · v{p.version}" for p in shown],
                    customdata=[reverse("runs:run", args=[project.slug, p.number]) for p in shown],
                    hovertemplate="%{text}<br>$%{x:.4f} · %{y:.3f}<extra></extra>",
                )
            )
    figure.add_trace(
        go.Scatter(
            x=[p.cost for p in frontier],
            y=[p.score for p in frontier],
            mode="lines",
            line={"shape": "hv", "color": BLUE},
            name="frontier",
            hoverinfo="skip",
        )
    )
    listed = ", ".join(f"run {p.number} ${p.cost:.4f} {p.score:.3f}" for p in frontier)
    return chart(figure, f"{len(points)} runs; not dominated: {listed}")
