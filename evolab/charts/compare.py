"""Compare up to eight runs against a baseline: paired deltas with intervals, per-tag
scores, a case x run heatmap, a scatter, usage box plots, and the cases that moved.

Reads are few and fixed in number, whatever the number of cases: the runs (one query);
then, only for runs whose numbers are not cached yet, their cases with tags and their
samples (two queries, `compare_data`). Each run's per-case means, per-tag scores and
usage box plots, and its paired comparison with the baseline, are computed from its
samples once and cached (`compare_stats`). Everything else is computed here from them.

Runs on the same suite version pair by case; runs on other versions of the same suite
are aligned by case key, and the keys that have no partner are listed. Held-out cases
are left out of every series unless the caller may see them (`sees_holdout`).
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import plotly.graph_objects as go
from django.db.models import F
from django.http import Http404

from evolab.charts.compare_stats import BoxNumbers, RunDigest, RunStatistics, run_statistics
from evolab.charts.figures import BLUE, GREEN, GREY, RED, Chart, chart, plotly_text
from evolab.engine.comparison import PairedComparison
from evolab.engine.multiple_testing import holm_adjust
from evolab.projects.models import Project
from evolab.runs.models import Run, RunStatus

MAX_RUNS = 8  # the baseline included
HEATMAP_CASES = 200
UNMATCHED_SHOWN = 20
MOVED_SHOWN = 50
TAGS_SHOWN = 20
TIE = 1e-9


class CompareError(Exception):
    """The runs asked for cannot be compared (shown to the person, with a 400)."""


@dataclass(frozen=True)
class CompareRun:
    id: int
    number: int
    suite_id: int
    suite_name: str
    suite_version_id: int
    suite_version_number: int
    harness_number: int
    finished_at: str

    @property
    def label(self) -> str:
        return f"run {self.number} · v{self.harness_number} · {self.suite_name}@v{self.suite_version_number}"

    @property
    def short(self) -> str:
        return f"run {self.number}"


_RUN_FIELDS = {
    "suite_id": F("suite_version__suite_id"),
    "suite_name": F("suite_version__suite__name"),
    "suite_version_number": F("suite_version__number"),
    "harness_number": F("harness_version__number"),
}


def _as_compare_run(row: Mapping[str, Any]) -> CompareRun:
    finished = row["finished_at"]
    return CompareRun(
        id=row["id"],
        number=row["number"],
        suite_id=row["suite_id"],
        suite_name=row["suite_name"],
        suite_version_id=row["suite_version_id"],
        suite_version_number=row["suite_version_number"],
        harness_number=row["harness_number"],
        finished_at=finished.isoformat() if finished else "",
    )


def completed_runs(project: Project) -> list[CompareRun]:
    """The project's completed runs, newest first: what the form offers."""
    rows = (
        Run.objects.filter(project=project, status=RunStatus.COMPLETED)
        .values("id", "number", "suite_version_id", "finished_at", **_RUN_FIELDS)
        .order_by("-number")
    )
    return [_as_compare_run(row) for row in rows]


def pick_runs(available: Sequence[CompareRun], baseline: int, numbers: Sequence[int]) -> list[CompareRun]:
    """The baseline, then the other runs asked for, in the order asked (duplicates and
    the baseline itself dropped). A number that is not one of the project's completed
    runs is a 404, as if it did not exist; runs of another suite are a CompareError."""
    by_number = {run.number: run for run in available}
    wanted = [baseline] + [n for n in dict.fromkeys(numbers) if n != baseline]
    missing = [n for n in wanted if n not in by_number]
    if missing:
        raise Http404(f"No completed run {missing[0]} in this project")
    if len(wanted) > MAX_RUNS:
        raise CompareError(f"At most {MAX_RUNS - 1} runs can be compared with a baseline.")
    runs = [by_number[n] for n in wanted]
    others = [run.short for run in runs[1:] if run.suite_id != runs[0].suite_id]
    if others:
        raise CompareError(
            f"{', '.join(others)} ran on another suite than the baseline; only versions of one suite align."
        )
    return runs


# ---------------------------------------------------------------- the table


@dataclass(frozen=True)
class Alignment:
    same_version: bool
    matched: int
    only_baseline: int
    only_run: int
    only_baseline_keys: list[str]
    only_run_keys: list[str]

    @property
    def unmatched(self) -> int:
        return self.only_baseline + self.only_run


def align(baseline: Mapping[str, float], other: Mapping[str, float], same_version: bool) -> Alignment:
    """Which scored case keys the two runs share, and the first few each has alone."""
    left, right = set(baseline), set(other)
    only_left, only_right = sorted(left - right), sorted(right - left)
    return Alignment(
        same_version=same_version,
        matched=len(left & right),
        only_baseline=len(only_left),
        only_run=len(only_right),
        only_baseline_keys=only_left[:UNMATCHED_SHOWN],
        only_run_keys=only_right[:UNMATCHED_SHOWN],
    )


@dataclass(frozen=True)
class CompareRow:
    run: CompareRun
    comparison: PairedComparison | None
    p_holm: float | None
    alignment: Alignment

    @property
    def tone(self) -> str:
        """up / down only when the interval excludes zero; noise otherwise."""
        c = self.comparison
        if c is None or c.low <= 0 <= c.high:
            return "noise"
        return "up" if c.delta > 0 else "down"

    def as_dict(self) -> dict[str, Any]:
        c = self.comparison
        return {
            "run": self.run.number,
            "harness_version": self.run.harness_number,
            "suite_version": self.run.suite_version_number,
            "n": c.n if c else 0,
            "baseline_mean": c.parent_mean if c else None,
            "run_mean": c.candidate_mean if c else None,
            "delta": c.delta if c else None,
            "low": c.low if c else None,
            "high": c.high if c else None,
            "confidence": c.confidence if c else None,
            "p_value": c.p_value if c else None,
            "p_holm": self.p_holm,
            "test": c.test if c else None,
            "wins": c.wins if c else 0,
            "losses": c.losses if c else 0,
            "ties": c.ties if c else 0,
            "matched_cases": self.alignment.matched,
            "only_in_baseline": self.alignment.only_baseline,
            "only_in_run": self.alignment.only_run,
        }


EXPORT_FIELDS = (
    "run",
    "harness_version",
    "suite_version",
    "n",
    "baseline_mean",
    "run_mean",
    "delta",
    "low",
    "high",
    "confidence",
    "p_value",
    "p_holm",
    "test",
    "wins",
    "losses",
    "ties",
    "matched_cases",
    "only_in_baseline",
    "only_in_run",
)


def compare_rows(runs: Sequence[CompareRun], stats: RunStatistics) -> list[CompareRow]:
    """One row per compared run: paired delta against the baseline, and with two or more
    runs, Holm-adjusted p-values over the family of comparisons."""
    baseline, others = runs[0], runs[1:]
    means = stats.digests
    tested = [c.p_value for c in stats.comparisons if c is not None]
    adjusted = iter(holm_adjust(tested)) if len(tested) > 1 else None
    rows = []
    for run, comparison in zip(others, stats.comparisons, strict=True):
        p_holm = next(adjusted) if adjusted is not None and comparison is not None else None
        alignment = align(
            means[baseline.id].means, means[run.id].means, run.suite_version_id == baseline.suite_version_id
        )
        rows.append(CompareRow(run, comparison, p_holm, alignment))
    return rows


# -------------------------------------------------------------- per case


@dataclass(frozen=True)
class CaseMove:
    key: str
    baseline: float
    run: float

    @property
    def delta(self) -> float:
        return self.run - self.baseline


@dataclass(frozen=True)
class CaseView:
    """Per-case means of every run over the cases shown (the baseline's keys, plus keys
    only other runs have), with the spread across runs used to rank them."""

    keys: list[str]  # the shown cases, most different first
    means: dict[int, dict[str, float]]  # run id → key → mean
    total: int  # cases before capping / filtering
    differing: int  # cases whose mean is not the same in every run that scored them


def case_view(runs: Sequence[CompareRun], digests: Mapping[int, RunDigest], *, only_differ: bool) -> CaseView:
    means = {run.id: digests[run.id].means for run in runs}
    # Lowest and highest mean of each case over the runs that scored it, run by run.
    low: dict[str, float] = {}
    high: dict[str, float] = {}
    for by_key in means.values():
        for key, mean in by_key.items():
            if key not in low:
                low[key] = high[key] = mean
            elif mean < low[key]:
                low[key] = mean
            elif mean > high[key]:
                high[key] = mean
    keys = sorted(low)
    spread = {key: high[key] - low[key] for key in keys}
    differing = [key for key in keys if spread[key] > TIE]
    shown = differing if only_differ else keys
    ranked = sorted(shown, key=lambda key: (-spread[key], key))[:HEATMAP_CASES]
    return CaseView(ranked, means, len(keys), len(differing))


def moved_cases(baseline: Mapping[str, float], run: Mapping[str, float]) -> tuple[list[CaseMove], list[CaseMove]]:
    """Cases whose mean went up, and down, against the baseline, biggest change first."""
    moves = [
        CaseMove(key, before, after)
        for key, before in baseline.items()
        if (after := run.get(key)) is not None and abs(after - before) > TIE
    ]
    up = sorted((m for m in moves if m.delta > TIE), key=lambda m: (-m.delta, m.key))
    down = sorted((m for m in moves if m.delta < -TIE), key=lambda m: (m.delta, m.key))
    return up, down


# ------------------------------------------------------------------ figures


def _layout(height: int, **extra: Any) -> go.Layout:
    return go.Layout(template="none", height=height, margin={"l": 60, "r": 10, "t": 10, "b": 50}, **extra)


@dataclass(frozen=True)
class TagScore:
    tag: str
    cases: int
    estimates: list[tuple[CompareRun, float, float, float] | None]  # mean, low, high per run


def tag_scores(runs: Sequence[CompareRun], digests: Mapping[int, RunDigest]) -> list[TagScore]:
    """Mean score per tag per run with its interval, for the most common tags of the
    baseline's scored cases (each run's cases carry the tags of its own suite version)."""
    counts = {tag: stat.cases for tag, stat in digests[runs[0].id].tags.items()}
    shown = sorted(counts.items(), key=lambda item: (-item[1], item[0]))[:TAGS_SHOWN]
    rows = []
    for tag, n in shown:
        estimates: list[tuple[CompareRun, float, float, float] | None] = []
        for run in runs:
            stat = digests[run.id].tags.get(tag)
            e = stat.estimate if stat else None
            estimates.append(None if e is None else (run, e.mean, e.low, e.high))
        rows.append(TagScore(tag, n, estimates))
    return rows


def tag_figure(runs: Sequence[CompareRun], rows: Sequence[TagScore]) -> Chart | None:
    if not rows:
        return None
    traces = []
    for index, run in enumerate(runs):
        points = [(row.tag, row.estimates[index]) for row in rows]
        points = [(tag, e) for tag, e in points if e is not None]
        traces.append(
            go.Bar(
                name=run.short + (" (baseline)" if index == 0 else ""),
                x=[plotly_text(tag) for tag, _ in points],
                y=[e[1] for _, e in points],  # type: ignore[index]
                error_y={
                    "type": "data",
                    "symmetric": False,
                    "array": [e[2] - e[1] for _, e in points],  # type: ignore[index]
                    "arrayminus": [e[1] - e[3] for _, e in points],  # type: ignore[index]
                },
                hovertemplate="%{x}: %{y:.3f}<extra>" + run.short + "</extra>",
            )
        )
    layout = _layout(320, barmode="group", yaxis={"title": {"text": "mean score (95% interval)"}, "range": [0, 1.05]})
    summary = "; ".join(
        f"{row.tag}: " + ", ".join(f"{e[0].short} {e[1]:.2f} [{e[2]:.2f}, {e[3]:.2f}]" for e in row.estimates if e)
        for row in rows
    )
    return chart(go.Figure(traces, layout=layout), "Mean score per tag — " + summary)


def heatmap_figure(runs: Sequence[CompareRun], view: CaseView) -> Chart | None:
    if not view.keys:
        return None
    z = [[view.means[run.id].get(key) for run in runs] for key in view.keys]
    figure = go.Figure(
        go.Heatmap(
            z=z,
            x=[run.short for run in runs],
            y=[plotly_text(key) for key in view.keys],
            zmin=0,
            zmax=1,
            colorscale=[[0, RED], [0.5, "#f5f5f4"], [1, GREEN]],
            colorbar={"title": {"text": "mean"}},
            hovertemplate="%{y} · %{x}: %{z:.2f}<extra></extra>",
        ),
        layout=_layout(
            max(240, 14 * len(view.keys) + 80),
            yaxis={"autorange": "reversed", "type": "category", "automargin": True},
            xaxis={"side": "top", "type": "category"},
        ),
    )
    return chart(figure, f"Mean score of {len(view.keys)} cases in each of {len(runs)} runs, most different first")


def scatter_figure(baseline: CompareRun, run: CompareRun, means: Mapping[int, Mapping[str, float]]) -> Chart | None:
    """Per-case means, run against baseline. Cases at the same point (common with k
    samples of pass/fail) are drawn once, sized by how many there are."""
    left, right = means[baseline.id], means[run.id]
    points: dict[tuple[float, float], list[str]] = {}
    for key in sorted(left.keys() & right.keys()):
        points.setdefault((round(left[key], 4), round(right[key], 4)), []).append(key)
    if not points:
        return None
    xy = list(points)
    colours = [GREEN if y > x + TIE else RED if y < x - TIE else GREY for x, y in xy]
    sizes = [6 + 4 * math.log2(len(points[p])) for p in xy]
    hover = [
        f"{len(points[p])} cases: " + ", ".join(map(plotly_text, points[p][:5])) + (" …" if len(points[p]) > 5 else "")
        for p in xy
    ]
    figure = go.Figure(
        [
            go.Scatter(x=[0, 1], y=[0, 1], mode="lines", line={"color": GREY, "dash": "dot"}, hoverinfo="skip"),
            go.Scatter(
                x=[x for x, _ in xy],
                y=[y for _, y in xy],
                mode="markers",
                marker={"color": colours, "size": sizes, "opacity": 0.7},
                text=hover,
                hovertemplate="%{text}<br>%{x:.2f} → %{y:.2f}<extra></extra>",
            ),
        ],
        layout=_layout(
            360,
            showlegend=False,
            # Square, with both axes on [0, 1]: the plot narrows instead of widening x.
            xaxis={"title": {"text": f"{baseline.short} (baseline)"}, "range": [-0.05, 1.05], "constrain": "domain"},
            yaxis={"title": {"text": run.short}, "range": [-0.05, 1.05], "scaleanchor": "x", "constrain": "domain"},
        ),
    )
    above = sum(len(keys) for (x, y), keys in points.items() if y > x + TIE)
    below = sum(len(keys) for (x, y), keys in points.items() if y < x - TIE)
    same = sum(len(keys) for keys in points.values()) - above - below
    return chart(figure, f"{run.short} against the baseline per case: {above} higher, {below} lower, {same} equal")


def _box(name: str, numbers: BoxNumbers | None) -> go.Box | None:
    if numbers is None:
        return None
    n = numbers
    return go.Box(
        name=name,
        x=[name],
        q1=[n.q1],
        median=[n.median],
        q3=[n.q3],
        lowerfence=[n.low],
        upperfence=[n.high],
        marker_color=BLUE,
    )


def usage_figure(runs: Sequence[CompareRun], series: Sequence[BoxNumbers | None], title: str) -> Chart | None:
    boxes = [box for run, numbers in zip(runs, series, strict=True) if (box := _box(run.short, numbers)) is not None]
    if not boxes:
        return None
    figure = go.Figure(boxes, layout=_layout(260, showlegend=False, yaxis={"title": {"text": title}}))
    medians = ", ".join(f"{box.name} {box.median[0]:.3g}" for box in boxes)
    return chart(figure, f"{title} per run, median: {medians}")


# ------------------------------------------------------------------ it all


@dataclass(frozen=True)
class Comparison:
    runs: list[CompareRun]
    rows: list[CompareRow]
    tags: list[TagScore]
    cases: CaseView
    focus: CompareRun  # the run in the scatter and the lists of moved cases
    improvements: list[CaseMove]  # the first MOVED_SHOWN
    regressions: list[CaseMove]
    improved: int  # all of them
    regressed: int
    tag_figure: Chart | None
    heatmap_figure: Chart | None
    scatter_figure: Chart | None
    latency_figure: Chart | None
    tokens_figure: Chart | None

    @property
    def baseline(self) -> CompareRun:
        return self.runs[0]

    @property
    def holm(self) -> bool:
        return any(row.p_holm is not None for row in self.rows)


def comparison_table(runs: Sequence[CompareRun], *, sees_holdout: bool) -> list[CompareRow]:
    """Only the table (the exports)."""
    return compare_rows(runs, run_statistics(runs, sees_holdout=sees_holdout))


def build_comparison(
    runs: Sequence[CompareRun], *, sees_holdout: bool, scatter: int | None = None, only_differ: bool = False
) -> Comparison:
    """Everything the page shows: no query when the runs' numbers are cached, two otherwise."""
    stats = run_statistics(runs, sees_holdout=sees_holdout)
    digests = stats.digests
    view = case_view(runs, digests, only_differ=only_differ)
    focus = next((run for run in runs[1:] if run.number == scatter), runs[1] if len(runs) > 1 else runs[0])
    up, down = moved_cases(view.means[runs[0].id], view.means[focus.id])
    tag_rows = tag_scores(runs, digests)
    return Comparison(
        runs=list(runs),
        rows=compare_rows(runs, stats),
        tags=tag_rows,
        cases=view,
        focus=focus,
        improvements=up[:MOVED_SHOWN],
        regressions=down[:MOVED_SHOWN],
        improved=len(up),
        regressed=len(down),
        tag_figure=tag_figure(runs, tag_rows),
        heatmap_figure=heatmap_figure(runs, view),
        scatter_figure=scatter_figure(runs[0], focus, view.means) if focus is not runs[0] else None,
        latency_figure=usage_figure(runs, [digests[run.id].latency for run in runs], "latency (s)"),
        tokens_figure=usage_figure(runs, [digests[run.id].tokens for run in runs], "tokens per sample"),
    )
