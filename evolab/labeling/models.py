"""Labeling queues: people grade run results against a rubric, blind to what produced them.

A queue holds items (one CaseResult each), each assigned to N distinct people. An
assignment carries that person's label once given (one per item and person, editable
while the queue is open), so progress is a count of rows, never a counter to keep in step.
"""

from __future__ import annotations

from django.conf import settings
from django.db import models

from evolab.projects.models import Project
from evolab.runs.models import CaseResult, Run


class Scale(models.TextChoices):
    PASS_FAIL = "pass_fail", "pass / fail"
    SCORE = "score", "score from 0 to 1"


class QueueStatus(models.TextChoices):
    OPEN = "open", "open"
    CLOSED = "closed", "closed"


class LabelingQueue(models.Model):
    project = models.ForeignKey(Project, on_delete=models.CASCADE, related_name="labeling_queues")
    number = models.PositiveIntegerField()
    name = models.CharField(max_length=120)
    run = models.ForeignKey(Run, on_delete=models.RESTRICT, related_name="+")
    rubric = models.TextField()
    scale = models.CharField(max_length=10, choices=Scale.choices, default=Scale.PASS_FAIL)
    reviewers_per_item = models.PositiveSmallIntegerField(default=2)
    # Whether labellers see the case's target (never for a holdout case below maintainer).
    show_target = models.BooleanField(default=True)
    # How the items were chosen: {"split", "tag", "score_min", "score_max", "sample", "seed"}.
    selection = models.JSONField(default=dict)
    status = models.CharField(max_length=8, choices=QueueStatus.choices, default=QueueStatus.OPEN)
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+")
    created_at = models.DateTimeField(auto_now_add=True)
    closed_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-number"]
        constraints = [models.UniqueConstraint(fields=["project", "number"], name="labelingqueue_unique_number")]

    def __str__(self) -> str:
        return f"labeling queue {self.number}"

    @property
    def is_open(self) -> bool:
        return self.status == QueueStatus.OPEN


class QueueAssignee(models.Model):
    """A person who labels in a queue (a member, reviewer or above, when added)."""

    queue = models.ForeignKey(LabelingQueue, on_delete=models.CASCADE, related_name="assignees")
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+")

    class Meta:
        constraints = [models.UniqueConstraint(fields=["queue", "user"], name="queueassignee_unique")]

    def __str__(self) -> str:
        return f"{self.user_id} in queue {self.queue_id}"


class LabelingItem(models.Model):
    queue = models.ForeignKey(LabelingQueue, on_delete=models.CASCADE, related_name="items")
    result = models.ForeignKey(CaseResult, on_delete=models.CASCADE, related_name="+")
    position = models.PositiveIntegerField()
    # Copied from the case when the queue is made: the holdout rule is checked on every
    # read without a join, and a case never changes split within a suite version.
    holdout = models.BooleanField(default=False)

    class Meta:
        ordering = ["queue", "position"]
        constraints = [
            models.UniqueConstraint(fields=["queue", "result"], name="labelingitem_unique_result"),
            models.UniqueConstraint(fields=["queue", "position"], name="labelingitem_unique_position"),
        ]

    def __str__(self) -> str:
        return f"item {self.position} of queue {self.queue_id}"


class Assignment(models.Model):
    """One person's share of one item, and their label once given (`labelled_at`)."""

    item = models.ForeignKey(LabelingItem, on_delete=models.CASCADE, related_name="assignments")
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+")
    passed = models.BooleanField(null=True)
    score = models.FloatField(null=True, blank=True)
    rationale = models.TextField(blank=True)
    labelled_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["item", "user"], name="assignment_one_per_person")]
        indexes = [models.Index(fields=["user", "labelled_at"], name="assignment_user_done")]

    def __str__(self) -> str:
        return f"{self.user_id} on item {self.item_id}"
