"""Reads for eval suites. The caller has reached the project through `get_project_for`.

Holdout sealing lives here: below maintainer, a holdout case is listed with its key,
tags and split only. Its input, target, grader and metadata (which can hold the answer,
e.g. HumanEval's canonical_solution) are replaced by NULL in SQL, so they never leave
the database, and search does not match inside them (no oracle by filtering).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, overload

from django.db.models import (
    BooleanField,
    Case,
    Count,
    Exists,
    F,
    JSONField,
    OuterRef,
    Q,
    QuerySet,
    Subquery,
    TextField,
    Value,
    When,
)
from django.http import Http404

from evolab.core.lazy_rows import LazyRows
from evolab.evals.models import EvalCase, EvalCaseTag, EvalSuite, Split, SuiteVersion
from evolab.projects.models import Project, Role

# Cases as CaseView, converted lazily page by page.
CaseList = LazyRows["CaseView"]

SEALED_FIELDS = ("input", "target", "grader", "metadata")
_OUTPUT_FIELDS = {"input": JSONField(), "target": TextField(), "grader": JSONField(), "metadata": JSONField()}


def can_see_holdout(role: Role | int) -> bool:
    return role >= Role.MAINTAINER


def suites_of(project: Project) -> QuerySet[EvalSuite]:
    """The project's suites with `latest_version_number` and `latest_case_count`, in one query."""
    latest = SuiteVersion.objects.filter(suite=OuterRef("pk")).order_by("-number")
    return (
        EvalSuite.objects.filter(project=project)
        .annotate(
            latest_version_number=Subquery(latest.values("number")[:1]),
            latest_case_count=Subquery(latest.values("case_count")[:1]),
        )
        .order_by("name", "pk")
    )


def get_suite(project: Project, slug: str) -> EvalSuite:
    suite = suites_of(project).filter(slug=slug).first()
    if suite is None:
        raise Http404("No such suite")
    return suite


def versions_of(suite: EvalSuite) -> QuerySet[SuiteVersion]:
    return SuiteVersion.objects.filter(suite=suite).select_related("created_by").order_by("-number")


@overload
def get_suite_version(suite: EvalSuite, number: int) -> SuiteVersion: ...
@overload
def get_suite_version(suite: EvalSuite, number: None) -> SuiteVersion | None: ...
def get_suite_version(suite: EvalSuite, number: int | None) -> SuiteVersion | None:
    """Version `number` (404 if missing), or the latest when `number` is None (None if the suite has no version)."""
    versions = SuiteVersion.objects.filter(suite=suite).select_related("suite", "created_by")
    if number is None:
        return versions.order_by("-number").first()
    version = versions.filter(number=number).first()
    if version is None:
        raise Http404("No such suite version")
    return version


def get_suite_version_or_404(suite: EvalSuite, number: int | None) -> SuiteVersion:
    """Version `number`, or the latest; 404 when there is none."""
    version = get_suite_version(suite, number)
    if version is None:
        raise Http404("The suite has no version yet")
    return version


@dataclass(frozen=True)
class CaseView:
    """A case as one viewer may see it; `sealed` cases carry None for the withheld fields."""

    key: str
    split: str
    tags: list[str]
    sealed: bool
    input: str | list[dict[str, str]] | None
    target: str | None
    grader: dict[str, Any] | None
    metadata: dict[str, Any] | None

    @property
    def is_chat(self) -> bool:
        return isinstance(self.input, list)

    @property
    def input_text(self) -> str:
        """The input as one string, for previews."""
        if self.input is None:
            return ""
        if isinstance(self.input, str):
            return self.input
        return "\n".join(f"{m['role']}: {m['content']}" for m in self.input)


def _projected(cases: QuerySet[EvalCase], sealed: bool) -> QuerySet[EvalCase, dict[str, Any]]:
    shown: dict[str, Any]
    if not sealed:
        shown = {f"shown_{name}": F(name) for name in SEALED_FIELDS}
        is_sealed: Any = Value(False)
    else:
        holdout = Q(split=Split.HOLDOUT)
        shown = {
            f"shown_{name}": Case(When(holdout, then=Value(None)), default=F(name), output_field=_OUTPUT_FIELDS[name])
            for name in SEALED_FIELDS
        }
        is_sealed = Case(When(holdout, then=Value(True)), default=Value(False), output_field=BooleanField())
    return cases.annotate(is_sealed=is_sealed, **shown).values(
        "key", "split", "tags", "is_sealed", *(f"shown_{name}" for name in SEALED_FIELDS)
    )


def _view(row: dict[str, Any]) -> CaseView:
    return CaseView(
        key=row["key"],
        split=row["split"],
        tags=row["tags"],
        sealed=row["is_sealed"],
        **{name: row[f"shown_{name}"] for name in SEALED_FIELDS},
    )


def cases_of(
    version: SuiteVersion,
    *,
    viewer_role: Role | int,
    search: str = "",
    tag: str = "",
    split: str = "",
) -> CaseList:
    """The version's cases in file order, filtered, as `viewer_role` may see them.

    `search` matches the key, and the input or target text except of sealed cases.
    """
    sealed = not can_see_holdout(viewer_role)
    cases = EvalCase.objects.filter(version=version)
    if split:
        cases = cases.filter(split=split)
    if tag:
        cases = cases.filter(Exists(EvalCaseTag.objects.filter(case=OuterRef("pk"), tag=tag)))
    search = search.strip()
    if search:
        in_text = Q(search_text__icontains=search)
        if sealed:
            in_text &= ~Q(split=Split.HOLDOUT)
        cases = cases.filter(Q(key__icontains=search) | in_text)
    return LazyRows(_projected(cases.order_by("id"), sealed), _view)


def get_case(version: SuiteVersion, key: str, *, viewer_role: Role | int) -> CaseView:
    rows = _projected(EvalCase.objects.filter(version=version, key=key), not can_see_holdout(viewer_role))
    row = rows.first()
    if row is None:
        raise Http404("No such case")
    return _view(row)


def tag_counts(version: SuiteVersion) -> list[tuple[str, int]]:
    """Every tag of the version with its number of cases, most used first."""
    rows = EvalCaseTag.objects.filter(case__version=version).values("tag").annotate(n=Count("id")).order_by("-n", "tag")
    return [(row["tag"], row["n"]) for row in rows]


def split_counts(version: SuiteVersion) -> dict[str, int]:
    rows = EvalCase.objects.filter(version=version).values("split").annotate(n=Count("id"))
    counts = {split: 0 for split in Split.values}
    counts.update({row["split"]: row["n"] for row in rows})
    return counts
