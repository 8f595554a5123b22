"""Harness versions over the REST API, under /api/v1/projects/{slug}/harness/.

Head is read-only here: it moves when a version is created or reverted (and, later,
when an approved proposal is merged), always by compare-and-swap.
"""

from __future__ import annotations

from typing import Any

from django.http import Http404, HttpRequest
from ninja import File, Form, Query, Router, Status
from ninja.files import UploadedFile
from ninja.pagination import paginate

from evolab.core.errors import ValidationFailed
from evolab.core.pagination import LimitOffsetPagination
from evolab.core.uploads import check_upload_size
from evolab.harnesses import actions
from evolab.harnesses.models import HarnessVersion
from evolab.harnesses.schemas import DiffOut, HarnessVersionOut, HeadOut, RevertIn, VersionDetailOut, VersionIn
from evolab.harnesses.selectors import diff_pair, diff_versions, get_version, head_of, head_ref_of, version_history
from evolab.projects.models import Project, Role
from evolab.projects.selectors import get_project_for

router = Router(tags=["harnesses"])


def _with_head_flag(version: HarnessVersion, head: HarnessVersion | None) -> HarnessVersion:
    version.is_head = head is not None and head.pk == version.pk  # type: ignore[attr-defined]
    return version


def _parents(project: Project, numbers: list[int] | None) -> list[HarnessVersion] | None:
    if numbers is None:
        return None
    return [get_version(project, number) for number in numbers]


@router.get("/{slug}/harness/versions", response=list[HarnessVersionOut])
@paginate(LimitOffsetPagination)
def list_versions(request: HttpRequest, slug: str) -> Any:
    """Newest first, without files (fetch one version for its files)."""
    project = get_project_for(request.user, slug)
    return version_history(project)


def _created(project: Project, version: HarnessVersion) -> Status[HarnessVersion]:
    # Re-read through the selector: the response lists parents like every other read.
    return Status(201, _with_head_flag(get_version(project, version.number), head_of(project)))


@router.post("/{slug}/harness/versions", response={201: VersionDetailOut})
def create_version(request: HttpRequest, slug: str, payload: VersionIn) -> Status[HarnessVersion]:
    """Commit a whole tree. Head moves to it if the first parent (default: head) is still head."""
    project = get_project_for(request.user, slug, Role.MAINTAINER)
    version = actions.version_create(
        actor=request.user,
        project=project,
        files=payload.files,
        message=payload.message,
        parents=_parents(project, payload.parents),
    )
    return _created(project, version)


@router.post("/{slug}/harness/versions/upload", response={201: VersionDetailOut})
def upload_version(
    request: HttpRequest,
    slug: str,
    file: UploadedFile | None = File(None),  # noqa: B008
    message: str = Form(""),
    parents: list[int] | None = Form(None),  # noqa: B008
) -> Status[HarnessVersion]:
    """Commit the text files of a .zip (multipart field `file`) as a new version."""
    # `file` is optional in the signature so that access is checked before input: a
    # viewer learns "forbidden", not which fields the request lacked.
    project = get_project_for(request.user, slug, Role.MAINTAINER)
    if file is None:
        raise ValidationFailed("Attach the .zip archive as the multipart field 'file'.", field="file")
    check_upload_size(file)
    version = actions.version_create_from_zip(
        actor=request.user, project=project, upload=file, message=message, parents=_parents(project, parents)
    )
    return _created(project, version)


@router.get("/{slug}/harness/versions/{int:number}", response=VersionDetailOut)
def get_version_detail(request: HttpRequest, slug: str, number: int) -> HarnessVersion:
    project = get_project_for(request.user, slug)
    return _with_head_flag(get_version(project, number), head_of(project))


@router.post("/{slug}/harness/versions/{int:number}/revert", response={201: VersionDetailOut})
def revert_version(request: HttpRequest, slug: str, number: int, payload: RevertIn) -> Status[HarnessVersion]:
    """A new version on top of head with the files of version `number`."""
    project = get_project_for(request.user, slug, Role.MAINTAINER)
    version = actions.version_revert(
        actor=request.user, project=project, target=get_version(project, number), reason=payload.reason
    )
    return _created(project, version)


@router.get("/{slug}/harness/head", response=HeadOut)
def get_head(request: HttpRequest, slug: str) -> dict[str, Any]:
    project = get_project_for(request.user, slug)
    head = head_ref_of(project)
    if head is None:
        raise Http404("This project has no harness version yet.")
    version = get_version(project, head.version.number)
    return {
        "number": version.number,
        "digest": version.digest,
        "updated_at": head.updated_at,
        "version": _with_head_flag(version, version),
    }


@router.get("/{slug}/harness/diff", response=DiffOut)
def diff(
    request: HttpRequest,
    slug: str,
    to: int,
    from_: int | None = Query(None, alias="from", description="Default: the first parent of `to`; 0: the empty tree"),
) -> dict[str, Any]:
    project = get_project_for(request.user, slug)
    pair = diff_pair(project, from_, to)
    if pair is None:
        raise Http404("This project has no harness version yet.")
    old, new = pair
    tree_diff = diff_versions(old, new)
    return {
        "from_version": {"number": old.number, "digest": old.digest} if old is not None else None,
        "to_version": {"number": new.number, "digest": new.digest},
        "files": [
            {
                "status": f.status,
                "old_path": f.old_path,
                "new_path": f.new_path,
                "similarity": f.similarity,
                "added": f.added,
                "removed": f.removed,
                "unified": f.unified,
            }
            for f in tree_diff.files
        ],
        "unchanged": tree_diff.unchanged,
    }
