from __future__ import annotations

from django.conf import settings
from django.core.validators import MinValueValidator
from django.db import models


class Role(models.IntegerChoices):
    """Ordered so that `role >= Role.REVIEWER` reads as "at least a reviewer"."""

    VIEWER = 10, "viewer"
    REVIEWER = 20, "reviewer"
    MAINTAINER = 30, "maintainer"
    OWNER = 40, "owner"

    # What each role may do, named once so pages can ask instead of comparing numbers.
    @property
    def may_change(self) -> bool:
        """Create versions, edit suites, start runs and campaigns, merge approved proposals."""
        return self >= Role.MAINTAINER

    @property
    def may_administer(self) -> bool:
        """Members, policy, backends and tokens."""
        return self >= Role.OWNER


class Project(models.Model):
    slug = models.SlugField(max_length=50, unique=True)
    name = models.CharField(max_length=100)
    description = models.TextField(blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name


class Membership(models.Model):
    project = models.ForeignKey(Project, on_delete=models.CASCADE, related_name="memberships")
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="memberships")
    role = models.PositiveSmallIntegerField(choices=Role.choices, default=Role.VIEWER)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["project", "user"], name="membership_unique_user")]
        ordering = ["-role", "user__username"]

    def __str__(self) -> str:
        return f"{self.user_id}@{self.project_id}:{self.get_role_display()}"


class BackendKind(models.TextChoices):
    OPENAI_COMPAT = "openai_compat", "OpenAI-compatible endpoint"
    SIMULATOR = "simulator", "Simulator (simulated model)"


class BackendFamily(models.TextChoices):
    GENERIC = "generic", "generic OpenAI protocol"
    MINIMAX = "minimax", "MiniMax M2 family"


class Backend(models.Model):
    """Where a project's model requests go. The API key itself never lives here:
    `api_key_env` names the environment variable of the worker that holds it."""

    project = models.ForeignKey(Project, on_delete=models.CASCADE, related_name="backends")
    name = models.CharField(max_length=64)
    kind = models.CharField(max_length=20, choices=BackendKind.choices)
    family = models.CharField(max_length=20, choices=BackendFamily.choices, default=BackendFamily.GENERIC)
    base_url = models.URLField(max_length=300)
    model = models.CharField(max_length=128)
    api_key_env = models.CharField(max_length=128, blank=True)
    default_params = models.JSONField(default=dict, blank=True)
    max_concurrency = models.PositiveIntegerField(default=8, validators=[MinValueValidator(1)])
    # Whole-request timeout (a hung endpoint counts as a failed attempt and is retried),
    # and whether answers are streamed (a broken stream is retried, never scored).
    timeout_s = models.FloatField(default=120, validators=[MinValueValidator(1)])
    stream = models.BooleanField(default=False)
    # MiniMax: return reasoning in a separate field instead of <think> blocks in the content.
    reasoning_split = models.BooleanField(default=False)
    requests_per_minute = models.PositiveIntegerField(null=True, blank=True)
    tokens_per_minute = models.PositiveIntegerField(null=True, blank=True)
    price_in_per_m = models.DecimalField(max_digits=10, decimal_places=4, default=0)
    price_out_per_m = models.DecimalField(max_digits=10, decimal_places=4, default=0)
    # What the parameter probe found: {param: {"status": accepted|rejected|ignored|unknown, "evidence": str}}.
    probe_results = models.JSONField(default=dict, blank=True)
    probe_requested_at = models.DateTimeField(null=True, blank=True)
    probed_at = models.DateTimeField(null=True, blank=True)
    probe_error = models.TextField(blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["project", "name"], name="backend_unique_name")]
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name

    @property
    def is_simulated(self) -> bool:
        return self.kind == BackendKind.SIMULATOR

    @property
    def probe_pending(self) -> bool:
        return self.probe_requested_at is not None and (
            self.probed_at is None or self.probed_at < self.probe_requested_at
        )


class ApiToken(models.Model):
    """A personal token for scripts and CI; only its SHA-256 is stored."""

    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="api_tokens")
    name = models.CharField(max_length=100)
    prefix = models.CharField(max_length=12)
    token_hash = models.CharField(max_length=64, unique=True)
    created_at = models.DateTimeField(auto_now_add=True)
    last_used_at = models.DateTimeField(null=True, blank=True)
    revoked_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at"]

    def __str__(self) -> str:
        return f"{self.name} ({self.prefix}…)"

    @property
    def is_active(self) -> bool:
        return self.revoked_at is None
