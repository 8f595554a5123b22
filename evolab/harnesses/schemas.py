from __future__ import annotations

from datetime import datetime

from ninja import Schema
from pydantic import Field

from evolab.harnesses.models import HarnessVersion


class VersionIn(Schema):
    files: dict[str, str] = Field(description="The whole tree: path → text. Paths are relative, '/'-separated.")
    message: str = Field(min_length=1, max_length=5000)
    parents: list[int] | None = Field(
        default=None,
        description="Version numbers, first parent first. Default: the current head. Head moves only if "
        "the first parent is still head (otherwise 409 conflict).",
    )


class RevertIn(Schema):
    reason: str = Field(min_length=1, max_length=2000)


class HarnessVersionOut(Schema):
    """Read from a HarnessVersion fetched by `version_history` or `get_version` (parents
    prefetched) with an `is_head` attribute."""

    number: int
    digest: str
    short_digest: str
    message: str
    author: str = Field(description="A username, or the proposal that authored the version")
    parents: list[int] = Field(description="Parent version numbers, first parent first")
    created_at: datetime
    is_head: bool

    @staticmethod
    def resolve_author(obj: HarnessVersion) -> str:
        return obj.author_label

    @staticmethod
    def resolve_parents(obj: HarnessVersion) -> list[int]:
        return [link.parent.number for link in obj.parent_links.all()]


class VersionDetailOut(HarnessVersionOut):
    files: dict[str, str]

    @staticmethod
    def resolve_files(obj: HarnessVersion) -> dict[str, str]:
        return dict(sorted(obj.files.items()))


class HeadOut(Schema):
    number: int
    digest: str
    updated_at: datetime
    version: HarnessVersionOut


class VersionRefOut(Schema):
    number: int
    digest: str


class DiffFileOut(Schema):
    status: str = Field(description="added, removed, modified or renamed")
    old_path: str | None
    new_path: str | None
    similarity: float | None
    added: int
    removed: int
    unified: str = Field(description="The change as a unified diff, with ---/+++ headers")


class DiffOut(Schema):
    from_version: VersionRefOut | None = Field(description="None: the empty tree")
    to_version: VersionRefOut
    files: list[DiffFileOut]
    unchanged: int
