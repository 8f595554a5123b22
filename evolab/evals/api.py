"""Eval suites over the REST API, mounted under /projects."""

from __future__ import annotations

import json
from typing import Any, Literal

from django.db import transaction
from django.db.models import QuerySet
from django.http import StreamingHttpResponse
from ninja import File, Form, Query, Router, Status
from ninja.files import UploadedFile
from ninja.pagination import paginate

from evolab.core.errors import ValidationFailed
from evolab.core.http import AuthedRequest
from evolab.core.lazy_rows import LazyRows
from evolab.core.pagination import LimitOffsetPagination
from evolab.core.uploads import check_upload_size
from evolab.evals import actions
from evolab.evals.change_operations import redacted_operations
from evolab.evals.change_request_selectors import change_request_view, change_requests_of, get_change_request
from evolab.evals.change_requests import (
    change_request_apply,
    change_request_close,
    change_request_comment,
    change_request_open,
    change_request_submit,
    change_request_vote,
    holdout_export_record,
    holdout_view_record,
    review_state,
)
from evolab.evals.exporting import jsonl_download
from evolab.evals.holdout_audit import holdout_audited
from evolab.evals.import_changes import import_open_change_request
from evolab.evals.importing import guess_format, parse_mapping
from evolab.evals.models import ChangeRequest, EvalSuite, SuiteVersion
from evolab.evals.schemas import (
    CaseOut,
    ChangeRequestApplyIn,
    ChangeRequestApplyOut,
    ChangeRequestCloseIn,
    ChangeRequestCommentIn,
    ChangeRequestCommentOut,
    ChangeRequestDetailOut,
    ChangeRequestIn,
    ChangeRequestOut,
    ChangeRequestVoteIn,
    ImportFailedOut,
    SuiteDetailOut,
    SuiteIn,
    SuiteOut,
    VersionOut,
)
from evolab.evals.selectors import (
    CaseView,
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
) -> LazyRows[CaseView] | list[Any]:
    """Cases of a version (the latest by default). Holdout cases are sealed below maintainer;
    above, the held-out cases of each page returned are audited."""
    project = get_project_for(request.user, slug)
    suite = get_suite(project, suite_slug)
    suite_version = get_suite_version(suite, version)
    if suite_version is None:
        return []
    return holdout_audited(
        cases_of(suite_version, viewer_role=role_of(project), search=q, tag=tag, split=split),
        actor=request.user,
        suite=suite,
        where=f"api cases v{suite_version.number}",
        key_of=lambda case: case.key,
    )


@router.post(
    "/{slug}/suites/{suite_slug}/import", response={201: VersionOut, 202: ChangeRequestOut, 422: ImportFailedOut}
)
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
    """Import a JSONL or CSV upload (multipart), all or nothing, as a change request.

    The request is applied at once (201, the new version) when the suite has no version
    yet or its policy lets maintainers apply a change this small directly; otherwise it
    waits for review (202, the change request). `mode` merge adds and edits cases by
    key; replace also deletes the cases the file lacks. `mapping` holds
    `case_field=source_field` pairs, one per line (or comma-separated);
    `default_grader` is JSON text. A bad file answers 422 `import_failed` with every
    bad line in `details.errors` (the first 50) and the rest counted in `details.more`.
    """
    suite = get_suite(get_project_for(request.user, slug, Role.MAINTAINER), suite_slug)
    if file is None:
        raise ValidationFailed("Attach the file to import.", field="file")
    check_upload_size(file)
    with transaction.atomic():
        change_request, _ = import_open_change_request(
            actor=request.user,
            suite=suite,
            data=file.read(),
            fmt=format or guess_format(file.name or ""),
            mapping=parse_mapping(mapping.replace(",", "\n").splitlines()),
            default_grader=_json_object(default_grader),
            mode=mode,
            title=message,
            filename=file.name or "",
        )
        if change_request.base_version_id is None or review_state(change_request).direct_allowed:
            version = change_request_apply(actor=request.user, change_request=change_request, direct=True)
            return Status(201, versions_of(suite).get(pk=version.pk))
    return Status(202, get_change_request(suite, change_request.number))


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
    suite_version = get_suite_version_or_404(get_suite(project, suite_slug), version)
    include_holdout = can_see_holdout(role_of(project))
    if include_holdout:
        holdout_export_record(actor=request.user, version=suite_version)
    return jsonl_download(suite_version, include_holdout=include_holdout)


# --- change requests ---------------------------------------------------------------

CR = "/{slug}/suites/{suite_slug}/change-requests"


@router.post(CR, response={201: ChangeRequestOut})
def open_change_request(request: AuthedRequest, slug: str, suite_slug: str, payload: ChangeRequestIn) -> Status:
    """Open a change request on the latest version (reviewers and up); every operation is
    checked first and a wrong one answers 422 naming it (all of them in `details.errors`)."""
    suite = get_suite(get_project_for(request.user, slug, Role.REVIEWER), suite_slug)
    change_request = change_request_open(
        suite=suite,
        author=request.user,
        title=payload.title,
        description=payload.description,
        operations=payload.operations,
        source=payload.source,
        draft=payload.draft,
    )
    return Status(201, get_change_request(suite, change_request.number))


@router.get(CR, response=list[ChangeRequestOut])
@paginate(LimitOffsetPagination)
def list_change_requests(
    request: AuthedRequest,
    slug: str,
    suite_slug: str,
    status: str = Query("open", pattern="^(open|all|draft|in_review|approved|applied|closed)$"),
) -> QuerySet[ChangeRequest]:
    """The suite's change requests, newest first; `status` open (the default), all, or one status."""
    return change_requests_of(get_suite(get_project_for(request.user, slug), suite_slug), status)


@router.get(CR + "/{number}", response=ChangeRequestDetailOut)
def get_change_request_detail(request: AuthedRequest, slug: str, suite_slug: str, number: int) -> dict[str, Any]:
    """One change request with its field-level diff, votes, blockers and duplicate warnings.
    Held-out cases are sealed below maintainer; a maintainer's read of held-out text is audited."""
    project = get_project_for(request.user, slug)
    suite = get_suite(project, suite_slug)
    view = change_request_view(get_change_request(suite, number), role_of(project))
    holdout_view_record(
        actor=request.user, suite=suite, keys=view.holdout_keys_shown(), where=f"api change request #{number}"
    )
    change_request = view.change_request
    return {
        **ChangeRequestOut.from_orm(change_request).model_dump(),
        "description": change_request.description,
        "close_reason": change_request.close_reason,
        "operations": redacted_operations(change_request.operations, sees_holdout=view.sees_holdout),
        "changes": view.diffs,
        "votes": [{"voter": voter, "value": value, "counts": counts} for voter, value, counts in view.state.votes],
        "approvals_needed": view.state.tally.approvals_needed,
        "blockers": list(view.state.blockers),
        "direct_apply_allowed": view.state.direct_allowed,
        "duplicates": view.duplicates,
        "hidden_duplicates": view.hidden_duplicates,
        "comments": [
            {
                "author": comment.author.get_username() if comment.author else None,
                "case_key": comment.case_key,
                "text": comment.text,
                "created_at": comment.created_at,
            }
            for comment in view.comments
        ],
    }


@router.post(CR + "/{number}/vote", response=ChangeRequestOut)
def vote_change_request(
    request: AuthedRequest, slug: str, suite_slug: str, number: int, payload: ChangeRequestVoteIn
) -> ChangeRequest:
    suite = get_suite(get_project_for(request.user, slug, Role.REVIEWER), suite_slug)
    change_request_vote(actor=request.user, change_request=get_change_request(suite, number), value=payload.value)
    return get_change_request(suite, number)


@router.post(CR + "/{number}/submit", response=ChangeRequestOut)
def submit_change_request(request: AuthedRequest, slug: str, suite_slug: str, number: int) -> ChangeRequest:
    """A draft goes to review: its author (a reviewer or up) or a maintainer; 409 unless a draft."""
    suite = get_suite(get_project_for(request.user, slug, Role.REVIEWER), suite_slug)
    change_request_submit(actor=request.user, change_request=get_change_request(suite, number))
    return get_change_request(suite, number)


@router.post(CR + "/{number}/comments", response={201: ChangeRequestCommentOut})
def comment_change_request(
    request: AuthedRequest, slug: str, suite_slug: str, number: int, payload: ChangeRequestCommentIn
) -> Status:
    """A comment, general or anchored to a case of the request by `case_key`. Below maintainer
    a held-out case is no anchor (422, as for a key the request does not have)."""
    suite = get_suite(get_project_for(request.user, slug, Role.REVIEWER), suite_slug)
    comment = change_request_comment(
        actor=request.user,
        change_request=get_change_request(suite, number),
        text=payload.text,
        case_key=payload.case_key,
    )
    return Status(
        201,
        {
            "author": request.user.get_username(),
            "case_key": comment.case_key,
            "text": comment.text,
            "created_at": comment.created_at,
        },
    )


@router.post(CR + "/{number}/apply", response={201: ChangeRequestApplyOut})
def apply_change_request(
    request: AuthedRequest, slug: str, suite_slug: str, number: int, payload: ChangeRequestApplyIn
) -> Status:
    """Apply as the next version (maintainers): 409 with every blocker when its votes do
    not allow it, or when head moved and the same cases changed meanwhile."""
    suite = get_suite(get_project_for(request.user, slug, Role.MAINTAINER), suite_slug)
    version = change_request_apply(
        actor=request.user, change_request=get_change_request(suite, number), direct=payload.direct
    )
    return Status(
        201,
        {"change_request": get_change_request(suite, number), "version": versions_of(suite).get(pk=version.pk)},
    )


@router.post(CR + "/{number}/close", response=ChangeRequestOut)
def close_change_request(
    request: AuthedRequest, slug: str, suite_slug: str, number: int, payload: ChangeRequestCloseIn
) -> ChangeRequest:
    """Close without applying: its author (a reviewer or up) or a maintainer."""
    suite = get_suite(get_project_for(request.user, slug, Role.REVIEWER), suite_slug)
    change_request_close(actor=request.user, change_request=get_change_request(suite, number), reason=payload.reason)
    return get_change_request(suite, number)
