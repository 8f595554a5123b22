from __future__ import annotations

import json
from typing import Any

from django import forms


def _json_object_field(text: str | None) -> dict[str, Any] | None:
    if not (text or "").strip():
        return None
    try:
        value = json.loads(text or "")
    except json.JSONDecodeError as exc:
        raise forms.ValidationError(f"Not valid JSON: {exc.msg} (line {exc.lineno}, column {exc.colno}).") from None
    if not isinstance(value, dict):
        raise forms.ValidationError('Give a JSON object, e.g. {"type": "exact"}.')
    return value


class SuiteForm(forms.Form):
    name = forms.CharField(max_length=100)
    slug = forms.SlugField(max_length=50, required=False, help_text="Leave empty to derive it from the name.")
    description = forms.CharField(widget=forms.Textarea(attrs={"rows": 2}), required=False)
    default_grader = forms.CharField(
        widget=forms.Textarea(attrs={"rows": 2, "class": "mono"}),
        required=False,
        help_text='JSON, used by cases without their own grader, e.g. {"type": "exact", "strip": true}',
    )

    def clean_default_grader(self) -> dict[str, Any] | None:
        return _json_object_field(self.cleaned_data.get("default_grader"))
