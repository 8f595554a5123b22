"""Leakage checks: which eval cases a proposal, a guidance text or a harness version
quotes at length (see evolab.engine.leakage for what counts as an overlap).

One row per (subject, suite version) checked, with or without matches, so a page can
tell "checked, nothing found" from "not checked yet". The subject is a plain type and id:
this app sits below evolution (proposals, guidance) and beside harnesses, and the check
must not hold up deleting what it describes.
"""

from __future__ import annotations

from django.db import models

from evolab.evals.models import SuiteVersion
from evolab.projects.models import Project


class Subject(models.TextChoices):
    PROPOSAL = "proposal", "proposal"
    GUIDANCE = "guidance", "guidance"
    HARNESS_VERSION = "harness_version", "harness version"


class LeakageCheck(models.Model):
    project = models.ForeignKey(Project, on_delete=models.CASCADE, related_name="+")
    subject_type = models.CharField(max_length=20, choices=Subject.choices)
    subject_id = models.BigIntegerField()
    suite_version = models.ForeignKey(SuiteVersion, on_delete=models.CASCADE, related_name="+")
    min_words = models.PositiveSmallIntegerField()
    # [{"case_key", "split", "words", "excerpt"}], longest first. Holdout excerpts are
    # case text: selectors drop them (and the keys) below maintainer.
    matches = models.JSONField(default=list)
    holdout_cases = models.PositiveIntegerField(default=0)
    dev_cases = models.PositiveIntegerField(default=0)
    longest = models.PositiveIntegerField(default=0)
    checked_at = models.DateTimeField(auto_now=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["subject_type", "subject_id", "suite_version"], name="leakagecheck_unique_subject"
            )
        ]
        indexes = [models.Index(fields=["project", "subject_type", "subject_id"], name="leakagecheck_subject")]

    def __str__(self) -> str:
        return f"{self.subject_type}:{self.subject_id} vs suite version {self.suite_version_id}"

    @property
    def flagged(self) -> bool:
        return bool(self.matches)
