"""Forms of the evolution pages: start a campaign, its guidance, a human proposal, and
the merge policy. Choices use stable names (version numbers, `suite@vN`, backend names),
as the run form does."""

from __future__ import annotations

import re
from decimal import Decimal
from typing import Any

from django import forms
from django.contrib.auth.models import User

from evolab.core.errors import ValidationFailed
from evolab.evolution.actions import MAX_CANDIDATES, MAX_GUIDANCE_CHARS, CampaignSpec
from evolab.evolution.models import ProposerKind
from evolab.evolution.policy import APPROVER_ROLES, PolicyRules
from evolab.projects.models import Project, Role
from evolab.projects.selectors import backends_of
from evolab.runs.forms import harness_choices, suite_choices, suite_ref
from evolab.runs.selectors import backend_named, harness_for, suite_version_for

SELECTION_SPLITS = [("train", "train"), ("dev", "dev")]
GUARD_CHOICES = [("holdout", "holdout (scored only to guard merges)"), ("", "none")]
PROPOSER_CHOICES = [(kind.value, kind.label) for kind in (ProposerKind.REFLECT, ProposerKind.SWEEP)]


def backend_label(name: str, model: str, simulated: bool) -> str:
    return f"{name} · {model}{' (simulated)' if simulated else ''}"


def _lines(text: str) -> list[str]:
    return [line.strip() for line in text.splitlines() if line.strip()]


class CampaignForm(forms.Form):
    name = forms.CharField(max_length=120)
    base = forms.ChoiceField(label="Base version")
    suite_version = forms.ChoiceField(label="Suite version")
    feedback_split = forms.ChoiceField(
        choices=SELECTION_SPLITS, initial="train", help_text="Failures the proposer reads."
    )
    selection_split = forms.ChoiceField(
        choices=SELECTION_SPLITS, initial="dev", help_text="Where candidates are compared with their parent."
    )
    guard_split = forms.ChoiceField(label="Guard", choices=GUARD_CHOICES, initial="holdout", required=False)
    runner_backend = forms.ChoiceField(label="Runner backend")
    proposer = forms.ChoiceField(choices=PROPOSER_CHOICES, initial=ProposerKind.REFLECT.value)
    proposer_backend = forms.ChoiceField(label="Proposer backend", required=False)
    candidates_per_round = forms.IntegerField(
        label="Candidates per round", min_value=1, max_value=MAX_CANDIDATES, initial=2
    )
    samples = forms.IntegerField(label="Samples per case (k)", min_value=1, max_value=20, initial=2)
    seed = forms.IntegerField(initial=0)
    budget_rounds = forms.IntegerField(label="Rounds", min_value=1, max_value=1000, initial=5)
    budget_usd = forms.DecimalField(
        label="Budget (USD)", min_value=Decimal("0.0001"), max_digits=12, decimal_places=4, initial=Decimal("5")
    )
    budget_tokens = forms.IntegerField(label="Budget (tokens)", min_value=1, initial=2_000_000)
    budget_minutes = forms.IntegerField(
        label="Budget (wall time, minutes)", min_value=1, max_value=30 * 24 * 60, initial=60
    )
    guidance = forms.CharField(
        widget=forms.Textarea(attrs={"rows": 4}),
        required=False,
        max_length=MAX_GUIDANCE_CHARS,
        help_text="The research direction the proposer is given; edit it any time.",
    )
    protected_paths = forms.CharField(
        widget=forms.Textarea(attrs={"rows": 3}),
        required=False,
        help_text="One pattern per line (e.g. system.md, skills/*.md); a proposal touching one is rejected.",
    )
    plateau_rounds = forms.IntegerField(
        label="Plateau rounds",
        min_value=1,
        max_value=100,
        initial=3,
        help_text="Pause when this many rounds in a row merge nothing.",
    )

    def __init__(self, *args: Any, project: Project, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.project = project
        self._choice("base").choices, self.fields["base"].initial = harness_choices(project)
        suites = suite_choices(project)
        self._choice("suite_version").choices = suites
        self.fields["suite_version"].initial = suites[0][0] if suites else None
        backends = [(b.name, backend_label(b.name, b.model, b.is_simulated)) for b in backends_of(project)]
        self._choice("runner_backend").choices = backends
        self._choice("proposer_backend").choices = [("", "none (sweep only)"), *backends]
        if backends:
            self.fields["runner_backend"].initial = backends[0][0]
            self.fields["proposer_backend"].initial = backends[0][0]

    def _choice(self, name: str) -> forms.ChoiceField:
        field = self.fields[name]
        assert isinstance(field, forms.ChoiceField)
        return field

    def clean(self) -> dict[str, Any]:
        data = super().clean() or {}
        project = self.project
        resolvers = {
            "base": lambda value: harness_for(project, value),
            "suite_version": lambda value: suite_version_for(project, *suite_ref(value)),
            "runner_backend": lambda value: backend_named(project, value),
            "proposer_backend": lambda value: backend_named(project, value) if value else None,
        }
        for name, resolve in resolvers.items():
            if name in data:
                try:
                    data[f"{name}_object"] = resolve(data[name])
                except ValidationFailed as error:
                    self.add_error(name, error.message)
        return data

    def spec(self) -> CampaignSpec:
        """The campaign this valid form describes (the action validates the rest)."""
        data = self.cleaned_data
        return CampaignSpec(
            name=data["name"],
            base_version=data["base_object"],
            suite_version=data["suite_version_object"],
            runner_backend=data["runner_backend_object"],
            proposer_backend=data["proposer_backend_object"],
            proposer=data["proposer"],
            feedback_split=data["feedback_split"],
            selection_split=data["selection_split"],
            guard_split=data["guard_split"] or "",
            candidates_per_round=data["candidates_per_round"],
            samples=data["samples"],
            seed=data["seed"],
            budget_rounds=data["budget_rounds"],
            budget_usd=data["budget_usd"],
            budget_tokens=data["budget_tokens"],
            budget_wall_s=data["budget_minutes"] * 60,
            guidance=data["guidance"],
            protected_paths=_lines(data["protected_paths"]),
            plateau_rounds=data["plateau_rounds"],
        )


class GuidanceForm(forms.Form):
    text = forms.CharField(
        label="Guidance", widget=forms.Textarea(attrs={"rows": 5}), required=False, max_length=MAX_GUIDANCE_CHARS
    )


class HumanProposalForm(forms.Form):
    """One file of the parent version, rewritten whole; the rest of the tree is kept."""

    path = forms.ChoiceField(label="File")
    text = forms.CharField(
        label="New text",
        widget=forms.Textarea(attrs={"rows": 16, "class": "mono", "spellcheck": "false"}),
        required=False,
        strip=False,
    )
    hypothesis = forms.CharField(widget=forms.Textarea(attrs={"rows": 2}), help_text="What it should change, and why.")

    def __init__(self, *args: Any, files: dict[str, str], **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.parent_files = files
        field = self.fields["path"]
        assert isinstance(field, forms.ChoiceField)
        field.choices = [(path, path) for path in sorted(files)]

    def tree(self) -> dict[str, str]:
        data = self.cleaned_data
        return {**self.parent_files, data["path"]: data["text"]}


_RANGE = re.compile(r"^\s*([\w.]+)\s*:\s*(-?[\d.eE+-]+)\s*\.\.\s*(-?[\d.eE+-]+)\s*$")
POLICY_FIELDS = (
    "allow_auto_merge",
    "critical_paths",
    "critical_tag",
    "max_cost_increase_pct",
    "max_latency_increase_pct",
    "max_diff_lines",
    "min_effect",
    "safe_ranges",
    "approvals_needed",
    "approvals_needed_critical",
    "approver_min_role",
)


class PolicyForm(forms.Form):
    allow_auto_merge = forms.BooleanField(
        required=False, help_text="Off: every merge goes to a person, whatever the numbers say."
    )
    critical_paths = forms.CharField(
        widget=forms.Textarea(attrs={"rows": 3}),
        required=False,
        help_text="One pattern per line; a change touching one always goes to review.",
    )
    critical_tag = forms.CharField(help_text="A case with this tag that scores lower sends the change to review.")
    max_cost_increase_pct = forms.FloatField(label="Max cost increase (%)", min_value=0)
    max_latency_increase_pct = forms.FloatField(label="Max latency increase (%)", min_value=0)
    max_diff_lines = forms.IntegerField(label="Max diff lines", min_value=1)
    min_effect = forms.FloatField(
        label="Minimum effect", min_value=0, help_text="Auto-merge needs the interval's lower bound above this (0..1)."
    )
    safe_ranges = forms.CharField(
        widget=forms.Textarea(attrs={"rows": 4, "class": "mono"}),
        required=False,
        help_text="One per line: `sampling.temperature: 0.01..1`.",
    )
    approvals_needed = forms.IntegerField(
        label="Approvals needed", min_value=1, initial=1, help_text="+2 votes a reviewed proposal needs to merge."
    )
    approvals_needed_critical = forms.IntegerField(
        label="Approvals needed (critical)",
        min_value=1,
        initial=2,
        help_text="When a critical path was touched or a critical-tagged case regressed.",
    )
    approver_min_role = forms.ChoiceField(
        label="Approvers",
        choices=[(role, f"{role} and above") for role in APPROVER_ROLES],
        initial="reviewer",
        help_text="Whose +2 counts.",
    )

    @classmethod
    def initial_for(cls, rules: PolicyRules) -> dict[str, Any]:
        data = rules.to_dict()
        data["critical_paths"] = "\n".join(rules.critical_paths)
        data["safe_ranges"] = "\n".join(f"{key}: {low:g}..{high:g}" for key, (low, high) in rules.safe_ranges.items())
        return data

    def clean_safe_ranges(self) -> dict[str, list[float]]:
        ranges: dict[str, list[float]] = {}
        for line in _lines(self.cleaned_data["safe_ranges"]):
            match = _RANGE.match(line)
            if match is None:
                raise forms.ValidationError(f"Write “key: low..high”, not {line!r}.")
            try:
                ranges[match[1]] = [float(match[2]), float(match[3])]
            except ValueError:
                raise forms.ValidationError(f"Write numbers in {line!r}.") from None
        return ranges

    def rules(self) -> dict[str, Any]:
        data = self.cleaned_data
        return {
            **{name: data[name] for name in POLICY_FIELDS},
            "critical_paths": _lines(data["critical_paths"]),
        }


def policy_error_field(message: str) -> str | None:
    """The form field a PolicyRules error names ("max_diff_lines must…", "safe_ranges.x…")."""
    head = re.split(r"[\s:.]", message, maxsplit=1)[0]
    return head if head in POLICY_FIELDS else None


class PathOwnerForm(forms.Form):
    """Who reviews changes to paths matching a pattern (`assignment.path_owner_set`)."""

    pattern = forms.CharField(
        max_length=300,
        help_text="A glob over harness paths, e.g. skills/* or harness.yaml.",
        widget=forms.TextInput(attrs={"placeholder": "skills/*", "class": "mono"}),
    )
    user = forms.ModelChoiceField(queryset=User.objects.none(), label="Reviewer", empty_label=None)

    def __init__(self, *args: Any, project: Project, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        # Only people who may review: the action refuses anyone else too.
        reviewers = User.objects.filter(memberships__project=project, memberships__role__gte=Role.REVIEWER)
        field = self.fields["user"]
        assert isinstance(field, forms.ModelChoiceField)
        field.queryset = reviewers.order_by("username")
