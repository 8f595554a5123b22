"""Evaluation runs. The rows are the source of truth for progress: a run is finished
when none of its chunks is pending or leased, never because a message said so."""

from __future__ import annotations

from django.conf import settings
from django.db import models

from evolab.evals.models import EvalCase, SuiteVersion
from evolab.harnesses.models import HarnessVersion
from evolab.projects.models import Backend, Project


class RunStatus(models.TextChoices):
    QUEUED = "queued", "queued"
    RUNNING = "running", "running"
    CANCELLED = "cancelled", "cancelled"
    STOPPED = "stopped", "stopped at a cap"
    COMPLETED = "completed", "completed"
    FAILED = "failed", "failed"


ACTIVE_RUN_STATUSES = (RunStatus.QUEUED, RunStatus.RUNNING)


class RunSource(models.TextChoices):
    BACKEND = "backend", "model backend"
    OUTPUTS = "outputs", "pre-recorded outputs"


class Run(models.Model):
    project = models.ForeignKey(Project, on_delete=models.CASCADE, related_name="runs")
    number = models.PositiveIntegerField()
    harness_version = models.ForeignKey(HarnessVersion, on_delete=models.RESTRICT, related_name="runs")
    suite_version = models.ForeignKey(SuiteVersion, on_delete=models.RESTRICT, related_name="runs")
    splits = models.JSONField(default=list)
    source = models.CharField(max_length=10, choices=RunSource.choices, default=RunSource.BACKEND)
    backend = models.ForeignKey(Backend, null=True, blank=True, on_delete=models.SET_NULL, related_name="runs")
    # What the backend was when the run started: a later edit of the backend must not
    # change what a finished run says it ran against.
    backend_label = models.CharField(max_length=200, blank=True)
    backend_simulated = models.BooleanField(default=False)
    samples = models.PositiveSmallIntegerField(default=1)
    seed = models.IntegerField(default=0)
    max_concurrency = models.PositiveIntegerField(default=8)
    cost_cap_usd = models.DecimalField(max_digits=12, decimal_places=4, null=True, blank=True)
    # Caps a campaign sets on the runs it starts, so its budget holds inside a run too:
    # no result is started once the run's tokens reach `token_cap` or after `deadline_at`.
    token_cap = models.PositiveBigIntegerField(null=True, blank=True)
    deadline_at = models.DateTimeField(null=True, blank=True)
    estimate_usd = models.DecimalField(max_digits=12, decimal_places=4, default=0)
    use_cache = models.BooleanField(default=True)
    status = models.CharField(max_length=12, choices=RunStatus.choices, default=RunStatus.QUEUED)
    stop_reason = models.CharField(max_length=300, blank=True)
    total_results = models.PositiveIntegerField(default=0)
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+")
    created_at = models.DateTimeField(auto_now_add=True)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["project", "number"], name="run_unique_number")]
        ordering = ["-number"]

    def __str__(self) -> str:
        return f"run {self.number}"

    @property
    def is_active(self) -> bool:
        return self.status in ACTIVE_RUN_STATUSES


class ChunkStatus(models.TextChoices):
    PENDING = "pending", "pending"
    LEASED = "leased", "leased"
    DONE = "done", "done"
    FAILED = "failed", "failed"


class RunChunk(models.Model):
    """A slice of a run's results, claimed by one worker at a time through a lease.

    `attempts` counts claims that did not end with a clean release: a worker that dies
    (or is killed) while holding the lease leaves it to expire, and the chunk is failed
    once that has happened too often, so a poison chunk cannot loop forever.
    """

    run = models.ForeignKey(Run, on_delete=models.CASCADE, related_name="chunks")
    index = models.PositiveIntegerField()
    status = models.CharField(max_length=10, choices=ChunkStatus.choices, default=ChunkStatus.PENDING)
    lease_token = models.CharField(max_length=32, blank=True)
    lease_expires_at = models.DateTimeField(null=True, blank=True)
    attempts = models.PositiveSmallIntegerField(default=0)
    enqueued_at = models.DateTimeField(null=True, blank=True)
    last_error = models.TextField(blank=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["run", "index"], name="chunk_unique_index")]
        indexes = [models.Index(fields=["status", "lease_expires_at"])]
        ordering = ["index"]

    def __str__(self) -> str:
        return f"chunk {self.index} of run {self.run_id}"


class ResultStatus(models.TextChoices):
    PENDING = "pending", "pending"
    DONE = "done", "scored"
    ERROR = "error", "errored"


class CaseResult(models.Model):
    run = models.ForeignKey(Run, on_delete=models.CASCADE, related_name="results")
    chunk = models.ForeignKey(RunChunk, on_delete=models.CASCADE, related_name="results")
    case = models.ForeignKey(EvalCase, on_delete=models.RESTRICT, related_name="results")
    sample = models.PositiveSmallIntegerField()
    status = models.CharField(max_length=8, choices=ResultStatus.choices, default=ResultStatus.PENDING)
    # For pre-recorded outputs the output is stored before scoring; otherwise the agent's final answer.
    output = models.TextField(blank=True)
    episode_status = models.CharField(max_length=12, blank=True)
    transcript = models.JSONField(default=list, blank=True)
    tool_calls = models.JSONField(default=list, blank=True)
    score = models.FloatField(null=True, blank=True)
    passed = models.BooleanField(null=True)
    grade_details = models.JSONField(default=dict, blank=True)
    sandbox_tier = models.SmallIntegerField(null=True, blank=True)
    input_tokens = models.PositiveIntegerField(default=0)
    output_tokens = models.PositiveIntegerField(default=0)
    reasoning_tokens = models.PositiveIntegerField(default=0)
    cost_usd = models.FloatField(default=0)
    latency_s = models.FloatField(null=True, blank=True)
    attempts = models.JSONField(default=list, blank=True)
    cached = models.BooleanField(default=False)
    error = models.TextField(blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["run", "case", "sample"], name="result_unique_sample")]
        indexes = [
            models.Index(fields=["run", "status"]),
            models.Index(fields=["chunk", "status"]),
            # Covers the numbers pages aggregate per run and per case (scores, usage):
            # they are read from the index, never from the wide rows, whose transcripts
            # sit before these columns on disk. The proposal page pairs two runs of
            # 5,000 cases x 3 samples; without it SQLite reads every transcript.
            models.Index(
                fields=[
                    "run",
                    "case",
                    "status",
                    "score",
                    "cached",
                    "latency_s",
                    "input_tokens",
                    "output_tokens",
                    "cost_usd",
                ],
                name="result_run_case_numbers",
            ),
        ]
        ordering = ["case__key", "sample"]

    def __str__(self) -> str:
        return f"result {self.pk} (case {self.case_id}, sample {self.sample})"


class ResponseCacheEntry(models.Model):
    """One model answer, reusable by any run that sends the identical request.

    The key hashes the endpoint, model, backend defaults, parameters, messages, tools and
    sample index. Only successful answers are stored; errors never are.
    """

    key = models.CharField(max_length=64, unique=True)
    result = models.JSONField()
    created_at = models.DateTimeField(auto_now_add=True)

    def __str__(self) -> str:
        return self.key


class BackendSlotLease(models.Model):
    """Concurrency slots of a backend held by one chunk, shared by every worker.

    A chunk holds at most `slots` requests in flight; the sum over live leases of a
    backend never exceeds its `max_concurrency`. Leases expire like chunk leases, so a
    killed worker's slots come back by themselves.
    """

    backend = models.ForeignKey(Backend, on_delete=models.CASCADE, related_name="slot_leases")
    token = models.CharField(max_length=32, unique=True)
    slots = models.PositiveIntegerField()
    expires_at = models.DateTimeField()

    class Meta:
        indexes = [models.Index(fields=["backend", "expires_at"])]

    def __str__(self) -> str:
        return f"{self.slots} slots of backend {self.backend_id}"


class WorkerHeartbeat(models.Model):
    """A Celery worker process that is (or was recently) alive, written by the worker
    itself every EVOLAB_WORKER_HEARTBEAT_S (see runs/heartbeat.py).

    A row, not Celery's remote control: the file broker of the embedded default has no
    broadcast, and the database is reachable from every process either way. A clean
    shutdown deletes the row; a killed worker's row stops being renewed and shows as
    offline, then is pruned after a day.
    """

    hostname = models.CharField(max_length=255)
    pid = models.PositiveIntegerField()
    concurrency = models.PositiveIntegerField(default=0)
    active_tasks = models.PositiveIntegerField(default=0)
    processed_tasks = models.PositiveBigIntegerField(default=0)
    started_at = models.DateTimeField()
    last_seen_at = models.DateTimeField()

    class Meta:
        constraints = [models.UniqueConstraint(fields=["hostname", "pid"], name="heartbeat_unique_process")]
        ordering = ["hostname", "pid"]

    def __str__(self) -> str:
        return f"{self.hostname} (pid {self.pid})"
