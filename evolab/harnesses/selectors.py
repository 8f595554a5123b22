"""Reads for harness versions. Callers reach `project` through `get_project_for`, which
has already checked access; these functions only scope every read to that project."""

from __future__ import annotations

from django.db.models import Exists, OuterRef, Prefetch, QuerySet
from django.http import Http404

from evolab.harnesses.models import HarnessHead, HarnessParent, HarnessVersion
from evolab.harnesses.tree import TreeDiff, diff_trees
from evolab.projects.models import Project


def head_of(project: Project) -> HarnessVersion | None:
    """The project's head version (with its files), or None before the first commit."""
    head = head_ref_of(project)
    return head.version if head is not None else None


def versions_of(project: Project) -> QuerySet[HarnessVersion]:
    """Newest first, without `files`: a list must not load every tree. Reading
    `.files` on a row of this queryset costs a query; use `get_version` for that."""
    return HarnessVersion.objects.filter(project=project).select_related("author").defer("files").order_by("-number")


def version_history(project: Project) -> QuerySet[HarnessVersion]:
    """`versions_of` with each version's parents (first parent first) prefetched and an
    `is_head` flag annotated: a page of history costs a fixed number of queries."""
    parent_links = HarnessParent.objects.select_related("parent").only(
        "child_id", "position", "parent__id", "parent__number", "parent__digest"
    )
    return (
        versions_of(project)
        .prefetch_related(Prefetch("parent_links", queryset=parent_links.order_by("position")))
        .annotate(is_head=Exists(HarnessHead.objects.filter(project=project, version=OuterRef("pk"))))
    )


def head_ref_of(project: Project) -> HarnessHead | None:
    """The head record (version and when it last moved), or None before the first commit."""
    return HarnessHead.objects.select_related("version__author").filter(project=project).first()


def get_version(project: Project, number: int) -> HarnessVersion:
    """One version with its files and parents; 404 if the project has no such number."""
    version = (
        HarnessVersion.objects.filter(project=project, number=number)
        .select_related("author")
        .prefetch_related(
            Prefetch(
                "parent_links",
                queryset=HarnessParent.objects.select_related("parent").defer("parent__files").order_by("position"),
            )
        )
        .first()
    )
    if version is None:
        raise Http404(f"No harness version v{number}")
    return version


def first_parent_of(version: HarnessVersion) -> HarnessVersion | None:
    """The first parent of a version fetched by `get_version` or `version_history`
    (no extra query; the parent comes without its files)."""
    links = list(version.parent_links.all())
    return links[0].parent if links else None


def diff_pair(
    project: Project, from_number: int | None, to_number: int | None
) -> tuple[HarnessVersion | None, HarnessVersion] | None:
    """The two versions a diff compares, both with files; None if there is nothing yet.

    `to_number` None means head; `from_number` None means the first parent of `to`, and
    0 means the empty tree (so a first version shows as all files added). Unknown
    numbers raise Http404.
    """
    if to_number is None:
        head = head_ref_of(project)
        if head is None:
            return None
        to_number = head.version.number
    new = get_version(project, to_number)
    if from_number is None:
        parent = first_parent_of(new)
        from_number = parent.number if parent is not None else 0
    old = get_version(project, from_number) if from_number else None
    return old, new


def diff_versions(old: HarnessVersion | None, new: HarnessVersion) -> TreeDiff:
    """The diff from `old` (None: the empty tree) to `new`; both carry their files."""
    return diff_trees(old.files if old is not None else {}, new.files)
