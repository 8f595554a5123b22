"""The case page's "propose a change" form: edit one case (input, target, tags, split,
grader) or delete it, through a change request on the suite's latest version.

The form is prefilled from the case as it is in that version; only the fields the person
changed go into the edit operation, so reviewers see exactly what was proposed and a
concurrent change to another field is not overwritten. Holdout rules are the change
request's own (`plan_operations`): the split choices below merely leave out holdout for
those who may not put cases there.
"""

from __future__ import annotations

import json
from typing import Any

from django import forms

from evolab.core.errors import ValidationFailed
from evolab.evals.case_text import input_as_text, parse_input, parse_tags
from evolab.evals.forms import _json_object_field
from evolab.evals.selectors import CaseView

ACTIONS = (("edit", "Edit the case"), ("delete", "Delete the case"))


class CaseChangeForm(forms.Form):
    title = forms.CharField(max_length=200, widget=forms.TextInput(attrs={"size": 60}))
    reason = forms.CharField(
        widget=forms.Textarea(attrs={"rows": 3}),
        required=False,
        max_length=5_000,
        help_text="Why: it becomes the change request's description.",
    )
    action = forms.ChoiceField(choices=ACTIONS, initial="edit", widget=forms.RadioSelect)
    input = forms.CharField(widget=forms.Textarea(attrs={"rows": 6, "class": "mono"}), strip=False, required=False)
    target = forms.CharField(widget=forms.Textarea(attrs={"rows": 4, "class": "mono"}), required=False, strip=False)
    tags = forms.CharField(max_length=1_000, required=False, help_text="Comma-separated.")
    split = forms.ChoiceField(choices=[], required=False)
    grader = forms.CharField(
        widget=forms.Textarea(attrs={"rows": 3, "class": "mono"}),
        required=False,
        help_text="JSON; leave empty for the version's default grader.",
    )

    def __init__(self, *args: Any, splits: list[str], **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fields["split"].choices = [(s, s) for s in splits]  # type: ignore[attr-defined]

    def clean_grader(self) -> dict[str, Any]:
        return _json_object_field(self.cleaned_data.get("grader")) or {}


def case_change_initial(case: CaseView) -> dict[str, Any]:
    """The form's starting values: the case as it is."""
    return {
        "title": f"Change {case.key}"[:200],
        "input": input_as_text(case.input),
        "target": case.target or "",
        "tags": ", ".join(case.tags),
        "split": case.split,
        "grader": json.dumps(case.grader, indent=2, ensure_ascii=False) if case.grader else "",
    }


def case_change_operations(case: CaseView, data: dict[str, Any]) -> list[dict[str, Any]]:
    """The operations for the cleaned form `data`: one delete, or one edit holding only the
    fields that differ from `case`. ValidationFailed when an edit changes nothing."""
    if data["action"] == "delete":
        return [{"op": "delete", "key": case.key}]
    proposed: dict[str, Any] = {
        # A chat case stays a chat case: the kind of input comes from the case, not the form.
        "input": parse_input(data.get("input") or "", chat=case.is_chat),
        "target": data.get("target") or "",
        "tags": parse_tags(data.get("tags") or ""),
        "split": data.get("split") or case.split,
        "grader": data.get("grader") or {},
    }
    current = {
        "input": case.input,
        "target": case.target or "",
        "tags": list(case.tags),
        "split": case.split,
        "grader": case.grader or {},
    }
    changes = {name: value for name, value in proposed.items() if value != current[name]}
    if not changes:
        raise ValidationFailed("Nothing is changed: edit a field, or choose to delete the case.")
    return [{"op": "edit", "key": case.key, "changes": changes}]
