"""What every chart here shares: scores of runs per split, the figure's look, and its JSON.

A figure goes to the page as JSON in a data attribute; `static/js/charts.js` draws it and
opens a point's `customdata` (the URL of the run, proposal or case behind it) on click.
"""

from __future__ import annotations

import html
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

import plotly.graph_objects as go
from django.db.models import Avg, Count

from evolab.engine.statistics import Estimate, score_estimate
from evolab.evals.models import Split, SuiteVersion
from evolab.evals.selectors import can_see_holdout
from evolab.projects.models import Project, Role
from evolab.runs.models import CaseResult, ResultStatus, Run, RunStatus

# Colour carries meaning only (UI.md): green better, red worse, grey noise, amber a person.
GREEN = "#1c7c3c"
RED = "#b42318"
GREY = "#6b7280"
AMBER = "#b45309"
BLUE = "#1d4ed8"
PURPLE = "#7e22ce"


@dataclass(frozen=True)
class Chart:
    """A figure as JSON for the page, with a sentence for people without the chart."""

    figure_json: str
    summary: str
    empty: bool = False


def plotly_text(value: str) -> str:
    """Text a person or a model wrote (case keys, tags, reasons), made safe for a figure.

    plotly.js reads a subset of HTML in every string it draws (hover text, tick labels,
    annotations, titles): `<a href>` becomes a live link, `<span style>` restyles, and it
    decodes `&lt;`, `&gt;`, `&amp;` and numeric entities (not `&quot;`). Escaping `&`, `<`
    and `>` leaves no tag for it to find, and it shows the text exactly as written."""
    return html.escape(value, quote=False)


def chart(figure: go.Figure, summary: str, *, empty: bool = False) -> Chart:
    return Chart(figure.to_json(), summary, empty)


def layout(**extra: Any) -> go.Layout:
    return go.Layout(
        template="none",
        height=320,
        margin={"l": 50, "r": 10, "t": 10, "b": 40},
        legend={"orientation": "h", "y": -0.2},
        hovermode="closest",
        **extra,
    )


def visible_splits(role: Role | int, splits: Iterable[str] = Split.values) -> list[str]:
    """The splits whose scores `role` may see: holdout only for maintainers and owners."""
    return [split for split in splits if split != Split.HOLDOUT or can_see_holdout(role)]


def split_scores(run_ids: Iterable[int], splits: Iterable[str]) -> dict[tuple[int, str], Estimate]:
    """The mean score (with its interval) of each run on each split, in one query.

    Per-case means are aggregated in SQL; each case counts once whatever its samples
    (as `runs.selectors.run_summaries`), and `score_estimate` gets the case mean repeated
    n times, which keeps both the mean and the sample count its method depends on.
    """
    ids, wanted = list(run_ids), list(splits)
    if not ids or not wanted:
        return {}
    per_case: dict[tuple[int, str], dict[str, list[float]]] = defaultdict(dict)
    rows = (
        CaseResult.objects.filter(run_id__in=ids, case__split__in=wanted, status=ResultStatus.DONE, score__isnull=False)
        .values("run", "case", "case__split")
        .annotate(mean=Avg("score"), n=Count("id"))
        .order_by()
    )
    for row in rows:
        per_case[(row["run"], row["case__split"])][str(row["case"])] = [float(row["mean"])] * int(row["n"])
    return {key: estimate for key, cases in per_case.items() if (estimate := score_estimate(cases)) is not None}


def completed_runs(project: Project, suite_version: SuiteVersion | None) -> list[dict[str, Any]]:
    """The project's completed runs on `suite_version` (None: every suite), oldest first."""
    runs = Run.objects.filter(project=project, status=RunStatus.COMPLETED)
    if suite_version is not None:
        runs = runs.filter(suite_version=suite_version)
    fields = ("pk", "number", "harness_version_id", "harness_version__number", "splits", "finished_at", "created_at")
    return list(runs.order_by("finished_at", "number").values(*fields))


def suite_versions_with_runs(project: Project) -> list[SuiteVersion]:
    """Suite versions that have a completed run, newest first: the charts' filter choices."""
    return list(
        SuiteVersion.objects.filter(suite__project=project, runs__status=RunStatus.COMPLETED)
        .select_related("suite")
        .distinct()
        .order_by("suite__slug", "-number")
    )


def pick_suite_version(choices: list[SuiteVersion], wanted: str | None, project: Project) -> SuiteVersion | None:
    """The suite version asked for by `?suite=<id>`, else the one of the latest completed run."""
    by_id = {str(version.pk): version for version in choices}
    if wanted and wanted in by_id:
        return by_id[wanted]
    latest = (
        Run.objects.filter(project=project, status=RunStatus.COMPLETED)
        .order_by("-finished_at", "-number")
        .values_list("suite_version_id", flat=True)
        .first()
    )
    return by_id.get(str(latest)) if latest is not None else None
