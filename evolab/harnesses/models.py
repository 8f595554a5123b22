from __future__ import annotations

from typing import Any, NoReturn

from django.conf import settings
from django.db import models
from django.utils import timezone

from evolab.projects.models import Project


class ImmutableVersionError(Exception):
    """Raised when code tries to change or delete a stored harness version."""


class HarnessVersionQuerySet(models.QuerySet["HarnessVersion"]):
    def update(self, **kwargs: Any) -> NoReturn:
        raise ImmutableVersionError("harness versions are immutable; create a new version")

    def bulk_update(self, *args: Any, **kwargs: Any) -> NoReturn:
        raise ImmutableVersionError("harness versions are immutable; create a new version")


class HarnessVersion(models.Model):
    """An immutable tree of text files, identified by the SHA-256 of its canonical form.

    `digest` is the digest of the files alone (see `tree.canonical_digest`), so the same
    files show the same digest wherever they appear. It is indexed but not unique per
    project: a revert re-creates an older tree as a new version on top of head, and an
    A → B → A history is legitimate. The identity of a version is (project, number).
    """

    project = models.ForeignKey(Project, on_delete=models.CASCADE, related_name="harness_versions")
    number = models.PositiveIntegerField()
    digest = models.CharField(max_length=64)
    # {path: text}, written with sorted keys. PostgreSQL's jsonb does not keep key order,
    # so readers that show files sort them again.
    files = models.JSONField()
    parents: models.ManyToManyField[HarnessVersion, HarnessParent] = models.ManyToManyField(
        "self", through="HarnessParent", through_fields=("child", "parent"), symmetrical=False, related_name="children"
    )
    author = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    author_label = models.CharField(max_length=150)
    message = models.TextField()
    created_at = models.DateTimeField(default=timezone.now)

    objects = HarnessVersionQuerySet.as_manager()

    class Meta:
        ordering = ["-number"]
        constraints = [models.UniqueConstraint(fields=["project", "number"], name="harness_version_unique_number")]
        indexes = [models.Index(fields=["project", "digest"], name="harness_version_digest")]

    def __str__(self) -> str:
        return f"v{self.number} · {self.short_digest}"

    def save(self, *args: Any, **kwargs: Any) -> None:
        if self.pk is not None:
            raise ImmutableVersionError("harness versions are immutable; create a new version")
        super().save(*args, **kwargs)

    def delete(self, *args: Any, **kwargs: Any) -> NoReturn:
        raise ImmutableVersionError("harness versions are never deleted; revert instead")

    @property
    def short_digest(self) -> str:
        return self.digest[:7]

    @property
    def label(self) -> str:
        return f"v{self.number}"


class HarnessParent(models.Model):
    """Ordered parent link: position 0 is the first parent (the line head followed)."""

    child = models.ForeignKey(HarnessVersion, on_delete=models.CASCADE, related_name="parent_links")
    # RESTRICT, not PROTECT: a version cannot be deleted while a child points at it, yet
    # deleting the whole project (which removes both) still works.
    parent = models.ForeignKey(HarnessVersion, on_delete=models.RESTRICT, related_name="child_links")
    position = models.PositiveSmallIntegerField()

    class Meta:
        ordering = ["child", "position"]
        constraints = [
            models.UniqueConstraint(fields=["child", "position"], name="harness_parent_unique_position"),
            models.UniqueConstraint(fields=["child", "parent"], name="harness_parent_unique_parent"),
        ]

    def __str__(self) -> str:
        return f"{self.child_id} ← {self.parent_id} #{self.position}"


class HarnessHead(models.Model):
    """The accepted version of a project; moved only by `actions.head_move` (compare-and-swap)."""

    project = models.OneToOneField(Project, on_delete=models.CASCADE, related_name="harness_head")
    # RESTRICT (PROTECT's sibling): the head version cannot be deleted on its own, but
    # deleting the project deletes head and versions together; PROTECT would block that.
    version = models.ForeignKey(HarnessVersion, on_delete=models.RESTRICT, related_name="+")
    updated_at = models.DateTimeField(default=timezone.now)

    def __str__(self) -> str:
        return f"head of {self.project_id} → {self.version_id}"
