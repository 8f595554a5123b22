"""Reads for the proposal page: its status, diff, scores, per-case evidence and the
transcripts of one case before and after. Callers reach the project through
`get_project_for` and pass `sees_holdout` (maintainer and above).

Every read costs a fixed number of queries whatever the number of cases or samples:
per-case means of the parent and the candidate are aggregated, filtered and sorted in
SQL by one grouped query over both runs, which returns a few numbers per case; a page
of evidence then reads only its own 50 cases' keys and tags. The histogram and the
default evidence (regressions first) share that one pass; usage is one query by run.

Holdout sealing: the guard runs (the held-out split) are read only for viewers who may
see the holdout. Below that the page knows only whether the guard passed or diverged:
no guard number, no case key, no text of a guard case reaches the template.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, Literal, NamedTuple

import plotly.graph_objects as go
from django.db import connections
from django.db.models import Avg, Count, Exists, F, OuterRef, Q, QuerySet, Sum
from django.db.models.expressions import OrderBy
from django.http import Http404

from evolab.evals.models import EvalCase, EvalCaseTag, Split
from evolab.evolution.models import Outcome, PolicyVersion, Proposal, ProposalStage
from evolab.evolution.policy import PolicyRules
from evolab.harnesses.models import HarnessHead, HarnessVersion
from evolab.harnesses.tree import TreeDiff, diff_trees
from evolab.projects.models import Project
from evolab.runs.models import CaseResult, ResultStatus, Run
from evolab.runs.transcripts import TranscriptEntry, transcript_entries

# Case means closer than this are a tie (as in engine.comparison).
TIE = 1e-9
# The histogram of per-case deltas: bins of this width centred on -1.0, -0.9, …, +1.0.
HISTOGRAM_BIN = 0.1

# ------------------------------------------------------------------- proposal


def get_proposal(project: Project, number: int) -> Proposal:
    """The proposal with everything its header shows, without any harness file tree."""
    proposal = (
        Proposal.objects.filter(project=project, number=number)
        .select_related(
            "campaign__runner_backend",
            "campaign__proposer_backend",
            "round",
            "guidance",
            "base_version",
            "candidate_version",
            "merged_by",
            "closed_by",
            "assignee",
            "author",
        )
        .defer("base_version__files", "candidate_version__files")
        .first()
    )
    if proposal is None:
        raise Http404(f"No proposal {number}")
    return proposal


def proposal_policy(proposal: Proposal) -> PolicyRules:
    """The policy version that classified the proposal (the default one for 0)."""
    if not proposal.policy_number:
        return PolicyRules()
    rules = (
        PolicyVersion.objects.filter(project_id=proposal.project_id, number=proposal.policy_number)
        .values_list("rules", flat=True)
        .first()
    )
    return PolicyRules.from_dict(rules) if rules is not None else PolicyRules()


# --------------------------------------------------------------------- header

Tone = Literal["good", "bad", "amber", "noise"]


@dataclass(frozen=True)
class ProposalStatus:
    code: str  # stable, for styles and tests
    text: str
    tone: Tone


@dataclass(frozen=True)
class HeadInfo:
    version_id: int
    number: int


def head_info(project: Project) -> HeadInfo | None:
    row = HarnessHead.objects.filter(project=project).values_list("version_id", "version__number").first()
    return HeadInfo(*row) if row is not None else None


def proposal_status(proposal: Proposal, head: HeadInfo | None) -> ProposalStatus:
    """Merged / closed / still evaluating / auto-rejected / stale / waiting for review."""
    if proposal.merged_at is not None:
        who = proposal.merged_by.get_username() if proposal.merged_by else None
        return ProposalStatus("merged", f"merged by {who}" if who else "merged by policy", "good")
    if proposal.closed_at is not None:
        who = proposal.closed_by.get_username() if proposal.closed_by else None
        text = f"rejected by {who}" if who else "closed"
        reason = f": {proposal.closed_reason}" if proposal.closed_reason else ""
        return ProposalStatus("rejected", text + reason, "bad")
    if proposal.stage != ProposalStage.CLASSIFIED:
        return ProposalStatus(proposal.stage, proposal.get_stage_display(), "noise")
    if proposal.outcome == Outcome.AUTO_REJECT:
        return ProposalStatus("auto_rejected", "auto-rejected", "bad")
    if head is not None and head.version_id != proposal.base_version_id:
        text = (
            f"stale: head moved to v{head.number} since its base v{proposal.base_version.number}; "
            "it must be rebased and evaluated again before it can merge"
        )
        return ProposalStatus("stale", text, "amber")
    return ProposalStatus("waiting", "waiting for review", "amber")


@dataclass(frozen=True)
class RevisionLink:
    number: int
    revision: int
    current: bool


def revision_chain(proposal: Proposal) -> list[RevisionLink]:
    """Every revision of the same change, oldest first, from one query over the project's
    revision links (a chain is short; the whole project's links are few)."""
    edges = list(
        Proposal.objects.filter(project_id=proposal.project_id, revision_of__isnull=False).values_list(
            "pk", "number", "revision", "revision_of_id", "revision_of__number", "revision_of__revision"
        )
    )
    if not edges:
        return []
    nodes: dict[int, tuple[int, int]] = {}
    neighbours: dict[int, set[int]] = {}
    for pk, number, revision, parent_pk, parent_number, parent_revision in edges:
        nodes[pk] = (number, revision)
        nodes.setdefault(parent_pk, (parent_number, parent_revision))
        neighbours.setdefault(pk, set()).add(parent_pk)
        neighbours.setdefault(parent_pk, set()).add(pk)
    if proposal.pk not in nodes:
        return []
    seen = {proposal.pk}
    todo = [proposal.pk]
    while todo:
        for other in neighbours[todo.pop()] - seen:
            seen.add(other)
            todo.append(other)
    chain = sorted(seen, key=lambda pk: (nodes[pk][1], nodes[pk][0]))
    return [RevisionLink(nodes[pk][0], nodes[pk][1], pk == proposal.pk) for pk in chain]


# ----------------------------------------------------------------------- diff


def proposal_diff(proposal: Proposal) -> TreeDiff | None:
    """Base → candidate, per file; None when no candidate version was made."""
    if proposal.candidate_version_id is None:
        return None
    files = dict(
        HarnessVersion.objects.filter(pk__in=[proposal.base_version_id, proposal.candidate_version_id]).values_list(
            "pk", "files"
        )
    )
    return diff_trees(files[proposal.base_version_id], files[proposal.candidate_version_id])


BackendSupport = Literal["accepted", "ignored", "rejected", "unknown", "evolab"]


@dataclass(frozen=True)
class ParamRow:
    key: str
    old: Any
    new: Any
    # What the runner backend's probe found for the parameter; "evolab" for agent
    # settings, which evolab's own loop applies and no backend ever receives.
    support: BackendSupport
    evidence: str
    safe_range: tuple[float, float] | None

    @property
    def in_range(self) -> bool | None:
        if self.safe_range is None:
            return None
        value = self.new
        if isinstance(value, bool) or not isinstance(value, int | float):
            return False
        return self.safe_range[0] <= value <= self.safe_range[1]


def param_rows(proposal: Proposal, rules: PolicyRules) -> list[ParamRow]:
    probe = proposal.campaign.runner_backend.probe_results or {}
    rows = []
    for key, (old, new) in sorted(proposal.param_changes.items()):
        section, _, name = key.partition(".")
        found = (probe.get(name) or {}) if section == "sampling" else {}
        support: BackendSupport = "evolab" if section == "agent" else found.get("status") or "unknown"
        rows.append(ParamRow(key, old, new, support, str(found.get("evidence", "")), rules.safe_ranges.get(key)))
    return rows


# --------------------------------------------------------------------- splits


@dataclass(frozen=True)
class RunPair:
    """The parent's and the candidate's runs on one split."""

    split: str
    parent_run_id: int | None
    candidate_run_id: int | None
    guard: bool  # the held-out guard split

    @property
    def complete(self) -> bool:
        return self.parent_run_id is not None and self.candidate_run_id is not None


def selection_pair(proposal: Proposal) -> RunPair:
    round_ = proposal.round
    parent = proposal.parent_run_id or (round_.parent_run_id if round_ else None)
    return RunPair(proposal.campaign.selection_split, parent, proposal.candidate_run_id, guard=False)


def guard_pair(proposal: Proposal) -> RunPair | None:
    if not proposal.campaign.guard_split:
        return None
    round_ = proposal.round
    parent = proposal.parent_guard_run_id or (round_.parent_guard_run_id if round_ else None)
    return RunPair(proposal.campaign.guard_split, parent, proposal.guard_run_id, guard=True)


def evidence_pairs(proposal: Proposal, *, sees_holdout: bool) -> dict[str, RunPair]:
    """The splits whose cases this viewer may list, selection first. The guard split and
    any holdout split are left out below maintainer."""
    pairs = {}
    for pair in (selection_pair(proposal), guard_pair(proposal)):
        if pair is None or pair.split in pairs:
            continue
        if not sees_holdout and (pair.guard or pair.split == Split.HOLDOUT):
            continue
        pairs[pair.split] = pair
    return pairs


# ------------------------------------------------------- per-case numbers


class CaseDelta(NamedTuple):
    """One case of a split: each side's mean score over its scored samples, and the
    delta (None unless both sides scored it)."""

    case_id: int
    parent_mean: float | None
    candidate_mean: float | None
    delta: float | None

    @property
    def result(self) -> str:
        """win / loss / tie, or "missing" when a side has no scored sample."""
        if self.delta is None:
            return "missing"
        if self.delta > TIE:
            return "win"
        if self.delta < -TIE:
            return "loss"
        return "tie"


EVIDENCE_SORTS: dict[str, tuple[str | OrderBy, ...]] = {
    "delta": (F("delta").asc(nulls_last=True), "case"),
    "-delta": (F("delta").desc(nulls_last=True), "case"),
    "key": ("case__key",),
}


def _per_case(pair: RunPair) -> QuerySet[CaseResult, dict[str, Any]]:
    """Both runs' results on the split, grouped by case in SQL (one pass over the rows)."""
    scored = Q(status=ResultStatus.DONE, score__isnull=False)
    parent, candidate = Q(run_id=pair.parent_run_id), Q(run_id=pair.candidate_run_id)
    return (
        CaseResult.objects.filter(run_id__in=[pair.parent_run_id, pair.candidate_run_id], case__split=pair.split)
        .values("case")
        .annotate(
            parent_mean=Avg("score", filter=scored & parent),
            candidate_mean=Avg("score", filter=scored & candidate),
        )
        .annotate(delta=F("candidate_mean") - F("parent_mean"))
    )


def case_deltas(pair: RunPair, *, regressions: bool = False, tag: str = "", sort: str = "delta") -> list[CaseDelta]:
    """The split's cases, filtered and sorted in SQL, in one query. A few numbers per
    case: the page slices this list and reads only its own cases' keys and tags."""
    if not pair.complete:
        return []
    rows = _per_case(pair)
    if tag:
        rows = rows.filter(Exists(EvalCaseTag.objects.filter(case=OuterRef("case"), tag=tag)))
    if regressions:
        rows = rows.filter(Q(delta__lt=-TIE))
    rows = rows.order_by(*EVIDENCE_SORTS.get(sort, EVIDENCE_SORTS["delta"]))
    # Straight from the cursor: the columns (case, parent_mean, candidate_mean, delta) are
    # already ints and floats, and Django's per-value converters would cost more than
    # the query itself for 5,000 cases.
    sql, params = rows.query.sql_with_params()
    with connections[rows.db].cursor() as cursor:
        cursor.execute(sql, params)
        return [CaseDelta._make(row[:4]) for row in cursor.fetchall()]


@dataclass(frozen=True)
class UsageSide:
    results: int
    paid_usd: float  # this run's spend: answers from the response cache cost nothing
    tokens: float  # per result
    latency_s: float | None  # mean over fresh (uncached) answers


@dataclass(frozen=True)
class UsageChange:
    parent: UsageSide
    candidate: UsageSide

    @property
    def tokens_pct(self) -> float | None:
        return _pct(self.parent.tokens, self.candidate.tokens)

    @property
    def latency_delta_s(self) -> float | None:
        if self.parent.latency_s is None or self.candidate.latency_s is None:
            return None
        return self.candidate.latency_s - self.parent.latency_s

    @property
    def latency_pct(self) -> float | None:
        return _pct(self.parent.latency_s, self.candidate.latency_s)


def _pct(old: float | None, new: float | None) -> float | None:
    if old is None or new is None or old <= 0:
        return None
    return (new - old) / old * 100


def usage_change(pair: RunPair) -> UsageChange | None:
    """Tokens, spend and latency of the candidate next to the parent on the pair's split,
    from one query grouped by run."""
    if not pair.complete:
        return None
    rows = {
        row["run"]: row
        for row in CaseResult.objects.filter(
            run_id__in=[pair.parent_run_id, pair.candidate_run_id], case__split=pair.split, status=ResultStatus.DONE
        )
        .values("run")
        .annotate(
            n=Count("id"),
            paid=Sum("cost_usd"),
            tokens=Sum(F("input_tokens") + F("output_tokens")),
            latency=Avg("latency_s", filter=Q(cached=False)),
        )
        .order_by()
    }
    sides = []
    for run_id in (pair.parent_run_id, pair.candidate_run_id):
        row = rows.get(run_id)
        if row is None:
            return None
        sides.append(UsageSide(row["n"], float(row["paid"] or 0), (row["tokens"] or 0) / row["n"], row["latency"]))
    return UsageChange(*sides)


@dataclass(frozen=True)
class Histogram:
    """Cases per bin of per-case delta, as a plotly figure (JSON) and as text for people
    without the chart (screen readers, no JavaScript)."""

    figure_json: str
    bins: list[tuple[float, int]]
    cases: int

    @property
    def summary(self) -> str:
        shown = [f"{centre:+.1f}: {count}" for centre, count in self.bins if count]
        return f"{self.cases} cases by delta — " + ", ".join(shown)


def delta_histogram(cases: Sequence[CaseDelta]) -> Histogram | None:
    deltas = [case.delta for case in cases if case.delta is not None]
    if not deltas:
        return None
    steps = round(1 / HISTOGRAM_BIN)
    counts = [0] * (2 * steps + 1)
    for delta in deltas:
        counts[max(-steps, min(steps, round(delta / HISTOGRAM_BIN))) + steps] += 1
    centres = [round((index - steps) * HISTOGRAM_BIN, 1) for index in range(len(counts))]
    # Colour says better / worse / within noise; the x axis says it too.
    colours = ["#b42318" if c < 0 else "#1c7c3c" if c > 0 else "#6b7280" for c in centres]
    figure = go.Figure(
        go.Bar(
            x=centres,
            y=counts,
            width=HISTOGRAM_BIN * 0.9,
            marker_color=colours,
            hovertemplate="Δ %{x:+.1f}: %{y} cases<extra></extra>",
        ),
        layout=go.Layout(
            template="none",
            height=170,
            margin={"l": 40, "r": 10, "t": 10, "b": 40},
            xaxis={
                "title": {"text": "delta per case (candidate minus parent)"},
                "range": [-1.05, 1.05],
                "zeroline": False,
            },
            yaxis={"title": {"text": "cases"}, "rangemode": "tozero"},
            showlegend=False,
        ),
    )
    return Histogram(figure.to_json(), list(zip(centres, counts, strict=True)), len(deltas))


# ------------------------------------------------------------------- evidence


@dataclass(frozen=True)
class CaseEvidence:
    case_id: int
    key: str
    tags: list[str]  # the critical tag first
    parent_mean: float | None
    candidate_mean: float | None
    delta: float | None
    result: str  # win / loss / tie / missing


def evidence_rows(cases: Sequence[CaseDelta], *, critical_tag: str) -> list[CaseEvidence]:
    """A page of cases with their keys and tags (one query for the page's cases)."""
    details = {
        pk: (key, tags)
        for pk, key, tags in EvalCase.objects.filter(pk__in=[case.case_id for case in cases]).values_list(
            "pk", "key", "tags"
        )
    }
    rows = []
    for case in cases:
        key, tags = details[case.case_id]
        tags = [str(tag) for tag in tags or []]
        rows.append(
            CaseEvidence(
                case_id=case.case_id,
                key=key,
                tags=sorted(tags, key=lambda tag: tag != critical_tag),
                parent_mean=case.parent_mean,
                candidate_mean=case.candidate_mean,
                delta=case.delta,
                result=case.result,
            )
        )
    return rows


def evidence_tags(proposal: Proposal, split: str) -> list[tuple[str, int]]:
    """Tags of the split's cases with how many carry each, for the tag filter."""
    return list(
        EvalCaseTag.objects.filter(case__version_id=proposal.campaign.suite_version_id, case__split=split)
        .values_list("tag")
        .annotate(n=Count("case"))
        .order_by("tag")
    )


# ---------------------------------------------------------- transcript pair

_SIDE_FIELDS = (
    "id",
    "run_id",
    "sample",
    "status",
    "episode_status",
    "score",
    "passed",
    "output",
    "transcript",
    "tool_calls",
    "grade_details",
    "error",
    "input_tokens",
    "output_tokens",
    "reasoning_tokens",
    "cost_usd",
    "latency_s",
    "cached",
)


@dataclass(frozen=True)
class TranscriptSide:
    label: str  # "parent" / "candidate"
    run_number: int | None
    result: dict[str, Any] | None  # None: this side has no result for the sample
    entries: list[TranscriptEntry] = field(default_factory=list)


@dataclass(frozen=True)
class TranscriptPair:
    split: str
    key: str
    case_input: Any
    target: str
    tags: list[str]
    samples: list[int]
    sample: int
    parent: TranscriptSide
    candidate: TranscriptSide

    @property
    def input_messages(self) -> list[tuple[str, str]]:
        """The case input as (role, text) pairs: a plain string is one user message."""
        if isinstance(self.case_input, list):
            return [
                (str(m.get("role", "?")), str(m.get("content", ""))) if isinstance(m, dict) else ("?", str(m))
                for m in self.case_input
            ]
        return [("user", str(self.case_input))]


def transcript_pair(
    proposal: Proposal, pairs: dict[str, RunPair], key: str, sample: int, run_numbers: dict[int, int]
) -> TranscriptPair:
    """One case's parent and candidate results for one sample, side by side. `pairs` are
    the splits this viewer may see (`evidence_pairs`): a case of any other split is 404,
    so a sealed case's text is never read for someone who may not see it."""
    case = (
        EvalCase.objects.filter(version_id=proposal.campaign.suite_version_id, key=key, split__in=list(pairs))
        .values("pk", "split", "input", "target", "tags")
        .first()
    )
    if case is None:
        raise Http404("No such case in this proposal's splits")
    pair = pairs[case["split"]]
    results = list(
        CaseResult.objects.filter(
            run_id__in=[r for r in (pair.parent_run_id, pair.candidate_run_id) if r is not None], case_id=case["pk"]
        )
        .order_by("sample")
        .values(*_SIDE_FIELDS)
    )
    samples = sorted({row["sample"] for row in results})
    chosen = sample if sample in samples else (samples[0] if samples else 0)

    def side(label: str, run_id: int | None) -> TranscriptSide:
        row = next((r for r in results if r["run_id"] == run_id and r["sample"] == chosen), None)
        number = run_numbers.get(run_id) if run_id is not None else None
        if row is None:
            return TranscriptSide(label, number, None)
        return TranscriptSide(label, number, row, transcript_entries(row["transcript"] or [], row["tool_calls"] or []))

    return TranscriptPair(
        split=case["split"],
        key=key,
        case_input=case["input"],
        target=case["target"],
        tags=list(case["tags"] or []),
        samples=samples,
        sample=chosen,
        parent=side("parent", pair.parent_run_id),
        candidate=side("candidate", pair.candidate_run_id),
    )


def run_numbers(proposal: Proposal, pairs: dict[str, RunPair]) -> dict[int, int]:
    """Run id → run number for the runs of `pairs`, for links to the run pages."""
    ids = {r for pair in pairs.values() for r in (pair.parent_run_id, pair.candidate_run_id) if r is not None}
    return dict(Run.objects.filter(pk__in=ids, project_id=proposal.project_id).values_list("pk", "number"))
