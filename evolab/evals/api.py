"""Eval suites over the REST API, mounted under /projects."""

from __future__ import annotations

import json
from typing import Any, Literal

from django.db.models import QuerySet
from django.http import StreamingHttpResponse
from ninja import File, Form, Query, Router, Status
from ninja.files import UploadedFile
from ninja.pagination import LimitOffsetPagination, paginate

from evolab.core.errors import ValidationFailed
from evolab.core.http import AuthedRequest
from evolab.evals import actions
from evolab.evals.exporting import jsonl_download
from evolab.evals.importing import guess_format, parse_mapping
from evolab.evals.models import EvalSuite, SuiteVersion
from evolab.evals.schemas import CaseOut, ImportFailedOut, SuiteDetailOut, SuiteIn, SuiteOut, VersionOut
from evolab.evals.selectors import (
    CaseList,
    can_see_holdout,
    cases_of,
    get_suite,
    get_suite_version,
    get_suite_version_or_404,
    split_counts,
    suites_of,
    versions_of,
)
from evolab.projects.models import Role
from evolab.projects.selectors import get_project_for, role_of

router = Router(tags=["evals"])


@router.get("/{slug}/suites", response=list[SuiteOut])
@paginate(LimitOffsetPagination)
def list_suites(request: AuthedRequest, slug: str) -> QuerySet[EvalSuite]:
    return suites_of(get_project_for(request.user, slug))


@router.post("/{slug}/suites", response={201: SuiteOut})
def create_suite(request: AuthedRequest, slug: str, payload: SuiteIn) -> Status:
    project = get_project_for(request.user, slug, Role.MAINTAINER)
    suite = actions.suite_create(
        actor=request.user,
        project=project,
        slug=payload.slug,
        name=payload.name,
        description=payload.description,
        default_grader=payload.default_grader,
    )
    return Status(201, get_suite(project, suite.slug))


@router.get("/{slug}/suites/{suite_slug}", response=SuiteDetailOut)
def get_suite_detail(request: AuthedRequest, slug: str, suite_slug: str) -> EvalSuite:
    suite = get_suite(get_project_for(request.user, slug), suite_slug)
    latest = get_suite_version(suite, None)
    suite.latest = latest  # type: ignore[attr-defined]
    suite.split_counts = split_counts(latest) if latest else {}  # type: ignore[attr-defined]
    return suite


@router.get("/{slug}/suites/{suite_slug}/versions", response=list[VersionOut])
@paginate(LimitOffsetPagination)
def list_versions(request: AuthedRequest, slug: str, suite_slug: str) -> QuerySet[SuiteVersion]:
    return versions_of(get_suite(get_project_for(request.user, slug), suite_slug))


@router.get("/{slug}/suites/{suite_slug}/cases", response=list[CaseOut])
@paginate(LimitOffsetPagination)
def list_cases(
    request: AuthedRequest,
    slug: str,
    suite_slug: str,
    version: int | None = None,
    # Plain annotations: @paginate's wrapper resolves them in ninja's module, not ours.
    split: str = Query("", pattern="^(train|dev|holdout)?$"),
    tag: str = "",
    q: str = "",
) -> CaseList | list[Any]:
    """Cases of a version (the latest by default). Holdout cases are sealed below maintainer."""
    project = get_project_for(request.user, slug)
    suite_version = get_suite_version(get_suite(project, suite_slug), version)
    if suite_version is None:
        return []
    return cases_of(suite_version, viewer_role=role_of(project), search=q, tag=tag, split=split)


@router.post("/{slug}/suites/{suite_slug}/import", response={201: VersionOut, 422: ImportFailedOut})
def import_version(
    request: AuthedRequest,
    slug: str,
    suite_slug: str,
    # Optional here so that the role check answers before a missing file does.
    file: File[UploadedFile | None] = None,
    format: Form[Literal["jsonl", "csv", ""]] = "",
    mapping: Form[str] = "",
    default_grader: Form[str] = "",
    message: Form[str] = "",
    mode: Form[Literal["replace", "merge"]] = "replace",
) -> Status:
    """Create the next version from a JSONL or CSV upload (multipart), all or nothing.

    `mapping` holds `case_field=source_field` pairs, one per line (or comma-separated);
    `default_grader` is JSON text. A bad file answers 422 `import_failed` with every
    bad line in `details.errors` (the first 50) and the rest counted in `details.more`.
    """
    suite = get_suite(get_project_for(request.user, slug, Role.MAINTAINER), suite_slug)
    if file is None:
        raise ValidationFailed("Attach the file to import.", field="file")
    version = actions.suite_version_import(
        actor=request.user,
        suite=suite,
        source=file.read(),
        fmt=format or guess_format(file.name or ""),
        mapping=parse_mapping(mapping.replace(",", "\n").splitlines()),
        default_grader=_json_object(default_grader),
        message=message,
        base=mode,
    )
    return Status(201, version)


def _json_object(text: str) -> dict[str, Any] | None:
    if not text.strip():
        return None
    try:
        value = json.loads(text)
    except json.JSONDecodeError as exc:
        raise ValidationFailed(f"Not valid JSON: {exc.msg}.", field="default_grader") from None
    if not isinstance(value, dict):
        raise ValidationFailed("A grader is a JSON object.", field="default_grader")
    return value


@router.get("/{slug}/suites/{suite_slug}/export")
def export_version(
    request: AuthedRequest, slug: str, suite_slug: str, version: int | None = None
) -> StreamingHttpResponse:
    """The version (latest by default) as JSONL. Holdout cases are included for maintainers
    and owners only; for reviewers and viewers they are left out entirely."""
    project = get_project_for(request.user, slug)
    suite = get_suite(project, suite_slug)
    return jsonl_download(get_suite_version_or_404(suite, version), include_holdout=can_see_holdout(role_of(project)))
