"""The lineage of a project's harness versions: every version as a node (parents →
children), laid out in lanes, with what became of it, as a plotly figure.

Four queries whatever the number of versions: the versions (without their files, with
whether each is head), the parent links, the proposals that made candidates, and the
audit events that say which versions became head or undid a change.

Layout: x is the version number, y a lane. Head and its first-parent ancestors (the
line head followed) are lane 0. Other versions are placed in number order: a child
takes its first parent's side lane while that lane still ends at the parent, otherwise
the lowest side lane that nothing will extend any more (its last version has no
children left to place), otherwise a new lane. So rejected candidates share a lane or
two instead of one each, and a branch merged back keeps its own lane while it lasts.
"""

from __future__ import annotations

import html
from collections.abc import Iterable
from dataclasses import dataclass
from enum import StrEnum

import plotly.graph_objects as go
from django.db.models import Exists, OuterRef
from django.urls import reverse

from evolab.charts.figures import AMBER, GREEN, GREY, PURPLE, RED, Chart, chart, layout
from evolab.core.models import AuditEvent
from evolab.evolution.models import Outcome, Proposal
from evolab.harnesses.head_log import HEAD_MOVE_ACTIONS, moved_to
from evolab.harnesses.models import HarnessHead, HarnessParent, HarnessVersion
from evolab.projects.models import Project

MESSAGE_CHARS = 80


class Fate(StrEnum):
    """What became of a version; one style each in the chart and its table."""

    MERGED = "merged"
    REVERT = "revert"
    REJECTED = "rejected"
    PENDING = "pending"
    UNMERGED = "unmerged"


# (legend label, colour, marker symbol): the symbol carries the meaning as well as the
# colour (UI.md: no meaning by colour alone). Green merged, red rejected, amber waits
# for a person, grey never on the main line.
STYLES: dict[Fate, tuple[str, str, str]] = {
    Fate.MERGED: ("merged (became head)", GREEN, "circle"),
    Fate.REVERT: ("revert", PURPLE, "diamond"),
    Fate.REJECTED: ("rejected candidate", RED, "x"),
    Fate.PENDING: ("open proposal", AMBER, "square"),
    Fate.UNMERGED: ("never head", GREY, "circle-open"),
}


@dataclass(frozen=True)
class LineageNode:
    pk: int
    number: int
    short_digest: str
    author_label: str
    title: str  # the message's first line, shortened
    fate: Fate
    lane: int
    is_head: bool
    parents: tuple[int, ...]  # version numbers, first parent first
    proposal: int | None  # number of the proposal whose candidate this is
    url: str

    @property
    def fate_label(self) -> str:
        return STYLES[self.fate][0]


@dataclass(frozen=True)
class Lineage:
    nodes: list[LineageNode]
    edges: list[tuple[int, int, int]]  # (parent number, child number, parent position)
    lanes: int

    @property
    def head(self) -> LineageNode | None:
        return next((node for node in self.nodes if node.is_head), None)

    def chart(self) -> Chart:
        counts = [f"{sum(node.fate == fate for node in self.nodes)} {STYLES[fate][0]}" for fate in STYLES]
        head = self.head
        summary = f"{len(self.nodes)} versions: " + ", ".join(counts)
        if head is not None:
            summary += f"; head is v{head.number}"
        return chart(lineage_figure(self), summary, empty=not self.nodes)


def _first_line(message: str) -> str:
    line = message.strip().splitlines()[0] if message.strip() else ""
    return line if len(line) <= MESSAGE_CHARS else line[: MESSAGE_CHARS - 1] + "…"


def _audit_marks(project: Project) -> tuple[set[int], set[int], set[int]]:
    """Numbers of versions that became head and of revert versions, and pks of reverts."""
    was_head: set[int] = set()
    revert_numbers: set[int] = set()
    revert_pks: set[int] = set()
    rows = AuditEvent.objects.filter(project_id=project.pk, action__in=HEAD_MOVE_ACTIONS).values_list(
        "action", "object_id", "after"
    )
    for action, object_id, after in rows:
        number = moved_to(action, after)
        if number is None:
            continue
        was_head.add(number)
        if action == "proposal.revert":
            revert_numbers.add(number)
        elif action == "harness.revert":
            revert_pks.add(int(object_id))
    return was_head, revert_numbers, revert_pks


def _lanes(order: list[int], parents: dict[int, list[int]], head: int | None) -> dict[int, int]:
    """Lane per version pk (see the module docstring); `order` is pks by number."""
    main: set[int] = set()
    walk = head
    while walk is not None and walk not in main:
        main.add(walk)
        walk = parents.get(walk, [None])[0]
    children_left: dict[int, int] = {}
    for pk in order:
        for parent in parents.get(pk, ()):
            children_left[parent] = children_left.get(parent, 0) + 1
    first_side = 1 if main else 0
    tips: list[int] = [0] * first_side  # the last version placed in each side lane
    lane_of: dict[int, int] = {}
    for pk in order:
        first = parents.get(pk, [None])[0]
        lane = 0 if pk in main else lane_of.get(first) if first is not None else None
        if lane is None or (lane == 0 and pk not in main) or (lane >= first_side and tips[lane] != first):
            free = (i for i in range(first_side, len(tips)) if not children_left.get(tips[i]))
            lane = next(free, len(tips))
            if lane == len(tips):
                tips.append(pk)
        if lane >= first_side:
            tips[lane] = pk
        lane_of[pk] = lane
        for parent in parents.get(pk, ()):
            children_left[parent] -= 1
    return lane_of


def _fate(
    version: HarnessVersion,
    proposal: tuple[int, str, bool, bool] | None,
    was_head: set[int],
    revert_numbers: set[int],
    revert_pks: set[int],
) -> Fate:
    # A revert also becomes head; that it undoes a change is what matters about it.
    if version.number in revert_numbers or version.pk in revert_pks:
        return Fate.REVERT
    if version.message.startswith(("Revert proposal #", "Revert to v")):
        return Fate.REVERT
    if version.number in was_head or (proposal is not None and proposal[2]):
        return Fate.MERGED
    if proposal is not None:
        _, outcome, _, closed = proposal
        return Fate.REJECTED if closed or outcome == Outcome.AUTO_REJECT else Fate.PENDING
    return Fate.UNMERGED


def project_lineage(project: Project) -> Lineage:
    """Every version of the project as a node of the lineage graph, in number order."""
    head = HarnessHead.objects.filter(project=project, version=OuterRef("pk"))
    versions = list(
        HarnessVersion.objects.filter(project=project)
        .only("pk", "number", "digest", "author_label", "message")
        .annotate(is_head=Exists(head))
        .order_by("number")
    )
    parents: dict[int, list[int]] = {}
    for child_id, parent_id in (
        HarnessParent.objects.filter(child__project=project)
        .order_by("child_id", "position")
        .values_list("child_id", "parent_id")
    ):
        parents.setdefault(child_id, []).append(parent_id)
    # The latest proposal per candidate: (number, outcome, merged, closed).
    proposals: dict[int, tuple[int, str, bool, bool]] = {}
    for number, candidate_id, outcome, merged_at, closed_at in (
        Proposal.objects.filter(project=project, candidate_version__isnull=False)
        .order_by("number")
        .values_list("number", "candidate_version_id", "outcome", "merged_at", "closed_at")
    ):
        proposals[candidate_id] = (number, outcome, merged_at is not None, closed_at is not None)
    was_head, revert_numbers, revert_pks = _audit_marks(project)

    number_of = {version.pk: version.number for version in versions}
    head_pk = next((version.pk for version in versions if version.is_head), None)  # type: ignore[attr-defined]
    lane_of = _lanes([version.pk for version in versions], parents, head_pk)
    nodes: list[LineageNode] = []
    edges: list[tuple[int, int, int]] = []
    for version in versions:
        proposal = proposals.get(version.pk)
        if proposal is not None:
            url = reverse("evolution:proposal", kwargs={"slug": project.slug, "number": proposal[0]})
        else:
            url = reverse("harnesses:version", kwargs={"slug": project.slug, "number": version.number})
        parent_numbers = tuple(number_of[pk] for pk in parents.get(version.pk, ()))
        edges.extend((parent, version.number, position) for position, parent in enumerate(parent_numbers))
        nodes.append(
            LineageNode(
                pk=version.pk,
                number=version.number,
                short_digest=version.short_digest,
                author_label=version.author_label,
                title=_first_line(version.message),
                fate=_fate(version, proposal, was_head, revert_numbers, revert_pks),
                lane=lane_of[version.pk],
                is_head=bool(version.is_head),  # type: ignore[attr-defined]
                parents=parent_numbers,
                proposal=proposal[0] if proposal is not None else None,
                url=url,
            )
        )
    return Lineage(nodes=nodes, edges=edges, lanes=max(lane_of.values(), default=-1) + 1)


def _hover(node: LineageNode) -> str:
    # Plotly renders a few tags in hover text and decodes entities: escape what people
    # and models wrote so it stays inert text.
    made = f"proposal #{node.proposal}" if node.proposal is not None else "committed"
    lines = [
        f"<b>v{node.number}</b> · {node.short_digest}{' · head' if node.is_head else ''}",
        html.escape(node.author_label),
        html.escape(node.title),
        f"{node.fate_label} · {made}",
    ]
    return "<br>".join(lines)


def _segments(pairs: Iterable[tuple[tuple[int, int], tuple[int, int]]]) -> tuple[list[int | None], list[int | None]]:
    xs: list[int | None] = []
    ys: list[int | None] = []
    for (x0, y0), (x1, y1) in pairs:
        xs += [x0, x1, None]
        ys += [y0, y1, None]
    return xs, ys


def lineage_figure(lineage: Lineage) -> go.Figure:
    """Edges (first parents solid, other parents dotted), one trace per fate for the
    legend, and a ring around head; a node's `customdata` is the URL a click opens."""
    lane = {node.number: node.lane for node in lineage.nodes}
    traces: list[go.Scatter] = []
    for dash, name, first in (("solid", "first parent", True), ("dot", "merged-in parent", False)):
        xs, ys = _segments(
            ((parent, lane[parent]), (child, lane[child]))
            for parent, child, position in lineage.edges
            if (position == 0) == first
        )
        if xs:
            traces.append(
                go.Scatter(
                    x=xs,
                    y=ys,
                    mode="lines",
                    line={"color": "#98a2b3", "width": 1.5, "dash": dash},
                    hoverinfo="skip",
                    name=name,
                    showlegend=not first,
                )
            )
    for fate, (label, colour, symbol) in STYLES.items():
        nodes = [node for node in lineage.nodes if node.fate == fate]
        if not nodes:
            continue
        traces.append(
            go.Scatter(
                x=[node.number for node in nodes],
                y=[node.lane for node in nodes],
                mode="markers",
                name=label,
                marker={"color": colour, "symbol": symbol, "size": 11, "line": {"color": colour, "width": 1}},
                text=[_hover(node) for node in nodes],
                customdata=[node.url for node in nodes],
                hovertemplate="%{text}<extra></extra>",
            )
        )
    head = lineage.head
    if head is not None:
        traces.append(
            go.Scatter(
                x=[head.number],
                y=[head.lane],
                mode="markers+text",
                name="head",
                marker={
                    "color": "rgba(0,0,0,0)",
                    "symbol": "circle",
                    "size": 22,
                    "line": {"color": "#101828", "width": 2},
                },
                text=["head"],
                textposition="top center",
                customdata=[head.url],
                hovertemplate=_hover(head) + "<extra></extra>",
            )
        )
    figure = go.Figure(
        traces,
        layout=layout(
            xaxis={"title": {"text": "version"}, "zeroline": False, "tickprefix": "v"},
            yaxis={"title": {"text": "lane"}, "zeroline": False, "showticklabels": False, "autorange": "reversed"},
        ),
    )
    # Taller with more lanes, so side branches stay apart.
    figure.update_layout(height=max(220, 110 + 44 * lineage.lanes))
    return figure
