"""The curation form: one form for the three kinds; the view shows the fields its kind uses."""

from __future__ import annotations

from typing import Any

from django import forms

from evolab.runs.curation import Kind

# The fields each kind shows and validates, besides title and reason.
KIND_FIELDS: dict[str, tuple[str, ...]] = {
    "add": ("key", "input", "chat", "target", "tags", "split"),
    "target": ("target",),
    "ambiguous": ("proposal",),
}


class CurationForm(forms.Form):
    title = forms.CharField(max_length=200, widget=forms.TextInput(attrs={"size": 60}))
    reason = forms.CharField(widget=forms.Textarea(attrs={"rows": 3}), required=False, max_length=5_000)
    key = forms.CharField(max_length=200, help_text="The new case's stable key; unique in the suite.")
    input = forms.CharField(widget=forms.Textarea(attrs={"rows": 6, "class": "mono"}), strip=False)
    chat = forms.BooleanField(required=False, widget=forms.HiddenInput)
    target = forms.CharField(
        widget=forms.Textarea(attrs={"rows": 4, "class": "mono"}),
        required=False,
        strip=False,
        help_text="Prefilled with the model's output: edit it into the right answer.",
    )
    tags = forms.CharField(max_length=1_000, required=False, help_text="Comma-separated.")
    split = forms.ChoiceField(choices=[])
    proposal = forms.ChoiceField(
        label="Proposed change",
        choices=[("retag", "tag the case “ambiguous” for a rewrite"), ("delete", "delete the case")],
        initial="retag",
        widget=forms.RadioSelect,
    )

    def __init__(self, *args: Any, kind: Kind, splits: list[str], **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.kind = kind
        self.fields["split"].choices = [(s, s) for s in splits]  # type: ignore[attr-defined]
        for name in set().union(*KIND_FIELDS.values()) - set(KIND_FIELDS[kind]):
            del self.fields[name]
        if kind in ("target", "ambiguous"):
            self.fields["reason"].required = True
        if kind == "ambiguous":
            self.fields["reason"].help_text = "What makes the case ambiguous? It opens the request's description."
