"""Reads for runs. Callers reach the project through `get_project_for`.

Every list here costs a fixed number of queries whatever its length: per-run and
per-case numbers are aggregated in SQL (`values(...).annotate(...)`) for the rows of
one page at a time, never by touching each row's relations.

Holdout sealing: below maintainer, a result of a holdout case is shown with its key,
split, tags, sample, status, score and usage only. Its output, transcript, tool calls,
grader details, attempts and error text are replaced by NULL in SQL (or never
selected), so they do not leave the database.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any, Literal, overload

from django.db.models import (
    Avg,
    BooleanField,
    Case,
    Count,
    Exists,
    F,
    FloatField,
    JSONField,
    OuterRef,
    Q,
    QuerySet,
    Sum,
    TextField,
    Value,
    When,
)
from django.db.models.expressions import OrderBy
from django.db.models.functions import Coalesce
from django.http import Http404
from django.utils import timezone

from evolab.core.errors import ValidationFailed
from evolab.core.lazy_rows import LazyRows
from evolab.engine.harness_config import HarnessConfigError, parse_harness_config
from evolab.engine.rendering import HarnessRenderError, render_messages
from evolab.engine.statistics import Estimate, score_estimate
from evolab.evals.importing import grading_case
from evolab.evals.models import EvalCase, EvalCaseTag, EvalSuite, Split, SuiteVersion
from evolab.evals.selectors import can_see_holdout
from evolab.harnesses.models import HarnessVersion
from evolab.harnesses.selectors import head_of
from evolab.projects.models import Backend, Project, Role
from evolab.runs.actions import RunSpec
from evolab.runs.estimates import CostEstimate, estimate_cost
from evolab.runs.models import CaseResult, ResultStatus, Run

# A run's results as ResultView, converted lazily page by page.
ResultList = LazyRows["ResultView"]

# --------------------------------------------------------------------------- runs


def runs_of(project: Project) -> QuerySet[Run]:
    """Newest first, with what a list row shows (harness number, suite slug, author)."""
    return (
        Run.objects.filter(project=project)
        .select_related("harness_version", "suite_version__suite", "created_by")
        .defer("harness_version__files")
        .order_by("-number")
    )


def get_run(project: Project, number: int) -> Run:
    run = runs_of(project).filter(number=number).first()
    if run is None:
        raise Http404(f"No run {number}")
    return run


@dataclass(frozen=True)
class RunSummary:
    """Progress numbers of one run, derived from its result rows."""

    total: int
    done: int
    errors: int
    input_tokens: int
    output_tokens: int
    spend_usd: float
    score: Estimate | None
    # Seconds until the last result, from the rate of results finished since the run
    # started; None when the run is not active or nothing has finished yet.
    eta_s: float | None = None

    @property
    def finished(self) -> int:
        return self.done + self.errors

    @property
    def pending(self) -> int:
        return max(0, self.total - self.finished)

    @property
    def percent(self) -> float:
        return 100.0 * self.finished / self.total if self.total else 100.0


EMPTY_SUMMARY = RunSummary(0, 0, 0, 0, 0, 0.0, None)


def _per_case_scores(rows: Iterable[Mapping[str, Any]]) -> dict[str, list[float]]:
    """Rows of (case, mean, n) → score_estimate's input: n copies of the case mean keep
    both the per-case mean and the sample count that decides the interval's method."""
    return {str(row["case"]): [float(row["mean"])] * int(row["n"]) for row in rows}


def run_summaries(runs: Sequence[Run]) -> dict[int, RunSummary]:
    """Summaries of several runs in two queries, whatever the number of runs or results.

    The score is the mean over cases of each case's mean score over its scored samples
    (errored samples are counted as errors, not as zeros), with its 95% interval.
    """
    ids = [run.pk for run in runs]
    if not ids:
        return {}
    totals = {
        row["run"]: row
        for row in CaseResult.objects.filter(run_id__in=ids)
        .values("run")
        .annotate(
            done=Count("id", filter=Q(status=ResultStatus.DONE)),
            errors=Count("id", filter=Q(status=ResultStatus.ERROR)),
            input_tokens=Coalesce(Sum("input_tokens"), 0),
            output_tokens=Coalesce(Sum("output_tokens"), 0),
            spend=Coalesce(Sum("cost_usd"), 0.0, output_field=FloatField()),
        )
        .order_by()
    }
    per_case: dict[int, list[dict[str, Any]]] = defaultdict(list)
    for row in (
        CaseResult.objects.filter(run_id__in=ids, status=ResultStatus.DONE, score__isnull=False)
        .values("run", "case")
        .annotate(mean=Avg("score"), n=Count("id"))
        .order_by()
    ):
        per_case[row["run"]].append(row)
    now = timezone.now()
    summaries = {}
    for run in runs:
        total = totals.get(run.pk)
        if total is None:
            summaries[run.pk] = RunSummary(run.total_results, 0, 0, 0, 0, 0.0, None)
            continue
        summary = RunSummary(
            total=run.total_results,
            done=total["done"],
            errors=total["errors"],
            input_tokens=total["input_tokens"],
            output_tokens=total["output_tokens"],
            spend_usd=float(total["spend"]),
            score=score_estimate(_per_case_scores(per_case[run.pk])),
        )
        finished = summary.finished
        if run.is_active and run.started_at is not None and finished and summary.pending:
            elapsed = (now - run.started_at).total_seconds()
            summary = replace(summary, eta_s=summary.pending * elapsed / finished)
        summaries[run.pk] = summary
    return summaries


def run_summary(run: Run) -> RunSummary:
    return run_summaries([run])[run.pk]


@dataclass(frozen=True)
class RunRow:
    run: Run
    summary: RunSummary


class RunList:
    """Runs as a lazily sliced sequence of RunRow: a Paginator (or ninja's pagination)
    slices it, and each slice costs one query for the runs and two for their numbers."""

    def __init__(self, runs: QuerySet[Run]) -> None:
        self._runs = runs

    def count(self) -> int:
        return self._runs.count()

    def __len__(self) -> int:
        return self.count()

    @overload
    def __getitem__(self, index: int) -> RunRow: ...
    @overload
    def __getitem__(self, index: slice) -> list[RunRow]: ...
    def __getitem__(self, index: int | slice) -> RunRow | list[RunRow]:
        if isinstance(index, int):
            return self[index : index + 1][0]
        runs = list(self._runs[index])
        summaries = run_summaries(runs)
        return [RunRow(run, summaries[run.pk]) for run in runs]

    def __iter__(self) -> Iterator[RunRow]:
        return iter(self[:])


def run_list(project: Project) -> RunList:
    return RunList(runs_of(project))


# -------------------------------------------------------------- results by case

ResultFilter = Literal["all", "failed", "errored"]
RESULT_FILTERS: tuple[ResultFilter, ...] = ("all", "failed", "errored")
# Sort key → ORDER BY of the per-case rows; key breaks ties so pages are stable.
# Cases without a score (all errored or pending) sort first when looking for the worst,
# last otherwise — the same on SQLite and PostgreSQL, whose NULL orders differ.
RESULT_SORTS: dict[str, tuple[str | OrderBy, ...]] = {
    "key": ("case__key",),
    "score": (F("mean_score").asc(nulls_first=True), "case__key"),
    "-score": (F("mean_score").desc(nulls_last=True), "case__key"),
    "-latency": (F("mean_latency").desc(nulls_last=True), "case__key"),
    "-tokens": (F("tokens").desc(nulls_last=True), "case__key"),
}


@dataclass(frozen=True)
class SampleMark:
    result_id: int
    sample: int
    status: str
    passed: bool | None

    @property
    def symbol(self) -> str:
        if self.status == ResultStatus.ERROR:
            return "!"
        if self.status == ResultStatus.PENDING:
            return "·"
        return "✓" if self.passed else "✗"

    @property
    def label(self) -> str:
        if self.status == ResultStatus.ERROR:
            return "errored"
        if self.status == ResultStatus.PENDING:
            return "pending"
        return "passed" if self.passed else "failed"


@dataclass(frozen=True)
class CaseRow:
    """One case of a run: its samples' marks and their means."""

    case_id: int
    key: str
    split: str
    tags: list[str]
    mean_score: float | None
    mean_latency: float | None
    tokens: int
    marks: list[SampleMark] = field(default_factory=list)

    @property
    def first_result_id(self) -> int | None:
        return self.marks[0].result_id if self.marks else None


class CaseRowList:
    """Per-case rows of a run, lazily sliced: one query for the page of cases (grouped
    and aggregated in SQL), one for their samples' marks, one for their tags."""

    def __init__(self, rows: QuerySet[CaseResult, dict[str, Any]], run: Run) -> None:
        self._rows = rows
        self._run = run

    def count(self) -> int:
        return self._rows.count()

    def __len__(self) -> int:
        return self.count()

    @overload
    def __getitem__(self, index: int) -> CaseRow: ...
    @overload
    def __getitem__(self, index: slice) -> list[CaseRow]: ...
    def __getitem__(self, index: int | slice) -> CaseRow | list[CaseRow]:
        if isinstance(index, int):
            return self[index : index + 1][0]
        rows = list(self._rows[index])
        case_ids = [row["case"] for row in rows]
        marks: dict[int, list[SampleMark]] = defaultdict(list)
        for mark in (
            CaseResult.objects.filter(run=self._run, case_id__in=case_ids)
            .order_by("sample")
            .values("id", "case_id", "sample", "status", "passed")
        ):
            marks[mark["case_id"]].append(SampleMark(mark["id"], mark["sample"], mark["status"], mark["passed"]))
        tags = dict(EvalCase.objects.filter(pk__in=case_ids).values_list("pk", "tags"))
        return [
            CaseRow(
                case_id=row["case"],
                key=row["case__key"],
                split=row["case__split"],
                tags=list(tags.get(row["case"]) or []),
                mean_score=row["mean_score"],
                mean_latency=row["mean_latency"],
                tokens=row["tokens"],
                marks=marks[row["case"]],
            )
            for row in rows
        ]

    def __iter__(self) -> Iterator[CaseRow]:
        return iter(self[:])


def case_rows(run: Run, *, filter: str = "all", tag: str = "", search: str = "", sort: str = "key") -> CaseRowList:
    """The run's cases, one row each, filtered and sorted in SQL.

    `failed`: a case with at least one scored sample that did not pass; `errored`: with
    at least one errored sample; `tag`: cases carrying that tag; `search` matches the
    case key only (never sealed text).
    """
    results = CaseResult.objects.filter(run=run)
    if tag:
        results = results.filter(Exists(EvalCaseTag.objects.filter(case=OuterRef("case"), tag=tag)))
    if search.strip():
        results = results.filter(case__key__icontains=search.strip())
    rows = (
        results.values("case", "case__key", "case__split")
        .annotate(
            mean_score=Avg("score", filter=Q(status=ResultStatus.DONE)),
            mean_latency=Avg("latency_s"),
            tokens=Coalesce(Sum(F("input_tokens") + F("output_tokens")), 0),
            failed=Count("id", filter=Q(status=ResultStatus.DONE, passed=False)),
            errored=Count("id", filter=Q(status=ResultStatus.ERROR)),
        )
        .order_by(*RESULT_SORTS.get(sort, RESULT_SORTS["key"]))
    )
    if filter == "failed":
        rows = rows.filter(failed__gt=0)
    elif filter == "errored":
        rows = rows.filter(errored__gt=0)
    return CaseRowList(rows, run)


def run_tags(run: Run) -> list[tuple[str, int]]:
    """Tags of the run's cases with how many cases carry each, for the tag filter."""
    return list(
        EvalCaseTag.objects.filter(case__version_id=run.suite_version_id, case__split__in=run.splits)
        .values_list("tag")
        .annotate(n=Count("case", distinct=True))
        .order_by("tag")
    )


# ---------------------------------------------------------------- one result

# Fields that are withheld for a holdout case below maintainer.
SEALED_RESULT_FIELDS = ("output", "transcript", "tool_calls", "grade_details", "attempts", "error")
_SEALED_OUTPUT = {
    "output": TextField(),
    "transcript": JSONField(),
    "tool_calls": JSONField(),
    "grade_details": JSONField(),
    "attempts": JSONField(),
    "error": TextField(),
}
_PLAIN_FIELDS = (
    "id",
    "sample",
    "status",
    "episode_status",
    "score",
    "passed",
    "sandbox_tier",
    "input_tokens",
    "output_tokens",
    "reasoning_tokens",
    "cost_usd",
    "latency_s",
    "cached",
    "finished_at",
)


@dataclass(frozen=True)
class ResultView:
    """A result as one viewer may see it; `sealed` results carry None for the withheld fields."""

    id: int
    case_key: str
    split: str
    tags: list[str]
    sample: int
    status: str
    episode_status: str
    score: float | None
    passed: bool | None
    sandbox_tier: int | None
    input_tokens: int
    output_tokens: int
    reasoning_tokens: int
    cost_usd: float
    latency_s: float | None
    cached: bool
    finished_at: Any
    sealed: bool
    output: str | None
    transcript: list[dict[str, Any]] | None
    tool_calls: list[dict[str, Any]] | None
    grade_details: dict[str, Any] | None
    attempts: list[dict[str, Any]] | None
    error: str | None


def _projected_results(results: QuerySet[CaseResult], role: Role | int) -> QuerySet[CaseResult, dict[str, Any]]:
    shown: dict[str, Any]
    if can_see_holdout(role):
        shown = {f"shown_{name}": F(name) for name in SEALED_RESULT_FIELDS}
        is_sealed: Any = Value(False)
    else:
        holdout = Q(case__split=Split.HOLDOUT)
        shown = {
            f"shown_{name}": Case(When(holdout, then=Value(None)), default=F(name), output_field=_SEALED_OUTPUT[name])
            for name in SEALED_RESULT_FIELDS
        }
        is_sealed = Case(When(holdout, then=Value(True)), default=Value(False), output_field=BooleanField())
    return results.annotate(is_sealed=is_sealed, **shown).values(
        *_PLAIN_FIELDS,
        "case__key",
        "case__split",
        "case__tags",
        "is_sealed",
        *(f"shown_{name}" for name in SEALED_RESULT_FIELDS),
    )


def _result_view(row: dict[str, Any]) -> ResultView:
    return ResultView(
        case_key=row["case__key"],
        split=row["case__split"],
        tags=list(row["case__tags"] or []),
        sealed=row["is_sealed"],
        **{name: row[name] for name in _PLAIN_FIELDS},
        **{name: row[f"shown_{name}"] for name in SEALED_RESULT_FIELDS},
    )


def results_of(run: Run, *, viewer_role: Role | int, status: str = "", split: str = "") -> ResultList:
    """Every result of the run by case key and sample, sealed as `viewer_role` requires."""
    results = CaseResult.objects.filter(run=run)
    if status in ResultStatus.values:
        results = results.filter(status=status)
    if split in Split.values:
        results = results.filter(case__split=split)
    return LazyRows(_projected_results(results.order_by("case__key", "sample"), viewer_role), _result_view)


def get_result(run: Run, result_id: int, *, viewer_role: Role | int) -> ResultView:
    row = _projected_results(CaseResult.objects.filter(run=run, pk=result_id), viewer_role).first()
    if row is None:
        raise Http404("No such result in this run")
    return _result_view(row)


# ---------------------------------------------------------- starting a run


def harness_for(project: Project, ref: str | int) -> HarnessVersion:
    """`head` (the default) or a version number; ValidationFailed when there is none."""
    if str(ref).strip().lower() in ("", "head"):
        head = head_of(project)
        if head is None:
            raise ValidationFailed("The project has no harness version yet.", field="harness")
        return head
    text = str(ref).strip().lstrip("v")
    if not text.isdigit():
        raise ValidationFailed("Give a harness version number or 'head'.", field="harness")
    version = HarnessVersion.objects.filter(project=project, number=int(text)).first()
    if version is None:
        raise ValidationFailed(f"No harness v{text} in this project.", field="harness")
    return version


def suite_version_for(project: Project, suite_slug: str, number: int | None = None) -> SuiteVersion:
    """Version `number` of the suite, or its latest; ValidationFailed when there is none."""
    suite = EvalSuite.objects.filter(project=project, slug=suite_slug).first()
    if suite is None:
        raise ValidationFailed(f"No suite '{suite_slug}' in this project.", field="suite")
    versions = SuiteVersion.objects.filter(suite=suite).select_related("suite")
    version = versions.order_by("-number").first() if number is None else versions.filter(number=number).first()
    if version is None:
        missing = "has no version yet" if number is None else f"has no v{number}"
        raise ValidationFailed(f"Suite '{suite_slug}' {missing}.", field="suite_version")
    return version


def backend_named(project: Project, name: str) -> Backend:
    backend = Backend.objects.filter(project=project, name=name).first()
    if backend is None:
        raise ValidationFailed(f"No backend '{name}' in this project.", field="backend")
    return backend


def suite_version_choices(project: Project) -> QuerySet[SuiteVersion]:
    """Every suite version of the project, suites by name, newest version first."""
    return (
        SuiteVersion.objects.filter(suite__project=project)
        .select_related("suite")
        .order_by("suite__name", "suite_id", "-number")
    )


# Rendering costs about 2 ms a case; above this many cases the estimate renders an
# evenly spaced sample and says so, so the live estimate panel stays fast.
ESTIMATE_SAMPLE_SIZE = 500


def prompt_lengths(spec: RunSpec, *, sample_size: int | None = None) -> tuple[list[int], int]:
    """Rendered prompt lengths (characters of every message's content) of the cases the
    run will send, or of an evenly spaced `sample_size` of them, with the number of
    cases. A harness that does not render raises ValidationFailed."""
    files = spec.harness_version.files
    try:
        config = parse_harness_config(files.get("harness.yaml"))
    except HarnessConfigError as error:
        raise ValidationFailed(f"harness.yaml: {error}", field="harness") from None
    cases = EvalCase.objects.filter(version=spec.suite_version, split__in=spec.splits).order_by("pk")
    ids = list(cases.values_list("pk", flat=True))
    if sample_size is not None and len(ids) > sample_size:
        step = len(ids) / sample_size
        cases = cases.filter(pk__in=[ids[int(i * step)] for i in range(sample_size)])
    lengths = []
    for key, case_input, target, metadata in cases.values_list("key", "input", "target", "metadata"):
        try:
            messages = render_messages(files, grading_case(key, case_input, target, metadata), config)
        except HarnessRenderError as error:
            raise ValidationFailed(f"Case {key}: {error}", field="harness") from None
        lengths.append(sum(len(str(message.get("content") or "")) for message in messages))
    return lengths, len(ids)


def spec_estimate(spec: RunSpec) -> CostEstimate:
    """What the run would cost, before it starts (see `estimates.estimate_cost`)."""
    if spec.outputs is not None:
        return estimate_cost(backend=None, prompt_chars=[], samples=spec.samples)
    lengths, total = prompt_lengths(spec, sample_size=ESTIMATE_SAMPLE_SIZE)
    if len(lengths) == total:
        return estimate_cost(backend=spec.backend, prompt_chars=lengths, samples=spec.samples)
    mean = round(sum(lengths) / len(lengths)) if lengths else 0
    estimate = estimate_cost(backend=spec.backend, prompt_chars=[mean] * total, samples=spec.samples)
    return replace(estimate, basis=f"{estimate.basis}; prompt lengths from {len(lengths)} of {total:,} cases")


# ------------------------------------------------------------ breakdowns


@dataclass(frozen=True)
class GroupScore:
    group: str  # "split", "tag" or "overall"
    name: str
    cases: int
    score: Estimate | None


def score_breakdown(run: Run) -> list[GroupScore]:
    """Score per split, per tag and overall, from two queries (per-case means, tags)."""
    rows = list(
        CaseResult.objects.filter(run=run, status=ResultStatus.DONE, score__isnull=False)
        .values("case", "case__split")
        .annotate(mean=Avg("score"), n=Count("id"))
        .order_by()
    )
    case_counts = dict(
        EvalCase.objects.filter(version_id=run.suite_version_id, split__in=run.splits)
        .values_list("split")
        .annotate(n=Count("id"))
        .order_by()
    )
    tags_of = dict(
        EvalCase.objects.filter(version_id=run.suite_version_id, split__in=run.splits).values_list("pk", "tags")
    )
    by_split: dict[str, list[dict[str, Any]]] = defaultdict(list)
    by_tag: dict[str, list[dict[str, Any]]] = defaultdict(list)
    tag_counts: dict[str, int] = defaultdict(int)
    for tags in tags_of.values():
        for tag in tags or []:
            tag_counts[tag] += 1
    for row in rows:
        by_split[row["case__split"]].append(row)
        for tag in tags_of.get(row["case"]) or []:
            by_tag[tag].append(row)
    groups = [
        GroupScore("split", split, case_counts.get(split, 0), score_estimate(_per_case_scores(by_split[split])))
        for split in Split.values
        if split in run.splits
    ]
    groups += [
        GroupScore("tag", tag, tag_counts[tag], score_estimate(_per_case_scores(by_tag[tag])))
        for tag in sorted(tag_counts)
    ]
    groups.append(GroupScore("overall", "overall", sum(case_counts.values()), score_estimate(_per_case_scores(rows))))
    return groups
