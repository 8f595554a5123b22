"""A campaign's progress: every candidate per round, the best accepted score so far,
the holdout of merged versions (maintainers and owners), plateau and budget events."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import plotly.graph_objects as go
from django.urls import reverse

from evolab.charts.figures import AMBER, BLUE, GREEN, GREY, PURPLE, RED, Chart, chart, layout, plotly_text, split_scores
from evolab.core.models import AuditEvent
from evolab.evals.models import Split
from evolab.evals.selectors import can_see_holdout
from evolab.evolution.models import Campaign, Outcome, Proposal, Round
from evolab.projects.models import Project, Role

# (label, colour, marker symbol): the symbol says the state too, not colour alone.
STATES = {
    "auto-merged": ("auto-merged", GREEN, "circle"),
    "approved": ("approved (merged by a person)", GREEN, "star"),
    "rejected": ("rejected", RED, "x"),
    "waiting": ("waiting for review", AMBER, "diamond"),
    "evaluating": ("evaluating", GREY, "circle-open"),
}


def proposal_state(merged: bool, merged_by: int | None, closed: bool, outcome: str) -> str:
    if merged:
        return "approved" if merged_by is not None else "auto-merged"
    if closed or outcome == Outcome.AUTO_REJECT:
        return "rejected"
    if outcome == Outcome.NEEDS_REVIEW:
        return "waiting"
    return "evaluating"


@dataclass(frozen=True)
class Candidate:
    number: int
    round: int
    state: str
    score: float
    holdout: float | None


@dataclass(frozen=True)
class Progress:
    candidates: list[Candidate]
    parents: dict[int, float]  # round → the parent's selection-split mean
    best: list[tuple[int, float]]  # (round, best accepted score up to it)
    warnings: list[tuple[int, str]]  # (round, "usd:50, tokens:50")


def campaign_progress(campaign: Campaign, role: Role | int) -> Progress:
    """Everything the chart shows, in four queries whatever the number of rounds."""
    selection, guard = campaign.selection_split, campaign.guard_split
    sees_guard = bool(guard) and (guard != Split.HOLDOUT or can_see_holdout(role))
    rounds = list(
        Round.objects.filter(campaign=campaign).order_by("number").values("number", "parent_run_id", "started_at")
    )
    proposals = list(
        Proposal.objects.filter(campaign=campaign, round__isnull=False)
        .order_by("round__number", "index")
        .values(
            "number",
            "round__number",
            "candidate_run_id",
            "guard_run_id",
            "outcome",
            "merged_at",
            "merged_by_id",
            "closed_at",
        )
    )
    selection_runs = [r["parent_run_id"] for r in rounds] + [p["candidate_run_id"] for p in proposals]
    scores = split_scores([run for run in selection_runs if run], [selection])
    if sees_guard:
        scores |= split_scores([p["guard_run_id"] for p in proposals if p["merged_at"] and p["guard_run_id"]], [guard])
    parents = {
        r["number"]: scores[(r["parent_run_id"], selection)].mean
        for r in rounds
        if (r["parent_run_id"], selection) in scores
    }
    candidates = []
    for p in proposals:
        estimate = scores.get((p["candidate_run_id"], selection))
        if estimate is None:
            continue
        held = scores.get((p["guard_run_id"], guard)) if sees_guard and p["merged_at"] else None
        state = proposal_state(p["merged_at"] is not None, p["merged_by_id"], p["closed_at"] is not None, p["outcome"])
        candidates.append(Candidate(p["number"], p["round__number"], state, estimate.mean, held.mean if held else None))
    best: list[tuple[int, float]] = []
    top: float | None = None
    for r in rounds:
        accepted = [c.score for c in candidates if c.round == r["number"] and c.state in ("auto-merged", "approved")]
        for value in [parents.get(r["number"]), *accepted]:
            if value is not None and (top is None or value > top):
                top = value
        if top is not None:
            best.append((r["number"], top))
    events = AuditEvent.objects.filter(
        project_id=campaign.project_id, action="campaign.budget_warning", object_id=str(campaign.pk)
    ).order_by("created_at")
    warnings = []
    for created, after in events.values_list("created_at", "after"):
        started = [r["number"] for r in rounds if r["started_at"] <= created]
        levels = ", ".join((after or {}).get("warnings", []))
        warnings.append((started[-1] if started else 0, levels))
    return Progress(candidates, parents, best, warnings)


def progress_chart(project: Project, campaign: Campaign, role: Role | int) -> Chart:
    progress = campaign_progress(campaign, role)
    selection = campaign.selection_split
    figure = go.Figure(
        layout=layout(
            xaxis={"title": {"text": "round"}, "dtick": 1},
            yaxis={"title": {"text": f"mean score ({selection})"}, "range": [0, 1.05]},
        )
    )
    if not progress.candidates and not progress.parents:
        return chart(figure, "No candidate has been scored yet.", empty=True)
    for state, (label, colour, symbol) in STATES.items():
        shown = [c for c in progress.candidates if c.state == state]
        if not shown:
            continue
        figure.add_trace(
            go.Scatter(
                x=[c.round for c in shown],
                y=[c.score for c in shown],
                mode="markers",
                name=label,
                marker={"color": colour, "symbol": symbol, "size": 10},
                text=[f"#{c.number}" for c in shown],
                customdata=[reverse("evolution:proposal", args=[project.slug, c.number]) for c in shown],
                hovertemplate=f"%{{text}} · {label}<br>{selection} %{{y:.3f}}<extra></extra>",
            )
        )
    if progress.best:
        figure.add_trace(
            go.Scatter(
                x=[r for r, _ in progress.best],
                y=[v for _, v in progress.best],
                mode="lines",
                line={"shape": "hv", "color": BLUE},
                name="best accepted so far",
                hovertemplate="round %{x}: best %{y:.3f}<extra></extra>",
            )
        )
    merged_held = [c for c in progress.candidates if c.holdout is not None]
    if merged_held:
        figure.add_trace(
            go.Scatter(
                x=[c.round for c in merged_held],
                y=[c.holdout for c in merged_held],
                mode="markers+lines",
                name=f"{campaign.guard_split} of merged versions",
                line={"color": PURPLE, "dash": "dot"},
                text=[f"#{c.number}" for c in merged_held],
                customdata=[reverse("evolution:proposal", args=[project.slug, c.number]) for c in merged_held],
                hovertemplate=f"%{{text}} · {campaign.guard_split} %{{y:.3f}}<extra></extra>",
            )
        )
    for round_number, levels in progress.warnings:
        figure.add_vline(x=round_number, line={"color": AMBER, "dash": "dash"}, annotation_text=f"budget {levels}")
    last_round = max([*progress.parents, *(c.round for c in progress.candidates)])
    if campaign.status_reason:
        # The reason may quote a person (a pause) or an error: drawn as text, never as tags.
        figure.add_vline(
            x=last_round, line={"color": GREY, "dash": "dot"}, annotation_text=plotly_text(campaign.status_reason[:60])
        )
    return chart(figure, _summary(progress, campaign))


def _summary(progress: Progress, campaign: Campaign) -> str:
    counts: dict[str, Any] = {}
    for c in progress.candidates:
        counts[c.state] = counts.get(c.state, 0) + 1
    parts = [f"{n} {STATES[state][0]}" for state, n in counts.items()]
    best = f"best accepted {progress.best[-1][1]:.3f}" if progress.best else "nothing accepted yet"
    events = [f"budget warning at round {r} ({levels})" for r, levels in progress.warnings]
    if campaign.status_reason:
        events.append(campaign.status_reason)
    return "; ".join([", ".join(parts) or "no candidates", best, *events])
