from __future__ import annotations

import json
from typing import Any

from django import forms

from evolab.core.errors import ValidationFailed
from evolab.evals.importing import parse_mapping


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


class ImportForm(forms.Form):
    file = forms.FileField(help_text="JSONL (one JSON object per line) or CSV with a header row, UTF-8.")
    format = forms.ChoiceField(choices=[("", "from the file name"), ("jsonl", "JSONL"), ("csv", "CSV")], required=False)
    mapping = forms.CharField(
        widget=forms.Textarea(attrs={"rows": 3, "class": "mono", "placeholder": "key=task_id\ninput=prompt"}),
        required=False,
        help_text="One case_field=source_field per line; unmapped source fields are kept in metadata. "
        "Case fields: key, input, target, grader, tags, split, metadata. JSONL sources may be dotted paths.",
    )
    default_grader = forms.CharField(
        widget=forms.Textarea(attrs={"rows": 2, "class": "mono"}),
        required=False,
        help_text="JSON; leave empty to keep the suite's default grader.",
    )
    message = forms.CharField(max_length=500, required=False, help_text="What changed in this version.")
    mode = forms.ChoiceField(
        choices=[
            ("replace", "Replace: the new version holds only this file's cases"),
            ("merge", "Merge: start from the latest version, add or replace cases by key"),
        ],
        initial="replace",
        widget=forms.RadioSelect,
    )

    def clean_default_grader(self) -> dict[str, Any] | None:
        return _json_object_field(self.cleaned_data.get("default_grader"))

    def clean_mapping(self) -> dict[str, str]:
        try:
            return parse_mapping((self.cleaned_data.get("mapping") or "").splitlines())
        except ValidationFailed as error:
            raise forms.ValidationError(error.message) from None
