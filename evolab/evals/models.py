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
    # How change requests are reviewed (evals.change_policy.SuitePolicy); owners edit it.
    change_policy = models.JSONField(default=dict, blank=True)
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


class ChangeRequestStatus(models.TextChoices):
    DRAFT = "draft", "draft"
    IN_REVIEW = "in_review", "in review"
    APPROVED = "approved", "approved"
    APPLIED = "applied", "applied"
    CLOSED = "closed", "closed"


OPEN_CHANGE_REQUEST_STATUSES = (ChangeRequestStatus.DRAFT, ChangeRequestStatus.IN_REVIEW, ChangeRequestStatus.APPROVED)


class ChangeRequest(models.Model):
    """A proposed change to a suite, reviewed like code and applied as a new version.

    `operations` is the validated list written by `change_request_open` (see
    evals/change_requests.py); each stored operation carries `holdout: true` when it
    touches a held-out case, so pages and the API can redact it without re-reading the
    base. `touches_holdout` asks for the stricter approvals; `moves_holdout` (a case
    moved into or out of holdout) asks for an owner's approval.
    """

    suite = models.ForeignKey(EvalSuite, on_delete=models.CASCADE, related_name="change_requests")
    number = models.PositiveIntegerField()
    base_version = models.ForeignKey(
        SuiteVersion, null=True, blank=True, on_delete=models.CASCADE, related_name="change_requests"
    )
    author = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+")
    title = models.CharField(max_length=200)
    description = models.TextField(blank=True)
    status = models.CharField(max_length=10, choices=ChangeRequestStatus.choices, default=ChangeRequestStatus.DRAFT)
    operations = models.JSONField(default=list)
    operation_count = models.PositiveIntegerField(default=0)  # len(operations), for lists that skip the JSON
    source = models.JSONField(null=True, blank=True)
    touches_holdout = models.BooleanField(default=False)
    moves_holdout = models.BooleanField(default=False)
    applied_version = models.ForeignKey(
        SuiteVersion, null=True, blank=True, on_delete=models.SET_NULL, related_name="applied_change_requests"
    )
    applied_directly = models.BooleanField(default=False)
    decided_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    decided_at = models.DateTimeField(null=True, blank=True)
    close_reason = models.CharField(max_length=300, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["suite", "number"], name="changerequest_unique_number")]
        indexes = [models.Index(fields=["suite", "status"], name="changerequest_suite_status")]
        ordering = ["suite", "-number"]

    def __str__(self) -> str:
        return f"change request #{self.number}"

    @property
    def is_open(self) -> bool:
        return self.status in OPEN_CHANGE_REQUEST_STATUSES


class ChangeRequestVoteValue(models.TextChoices):
    APPROVE = "approve", "approve"
    REQUEST_CHANGES = "request_changes", "request changes"
    VETO = "veto", "veto"


class ChangeRequestVote(models.Model):
    """One person's current vote on a change request (a new vote replaces it)."""

    change_request = models.ForeignKey(ChangeRequest, on_delete=models.CASCADE, related_name="votes")
    voter = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+")
    value = models.CharField(max_length=16, choices=ChangeRequestVoteValue.choices)
    created_at = models.DateTimeField(auto_now=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["change_request", "voter"], name="changerequestvote_unique")]

    def __str__(self) -> str:
        return f"{self.value} on {self.change_request_id}"


class ChangeRequestComment(models.Model):
    """A comment on a change request, general (`case_key == ""`) or anchored to a case.
    `holdout` marks a comment anchored to a held-out case: listed to maintainers and owners only."""

    change_request = models.ForeignKey(ChangeRequest, on_delete=models.CASCADE, related_name="comments")
    author = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+")
    case_key = models.CharField(max_length=200, blank=True)
    holdout = models.BooleanField(default=False)
    text = models.TextField()
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["created_at", "id"]

    def __str__(self) -> str:
        return f"comment on change request {self.change_request_id}"


class ImportUpload(models.Model):
    """An uploaded file waiting for its mapping and preview in the browser import. Nothing
    of it enters a suite until the person opens a change request from it; rows older than
    IMPORT_UPLOAD_TTL are deleted when the next upload arrives."""

    suite = models.ForeignKey(EvalSuite, on_delete=models.CASCADE, related_name="+")
    owner = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+")
    filename = models.CharField(max_length=255)
    fmt = models.CharField(max_length=8)
    data = models.BinaryField()
    created_at = models.DateTimeField(auto_now_add=True)

    def __str__(self) -> str:
        return self.filename


def effective_grader(case_grader: dict[str, Any], version: SuiteVersion) -> dict[str, Any]:
    """The grader that scores a case: its own, or else its version's default."""
    return case_grader or version.default_grader


class CaseComment(models.Model):
    """One comment in a case's discussion. The thread belongs to the suite and the case's
    stable key, not to one version's row, so it carries on across versions. Plain text:
    pages escape it and never render markup."""

    suite = models.ForeignKey(EvalSuite, on_delete=models.CASCADE, related_name="case_comments")
    key = models.CharField(max_length=200)
    author = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+")
    body = models.TextField()
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        indexes = [models.Index(fields=["suite", "key", "created_at"], name="casecomment_thread")]
        ordering = ["created_at", "id"]

    def __str__(self) -> str:
        return f"comment on {self.key}"


class CaseDispute(models.Model):
    """A case someone believes is wrong (bad target, ambiguous input). While a dispute is
    open (`resolved_at` is NULL) the case is left out of decisions: proposal comparisons
    ignore its key. At most one open dispute per case; a resolved one stays as history."""

    suite = models.ForeignKey(EvalSuite, on_delete=models.CASCADE, related_name="case_disputes")
    key = models.CharField(max_length=200)
    reason = models.TextField()
    opened_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+")
    opened_at = models.DateTimeField(auto_now_add=True)
    resolved_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    resolution_note = models.TextField(blank=True)
    resolved_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["suite", "key"], condition=models.Q(resolved_at__isnull=True), name="casedispute_one_open"
            )
        ]
        indexes = [models.Index(fields=["suite", "key"], name="casedispute_case")]
        ordering = ["-opened_at", "-id"]

    def __str__(self) -> str:
        return f"dispute of {self.key}"
