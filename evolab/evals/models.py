"""Eval suites: a suite has immutable, numbered versions; a version holds its cases.

A version and its cases are written once, by `suite_version_import`, and never changed:
a later change request produces a new version. Runs and scores point at a version, so
what a score means can never drift.
"""

from __future__ import annotations

from typing import Any, NoReturn

from django.conf import settings
from django.db import models

from evolab.projects.models import Project


class ImmutableRecordError(Exception):
    """Raised when code tries to change a suite version or one of its cases."""


class Split(models.TextChoices):
    TRAIN = "train", "train"
    DEV = "dev", "dev"
    HOLDOUT = "holdout", "holdout"


class WriteOnceQuerySet(models.QuerySet[Any]):
    """Rows are created (possibly in bulk) and read; an UPDATE is refused."""

    def update(self, **kwargs: Any) -> NoReturn:
        raise ImmutableRecordError(f"{self.model.__name__} rows are immutable")

    def bulk_update(self, *args: Any, **kwargs: Any) -> NoReturn:
        raise ImmutableRecordError(f"{self.model.__name__} rows are immutable")


class WriteOnceModel(models.Model):
    objects = WriteOnceQuerySet.as_manager()

    class Meta:
        abstract = True

    def save(self, *args: Any, **kwargs: Any) -> None:
        if not self._state.adding:
            raise ImmutableRecordError(f"{type(self).__name__} rows are immutable; create a new suite version")
        super().save(*args, **kwargs)


class EvalSuite(models.Model):
    """A named set of eval cases in a project. `default_grader` applies to the next
    imported version; each version keeps its own copy (see SuiteVersion.default_grader)."""

    project = models.ForeignKey(Project, on_delete=models.CASCADE, related_name="suites")
    slug = models.SlugField(max_length=50)
    name = models.CharField(max_length=100)
    description = models.TextField(blank=True)
    default_grader = models.JSONField(default=dict, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["project", "slug"], name="evalsuite_unique_slug")]
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name


class SuiteVersion(WriteOnceModel):
    """An immutable snapshot of a suite's cases, numbered 1, 2, … per suite.

    `default_grader` is the suite default at the time the version was made, so that a
    case whose own grader is `{}` is graded the same way forever.
    """

    suite = models.ForeignKey(EvalSuite, on_delete=models.CASCADE, related_name="versions")
    number = models.PositiveIntegerField()
    message = models.CharField(max_length=500, blank=True)
    default_grader = models.JSONField(default=dict, blank=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)
    case_count = models.PositiveIntegerField(default=0)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["suite", "number"], name="suiteversion_unique_number")]
        ordering = ["suite", "-number"]

    def __str__(self) -> str:
        return f"{self.suite_id}@v{self.number}"


class EvalCase(WriteOnceModel):
    """One case of one suite version.

    `input` is a string or a list of `{"role", "content"}` messages. `grader == {}` means
    "use the version's default grader" (`effective_grader`). `search_text` is the input
    and target flattened to plain text, written once at import, for case search.
    """

    version = models.ForeignKey(SuiteVersion, on_delete=models.CASCADE, related_name="cases")
    key = models.CharField(max_length=200)
    input = models.JSONField()
    target = models.TextField(blank=True)
    grader = models.JSONField(default=dict, blank=True)
    tags = models.JSONField(default=list, blank=True)
    split = models.CharField(max_length=8, choices=Split.choices)
    metadata = models.JSONField(default=dict, blank=True)
    search_text = models.TextField(blank=True, editable=False)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["version", "key"], name="evalcase_unique_key")]
        indexes = [
            models.Index(fields=["version", "split"], name="evalcase_version_split"),
            models.Index(fields=["key"], name="evalcase_key"),
        ]
        ordering = ["version", "id"]

    def __str__(self) -> str:
        return self.key


class EvalCaseTag(WriteOnceModel):
    """One tag of one case: lets the suite page filter by tag exactly, and count cases
    per tag, with plain indexed SQL on every database (SQLite has no JSON containment)."""

    case = models.ForeignKey(EvalCase, on_delete=models.CASCADE, related_name="tag_rows")
    tag = models.CharField(max_length=100)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["case", "tag"], name="evalcasetag_unique")]
        indexes = [models.Index(fields=["tag", "case"], name="evalcasetag_tag_case")]

    def __str__(self) -> str:
        return self.tag


def effective_grader(case_grader: dict[str, Any], version: SuiteVersion) -> dict[str, Any]:
    """The grader that scores a case: its own, or else its version's default."""
    return case_grader or version.default_grader
