"""Evolution campaigns: a campaign runs rounds; a round evaluates its parent version, asks
a proposer for candidate changes and evaluates and classifies each one.

Progress lives in these rows, never in a task's memory: a step of the loop reads where
the campaign is and does the next thing, so a worker killed at any point is replaced by
another that continues from the same place.
"""

from __future__ import annotations

from django.conf import settings
from django.db import models

from evolab.evals.models import SuiteVersion
from evolab.harnesses.models import HarnessVersion
from evolab.projects.models import Backend, Project
from evolab.runs.models import Run


class PolicyVersion(models.Model):
    """A project's merge policy; owners edit it and every edit is a new version.
    `rules` is `evolution.policy.PolicyRules.to_dict()`; no row means the default policy."""

    project = models.ForeignKey(Project, on_delete=models.CASCADE, related_name="policy_versions")
    number = models.PositiveIntegerField()
    rules = models.JSONField()
    author = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+")
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-number"]
        constraints = [models.UniqueConstraint(fields=["project", "number"], name="policy_unique_number")]

    def __str__(self) -> str:
        return f"policy v{self.number}"


class ProposerKind(models.TextChoices):
    REFLECT = "reflect", "reflect (the model reads failures and edits the harness)"
    SWEEP = "sweep", "sweep (sampling parameters within the backend's ranges)"
    HUMAN = "human", "human (written by a maintainer)"


class CampaignStatus(models.TextChoices):
    RUNNING = "running", "running"
    PAUSED = "paused", "paused"
    STOPPED = "stopped", "stopped"
    FINISHED = "finished", "finished"
    FAILED = "failed", "failed"


ACTIVE_CAMPAIGN_STATUSES = (CampaignStatus.RUNNING,)


class Campaign(models.Model):
    project = models.ForeignKey(Project, on_delete=models.CASCADE, related_name="campaigns")
    number = models.PositiveIntegerField()
    name = models.CharField(max_length=120)
    base_version = models.ForeignKey(HarnessVersion, on_delete=models.RESTRICT, related_name="+")
    # The version the next round starts from: the base, then each candidate merged since.
    parent_version = models.ForeignKey(HarnessVersion, on_delete=models.RESTRICT, related_name="+")
    suite_version = models.ForeignKey(SuiteVersion, on_delete=models.RESTRICT, related_name="+")
    feedback_split = models.CharField(max_length=10, default="train")
    selection_split = models.CharField(max_length=10, default="dev")
    guard_split = models.CharField(max_length=10, default="holdout", blank=True)
    runner_backend = models.ForeignKey(Backend, on_delete=models.RESTRICT, related_name="+")
    proposer_backend = models.ForeignKey(Backend, null=True, blank=True, on_delete=models.RESTRICT, related_name="+")
    proposer = models.CharField(max_length=10, choices=ProposerKind.choices, default=ProposerKind.REFLECT)
    candidates_per_round = models.PositiveSmallIntegerField(default=2)
    samples = models.PositiveSmallIntegerField(default=2)
    seed = models.IntegerField(default=0)
    protected_paths = models.JSONField(default=list)
    plateau_rounds = models.PositiveSmallIntegerField(default=3)
    # Rounds up to this number do not count towards a plateau (set when people resume it).
    plateau_base_round = models.PositiveIntegerField(default=0)
    budget_rounds = models.PositiveIntegerField(default=5)
    budget_usd = models.DecimalField(max_digits=12, decimal_places=4)
    budget_tokens = models.PositiveBigIntegerField()
    budget_wall_s = models.PositiveIntegerField()
    estimate_usd = models.DecimalField(max_digits=12, decimal_places=4, default=0)
    status = models.CharField(max_length=10, choices=CampaignStatus.choices, default=CampaignStatus.RUNNING)
    status_reason = models.CharField(max_length=300, blank=True)
    # Budget warnings already given, e.g. ["usd:50", "tokens:50", "usd:80"].
    warnings = models.JSONField(default=list)
    # Wall time counts only while running: seconds banked before the last (re)start.
    active_s = models.FloatField(default=0)
    running_since = models.DateTimeField(null=True, blank=True)
    # The lease of the one step that may work on the campaign at a time.
    step_token = models.CharField(max_length=32, blank=True)
    step_expires_at = models.DateTimeField(null=True, blank=True)
    step_enqueued_at = models.DateTimeField(null=True, blank=True)
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+")
    created_at = models.DateTimeField(auto_now_add=True)
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-number"]
        constraints = [models.UniqueConstraint(fields=["project", "number"], name="campaign_unique_number")]

    def __str__(self) -> str:
        return f"campaign {self.number}"

    @property
    def is_active(self) -> bool:
        return self.status in ACTIVE_CAMPAIGN_STATUSES


class Guidance(models.Model):
    """The research direction people give the proposer; every edit is a new version."""

    campaign = models.ForeignKey(Campaign, on_delete=models.CASCADE, related_name="guidance_versions")
    number = models.PositiveIntegerField()
    text = models.TextField(blank=True)
    author = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+")
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-number"]
        constraints = [models.UniqueConstraint(fields=["campaign", "number"], name="guidance_unique_number")]

    def __str__(self) -> str:
        return f"guidance v{self.number}"


class RoundStatus(models.TextChoices):
    PARENT = "parent", "evaluating the parent"
    PROPOSING = "proposing", "proposing"
    CANDIDATES = "candidates", "evaluating candidates"
    DONE = "done", "done"
    FAILED = "failed", "failed"


class Round(models.Model):
    campaign = models.ForeignKey(Campaign, on_delete=models.CASCADE, related_name="rounds")
    number = models.PositiveIntegerField()
    parent_version = models.ForeignKey(HarnessVersion, on_delete=models.RESTRICT, related_name="+")
    guidance = models.ForeignKey(Guidance, null=True, on_delete=models.SET_NULL, related_name="+")
    status = models.CharField(max_length=10, choices=RoundStatus.choices, default=RoundStatus.PARENT)
    status_reason = models.CharField(max_length=300, blank=True)
    # The parent on the feedback and selection splits, then (when a candidate needs it)
    # on the guard split.
    parent_run = models.ForeignKey(Run, null=True, on_delete=models.SET_NULL, related_name="+")
    parent_guard_run = models.ForeignKey(Run, null=True, on_delete=models.SET_NULL, related_name="+")
    started_at = models.DateTimeField(auto_now_add=True)
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["campaign", "number"]
        constraints = [models.UniqueConstraint(fields=["campaign", "number"], name="round_unique_number")]

    def __str__(self) -> str:
        return f"round {self.number}"


class ProposalStage(models.TextChoices):
    QUEUED = "queued", "queued for the next round"
    EVALUATING = "evaluating", "evaluating"
    GUARDING = "guarding", "scoring on the held-out guard"
    CLASSIFIED = "classified", "classified"


class Outcome(models.TextChoices):
    AUTO_REJECT = "auto_reject", "auto-reject"
    NEEDS_REVIEW = "needs_review", "needs review"
    AUTO_MERGE = "auto_merge", "auto-merge"


class Proposal(models.Model):
    """One candidate change: what was proposed (the model's text kept verbatim), the
    version it made, its runs, statistics, and the classification with its reasons."""

    project = models.ForeignKey(Project, on_delete=models.CASCADE, related_name="proposals")
    number = models.PositiveIntegerField()
    campaign = models.ForeignKey(Campaign, on_delete=models.CASCADE, related_name="proposals")
    round = models.ForeignKey(Round, null=True, on_delete=models.CASCADE, related_name="proposals")
    index = models.PositiveSmallIntegerField(default=0)  # position in its round
    kind = models.CharField(max_length=10, choices=ProposerKind.choices)
    stage = models.CharField(max_length=12, choices=ProposalStage.choices, default=ProposalStage.EVALUATING)
    hypothesis = models.TextField(blank=True)
    model_text = models.TextField(blank=True)
    edits = models.JSONField(default=list)
    params = models.JSONField(default=dict)
    apply_error = models.TextField(blank=True)
    guidance = models.ForeignKey(Guidance, null=True, on_delete=models.SET_NULL, related_name="+")
    base_version = models.ForeignKey(HarnessVersion, on_delete=models.RESTRICT, related_name="+")
    candidate_version = models.ForeignKey(HarnessVersion, null=True, on_delete=models.RESTRICT, related_name="+")
    touched_paths = models.JSONField(default=list)
    param_changes = models.JSONField(default=dict)  # {key: [old, new]}
    diff_key = models.CharField(max_length=64, blank=True, db_index=True)
    diff_lines = models.PositiveIntegerField(default=0)
    candidate_run = models.ForeignKey(Run, null=True, on_delete=models.SET_NULL, related_name="+")
    guard_run = models.ForeignKey(Run, null=True, on_delete=models.SET_NULL, related_name="+")
    # Runs of the base, for a proposal whose base is not its round's parent (a rebased
    # revision); otherwise the round's parent runs are used.
    parent_run = models.ForeignKey(Run, null=True, on_delete=models.SET_NULL, related_name="+")
    parent_guard_run = models.ForeignKey(Run, null=True, on_delete=models.SET_NULL, related_name="+")
    stats = models.JSONField(default=dict)
    outcome = models.CharField(max_length=12, choices=Outcome.choices, blank=True)
    reasons = models.JSONField(default=list)  # [{"code", "text"}]
    policy_number = models.PositiveIntegerField(default=0)  # 0: the default policy
    merged_at = models.DateTimeField(null=True, blank=True)
    # Who merged it; None with `merged_at` set means "merged by policy".
    merged_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+")
    # Closed without merge by a person (rejected), or superseded by a revision.
    closed_at = models.DateTimeField(null=True, blank=True)
    closed_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+")
    closed_reason = models.CharField(max_length=300, blank=True)
    # SHA-256 of the unified diff base → candidate: votes are bound to it and to the base.
    diff_hash = models.CharField(max_length=64, blank=True)
    # The reviewer this proposal waits for (round-robin, or the owner of a touched path).
    assignee = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+")
    # A revision (after "request changes" or a rebase) points at the proposal it replaces.
    revision_of = models.ForeignKey("self", null=True, on_delete=models.SET_NULL, related_name="revisions")
    revision = models.PositiveSmallIntegerField(default=1)
    proposer_cost_usd = models.FloatField(default=0)
    # The response-cache key of the proposer's answer: the first proposal to use an answer
    # pays for it, even when a step repeated after a crash finds it in the cache.
    answer_key = models.CharField(max_length=64, blank=True, db_index=True)
    proposer_tokens = models.PositiveIntegerField(default=0)
    author = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+")
    created_at = models.DateTimeField(auto_now_add=True)
    classified_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-number"]
        constraints = [
            models.UniqueConstraint(fields=["project", "number"], name="proposal_unique_number"),
            models.UniqueConstraint(
                fields=["round", "index"], condition=models.Q(round__isnull=False), name="proposal_unique_slot"
            ),
        ]

    def __str__(self) -> str:
        return f"proposal {self.number}"


class MemoryKind(models.TextChoices):
    ATTEMPT = "attempt", "attempt"
    REVIEW = "review", "reviewer comment"


class MemoryEntry(models.Model):
    """The campaign's bounded log of what was tried and what people said, fed to later
    proposer prompts so the loop does not retry what failed or what people refused."""

    campaign = models.ForeignKey(Campaign, on_delete=models.CASCADE, related_name="memory")
    proposal = models.ForeignKey(Proposal, null=True, on_delete=models.SET_NULL, related_name="+")
    kind = models.CharField(max_length=10, choices=MemoryKind.choices)
    text = models.TextField()
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-pk"]

    def __str__(self) -> str:
        return self.text[:80]


class VoteValue(models.IntegerChoices):
    VETO = -2, "-2 veto"
    AGAINST = -1, "-1"
    FOR = 1, "+1"
    APPROVE = 2, "+2 approve"


class Vote(models.Model):
    """One person's current vote on a proposal, bound to the diff and base it was given
    on: when either changes the vote is stale and counts for nothing."""

    proposal = models.ForeignKey(Proposal, on_delete=models.CASCADE, related_name="votes")
    voter = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+")
    value = models.SmallIntegerField(choices=VoteValue.choices)
    diff_hash = models.CharField(max_length=64)
    base_version = models.ForeignKey(HarnessVersion, on_delete=models.RESTRICT, related_name="+")
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["proposal", "voter"], name="vote_one_per_person")]

    def __str__(self) -> str:
        return f"{self.get_value_display()} on proposal {self.proposal_id}"


class CommentAnchor(models.TextChoices):
    PROPOSAL = "proposal", "the whole proposal"
    LINE = "line", "a diff line"
    CASE = "case", "a case"


class Resolution(models.TextChoices):
    OPEN = "", "open"
    FIXED = "fixed", "fixed"
    DROPPED = "dropped", "dropped"


class Comment(models.Model):
    """A review comment, threaded (`parent`) and anchored to the proposal, a diff line
    (`path` + `line` on the candidate side) or a case (`case_key`). A blocking comment
    keeps the proposal from merging until it is marked fixed or dropped with a reason."""

    proposal = models.ForeignKey(Proposal, on_delete=models.CASCADE, related_name="comments")
    parent = models.ForeignKey("self", null=True, blank=True, on_delete=models.CASCADE, related_name="replies")
    author = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+")
    text = models.TextField()
    anchor = models.CharField(max_length=10, choices=CommentAnchor.choices, default=CommentAnchor.PROPOSAL)
    path = models.CharField(max_length=300, blank=True)
    line = models.PositiveIntegerField(null=True, blank=True)
    case_key = models.CharField(max_length=200, blank=True)
    blocking = models.BooleanField(default=False)
    resolution = models.CharField(max_length=10, choices=Resolution.choices, default=Resolution.OPEN, blank=True)
    resolution_reason = models.CharField(max_length=500, blank=True)
    resolved_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+")
    resolved_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["created_at", "pk"]
        indexes = [models.Index(fields=["proposal", "blocking", "resolution"], name="comment_blocking")]

    def __str__(self) -> str:
        return self.text[:80]


class PathOwner(models.Model):
    """Who reviews changes to a harness path (glob pattern, as protected paths)."""

    project = models.ForeignKey(Project, on_delete=models.CASCADE, related_name="path_owners")
    pattern = models.CharField(max_length=300)
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+")

    class Meta:
        constraints = [models.UniqueConstraint(fields=["project", "pattern", "user"], name="path_owner_unique")]

    def __str__(self) -> str:
        return f"{self.pattern} → {self.user_id}"


class NotificationKind(models.TextChoices):
    REVIEW_REQUEST = "review_request", "review requested"
    MENTION = "mention", "mentioned"
    MERGE = "merge", "merged"
    VETO = "veto", "vetoed"
    CHANGES_REQUESTED = "changes_requested", "changes requested"


class Notification(models.Model):
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="notifications")
    project = models.ForeignKey(Project, on_delete=models.CASCADE, related_name="+")
    proposal = models.ForeignKey(Proposal, null=True, on_delete=models.CASCADE, related_name="+")
    kind = models.CharField(max_length=20, choices=NotificationKind.choices)
    text = models.CharField(max_length=300)
    read_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-pk"]
        indexes = [models.Index(fields=["user", "read_at"], name="notification_unread")]

    def __str__(self) -> str:
        return self.text
