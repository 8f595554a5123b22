"""Forms of the change-request pages and of the browser import (upload, then mapping)."""

from __future__ import annotations

from typing import Any

from django import forms

from evolab.core.uploads import validate_upload_size
from evolab.evals.change_policy import APPROVER_ROLES, MAX_APPROVALS, MAX_DIRECT_OPS
from evolab.evals.forms import _json_object_field
from evolab.evals.importing import CASE_FIELDS
from evolab.evals.models import ChangeRequestVoteValue

NOT_MAPPED = ""


class VoteForm(forms.Form):
    value = forms.ChoiceField(choices=ChangeRequestVoteValue.choices, widget=forms.RadioSelect)


class CommentForm(forms.Form):
    text = forms.CharField(widget=forms.Textarea(attrs={"rows": 3}), max_length=10_000)
    case_key = forms.CharField(required=False, max_length=200, help_text="Leave empty for a general comment.")


class CloseForm(forms.Form):
    reason = forms.CharField(required=False, max_length=300)


class PolicyForm(forms.Form):
    approvals_needed = forms.IntegerField(min_value=0, max_value=MAX_APPROVALS)
    approvals_needed_holdout = forms.IntegerField(
        min_value=0, max_value=MAX_APPROVALS, help_text="When a change adds, edits, moves or deletes a holdout case."
    )
    approver_min_role = forms.ChoiceField(choices=[(role, role) for role in APPROVER_ROLES])
    allow_direct_apply = forms.BooleanField(
        required=False, help_text="Maintainers may apply small change requests without their approvals."
    )
    direct_max_ops = forms.IntegerField(
        min_value=1,
        max_value=MAX_DIRECT_OPS,
        help_text="Small: at most this many operations, none touching holdout.",
    )


class UploadForm(forms.Form):
    file = forms.FileField(
        help_text="JSONL (one JSON object per line) or CSV with a header row, UTF-8.",
        validators=[validate_upload_size],
    )
    format = forms.ChoiceField(choices=[("", "from the file name"), ("jsonl", "JSONL"), ("csv", "CSV")], required=False)


class MappingForm(forms.Form):
    """Which source field feeds each case field; unmapped source fields go to metadata."""

    mode = forms.ChoiceField(
        choices=[
            ("merge", "Merge: add new keys, edit existing ones, keep the rest"),
            ("replace", "Replace: also delete the cases the file does not have"),
        ],
        initial="merge",
        widget=forms.RadioSelect,
    )
    default_grader = forms.CharField(
        widget=forms.Textarea(attrs={"rows": 2, "class": "mono"}),
        required=False,
        help_text="JSON; leave empty to keep the suite's default grader.",
    )
    title = forms.CharField(max_length=200, required=False, help_text="Of the change request; a default is made.")
    description = forms.CharField(widget=forms.Textarea(attrs={"rows": 2}), required=False)

    def __init__(self, *args: Any, source_fields: list[str], **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        choices = [(NOT_MAPPED, "— not in the file —"), *((name, name) for name in source_fields)]
        for name in CASE_FIELDS:
            self.fields[f"map_{name}"] = forms.ChoiceField(choices=choices, required=False, label=f"{name} ←")
        self.order_fields([f"map_{name}" for name in CASE_FIELDS])

    def clean_default_grader(self) -> dict[str, Any] | None:
        return _json_object_field(self.cleaned_data.get("default_grader"))

    def mapping(self) -> dict[str, str]:
        """Case field → source field, for the fields mapped to a differently named source."""
        return {
            name: self.cleaned_data[f"map_{name}"]
            for name in CASE_FIELDS
            if self.cleaned_data.get(f"map_{name}") not in (NOT_MAPPED, name)
        }
