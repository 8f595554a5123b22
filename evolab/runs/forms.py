"""The start-a-run form. Choices use stable names (version numbers, `suite@vN`, backend
names), so a form posted from a script or a stale page means the same thing later."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from django import forms

from evolab.core.errors import ValidationFailed
from evolab.evals.models import Split
from evolab.evals.selectors import can_see_holdout
from evolab.harnesses.selectors import head_ref_of, versions_of
from evolab.projects.models import Project
from evolab.projects.selectors import backends_of, role_of
from evolab.runs.actions import MAX_SAMPLES, RunSpec
from evolab.runs.selectors import backend_named, harness_for, suite_version_choices, suite_version_for


class RunForm(forms.Form):
    harness = forms.ChoiceField(label="Harness version")
    suite_version = forms.ChoiceField(label="Suite version")
    splits = forms.MultipleChoiceField(widget=forms.CheckboxSelectMultiple, initial=["dev"])
    backend = forms.ChoiceField()
    samples = forms.IntegerField(
        label="Samples per case (k)",
        min_value=1,
        max_value=MAX_SAMPLES,
        initial=1,
        help_text=f"1 to {MAX_SAMPLES}. More cases narrow the interval more than more samples.",
    )
    seed = forms.IntegerField(
        initial=0, help_text="Same seed, same harness, same cases: the same requests (and cache hits)."
    )
    max_concurrency = forms.IntegerField(
        label="Max concurrency",
        min_value=1,
        required=False,
        help_text="Requests in flight; empty: the backend's setting.",
    )
    cost_cap_usd = forms.DecimalField(
        label="Cost cap (USD)",
        min_value=Decimal("0.0001"),
        max_digits=12,
        decimal_places=4,
        required=False,
        help_text="The run stops starting new requests once it has spent this much; resume with a higher cap.",
    )
    use_cache = forms.BooleanField(
        label="Use the response cache",
        required=False,
        initial=True,
        help_text="Identical requests made before are answered from the cache, at no cost.",
    )

    def __init__(self, *args: Any, project: Project, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.project = project
        self._choice("harness").choices, self.fields["harness"].initial = harness_choices(project)
        suites = suite_choices(project)
        self._choice("suite_version").choices = suites
        self.fields["suite_version"].initial = suites[0][0] if suites else None
        backends = list(backends_of(project))
        self.backends = {backend.name: backend for backend in backends}
        self._choice("backend").choices = [
            (b.name, f"{b.name} · {b.model}{' (simulated)' if b.is_simulated else ''}") for b in backends
        ]
        self.fields["backend"].initial = backends[0].name if backends else None
        splits = [split for split in Split.values if split != Split.HOLDOUT or can_see_holdout(role_of(project))]
        self._choice("splits").choices = [(split, split) for split in splits]

    def _choice(self, name: str) -> forms.ChoiceField:
        field = self.fields[name]
        assert isinstance(field, forms.ChoiceField)
        return field

    def clean(self) -> dict[str, Any]:
        data = super().clean() or {}
        project = self.project
        for field, resolve in (
            ("harness", lambda value: harness_for(project, value)),
            ("suite_version", lambda value: suite_version_for(project, *suite_ref(value))),
            ("backend", lambda value: backend_named(project, value)),
        ):
            if field in data:
                try:
                    data[f"{field}_object"] = resolve(data[field])
                except ValidationFailed as error:
                    self.add_error(field, error.message)
        return data

    def spec(self) -> RunSpec:
        """The run this valid form describes."""
        data = self.cleaned_data
        backend = data["backend_object"]
        return RunSpec(
            harness_version=data["harness_object"],
            suite_version=data["suite_version_object"],
            splits=[split for split in Split.values if split in data["splits"]],
            backend=backend,
            samples=data["samples"],
            seed=data["seed"],
            max_concurrency=data["max_concurrency"] or backend.max_concurrency,
            cost_cap_usd=data["cost_cap_usd"],
            use_cache=data["use_cache"],
        )


def harness_choices(project: Project) -> tuple[list[tuple[str, str]], str | None]:
    """Every harness version as a choice ("v3 (head) · message"), and head's number as
    the initial one."""
    head = head_ref_of(project)
    head_number = head.version.number if head else None
    choices = [
        (str(number), f"v{number}{' (head)' if number == head_number else ''} · {message[:60]}")
        for number, message in versions_of(project).values_list("number", "message")
    ]
    return choices, str(head_number) if head_number else None


def suite_choices(project: Project) -> list[tuple[str, str]]:
    """Every suite version as a choice ("Support suite @v2 · 180 cases (latest)"), valued
    "slug@number" (see `suite_ref`)."""
    seen: set[int] = set()
    choices = []
    for version in suite_version_choices(project):
        latest = version.suite_id not in seen
        seen.add(version.suite_id)
        label = f"{version.suite.name} @v{version.number} · {version.case_count} cases"
        choices.append((f"{version.suite.slug}@{version.number}", label + (" (latest)" if latest else "")))
    return choices


def suite_ref(value: str) -> tuple[str, int | None]:
    """ "support@3" → ("support", 3); "support" → ("support", None): the latest."""
    slug, _, number = value.partition("@")
    return slug, int(number) if number.isdigit() else None
