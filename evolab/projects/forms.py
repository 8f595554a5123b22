from __future__ import annotations

import json
from dataclasses import asdict
from datetime import date, datetime, time, timedelta
from typing import Any

from django import forms
from django.utils import timezone

from evolab.core.selectors import AuditFilter
from evolab.projects.actions import BackendFields
from evolab.projects.backend_configs import allowed_key_variables_text
from evolab.projects.models import BackendFamily, BackendKind, Role

ASSIGNABLE_ROLES = [(role.label, role.label) for role in sorted(Role, reverse=True)]


class ProjectForm(forms.Form):
    name = forms.CharField(max_length=100)
    slug = forms.SlugField(max_length=50, required=False, help_text="Leave empty to derive it from the name.")
    description = forms.CharField(widget=forms.Textarea(attrs={"rows": 3}), required=False)


class ProjectEditForm(forms.Form):
    name = forms.CharField(max_length=100)
    description = forms.CharField(widget=forms.Textarea(attrs={"rows": 3}), required=False)


class MemberAddForm(forms.Form):
    username = forms.CharField(max_length=150)
    role = forms.ChoiceField(choices=ASSIGNABLE_ROLES, initial="viewer")


class MemberRoleForm(forms.Form):
    role = forms.ChoiceField(choices=ASSIGNABLE_ROLES)


class BackendForm(forms.Form):
    name = forms.CharField(max_length=64)
    kind = forms.ChoiceField(choices=BackendKind.choices)
    family = forms.ChoiceField(choices=BackendFamily.choices)
    base_url = forms.URLField(max_length=300, assume_scheme="https")
    model = forms.CharField(max_length=128)
    api_key_env = forms.CharField(
        max_length=128,
        required=False,
        label="API key environment variable",
        help_text="The NAME of the variable that holds the key on the workers, e.g. MINIMAX_API_KEY. Never the key.",
    )
    default_params = forms.CharField(
        widget=forms.Textarea(attrs={"rows": 3, "class": "mono"}),
        required=False,
        initial="{}",
        help_text='JSON, e.g. {"temperature": 1.0, "top_p": 0.95, "top_k": 40}',
    )
    max_concurrency = forms.IntegerField(min_value=1, max_value=1024, initial=8)
    timeout_s = forms.FloatField(min_value=1, initial=120, label="Request timeout (seconds)")
    stream = forms.BooleanField(required=False, help_text="Stream answers; a broken stream is retried, never scored.")
    reasoning_split = forms.BooleanField(
        required=False, help_text="MiniMax: ask for reasoning in a separate field instead of <think> blocks."
    )
    requests_per_minute = forms.IntegerField(min_value=1, required=False)
    tokens_per_minute = forms.IntegerField(min_value=1, required=False)
    price_in_per_m = forms.DecimalField(min_value=0, max_digits=10, decimal_places=4, label="USD per 1M input tokens")
    price_out_per_m = forms.DecimalField(min_value=0, max_digits=10, decimal_places=4, label="USD per 1M output tokens")

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        allowed = allowed_key_variables_text()
        self.fields["api_key_env"].help_text = f"The NAME of the variable holding the key on workers: {allowed}."

    def clean_default_params(self) -> dict[str, Any]:
        text = self.cleaned_data.get("default_params") or "{}"
        try:
            value = json.loads(text)
        except json.JSONDecodeError as exc:
            raise forms.ValidationError(f"Not valid JSON: {exc.msg} (line {exc.lineno}, column {exc.colno}).") from None
        if not isinstance(value, dict):
            raise forms.ValidationError("Give a JSON object of parameter names to values.")
        return value

    @classmethod
    def initial_from(cls, values: BackendFields) -> dict[str, Any]:
        return {**asdict(values), "default_params": json.dumps(values.default_params or {})}


class TokenForm(forms.Form):
    name = forms.CharField(max_length=100, help_text="What the token is for, e.g. 'CI gate'.")


class AuditFilterForm(forms.Form):
    """The audit page's filters, read from the query string; dates are whole days in the
    site's time zone, both ends included."""

    actor = forms.ChoiceField(label="Person", required=False)
    action = forms.RegexField(
        regex=r"^[a-z0-9_]+(\.[a-z0-9_]*)*$",
        max_length=64,
        required=False,
        help_text='An action ("proposal.merge"), or a prefix ending in a dot ("proposal.").',
        error_messages={"invalid": "Letters, digits, underscores and dots only, e.g. proposal.merge or proposal."},
    )
    since = forms.DateField(label="From", required=False, widget=forms.DateInput(attrs={"type": "date"}))
    until = forms.DateField(label="To", required=False, widget=forms.DateInput(attrs={"type": "date"}))

    def __init__(self, *args: Any, actors: list[str], **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fields["actor"].choices = [("", "anyone"), *((a, a) for a in actors)]  # type: ignore[attr-defined]

    def clean(self) -> dict[str, Any]:
        cleaned = super().clean() or {}
        since, until = cleaned.get("since"), cleaned.get("until")
        if since and until and since > until:
            self.add_error("until", "The end date is before the start date.")
        return cleaned

    def filters(self) -> AuditFilter:
        """The validated filters; call after `is_valid()`."""
        data = self.cleaned_data
        return AuditFilter(
            actor=data["actor"],
            action=data["action"],
            since=_day_start(data["since"]) if data["since"] else None,
            until=_day_start(data["until"] + timedelta(days=1)) if data["until"] else None,
        )


def _day_start(day: date) -> datetime:
    return timezone.make_aware(datetime.combine(day, time.min))
