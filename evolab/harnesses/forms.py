"""Browser forms for harness versions: parse and show errors; rules live in actions/tree."""

from __future__ import annotations

import unicodedata
from typing import Any

from django import forms

from evolab.core.errors import DomainError
from evolab.core.uploads import validate_upload_size
from evolab.harnesses.archive import MAX_ZIP_BYTES
from evolab.harnesses.tree import MAX_FILES

# Textareas grow with their file, within reason: a long file scrolls inside its box.
MIN_ROWS, MAX_ROWS = 4, 30


class FileRowForm(forms.Form):
    path = forms.CharField(
        required=False,
        max_length=300,
        widget=forms.TextInput(attrs={"class": "mono", "placeholder": "e.g. skills/refunds.md", "spellcheck": "false"}),
    )
    # strip=False: leading spaces and blank lines are content (YAML indentation, Markdown).
    text = forms.CharField(
        required=False, strip=False, widget=forms.Textarea(attrs={"class": "mono", "spellcheck": "false"})
    )
    remove = forms.BooleanField(required=False, label="Remove this file")

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        text = self.data.get(self.add_prefix("text")) if self.is_bound else (self.initial or {}).get("text", "")
        lines = (text or "").count("\n") + 2
        self.fields["text"].widget.attrs["rows"] = str(min(max(lines, MIN_ROWS), MAX_ROWS))

    @property
    def is_blank(self) -> bool:
        data = self.cleaned_data
        return not data.get("path") and not data.get("text")


class BaseFileRowFormSet(forms.BaseFormSet):
    def clean(self) -> None:
        if any(self.errors):
            return
        seen: dict[str, FileRowForm] = {}
        for form in self.forms:
            if form.cleaned_data.get("remove") or form.is_blank:
                continue
            path = form.cleaned_data["path"]
            if not path:
                form.add_error("path", "Give this file a name, or tick “remove”.")
                continue
            if path in seen:
                form.add_error("path", f"{path!r} is listed twice.")
            seen[path] = form

    def tree(self) -> dict[str, str]:
        """The kept files as {path: text}; call after `is_valid()`."""
        return {
            form.cleaned_data["path"]: form.cleaned_data["text"]
            for form in self.forms
            if not form.cleaned_data.get("remove") and not form.is_blank
        }

    def show_error(self, error: DomainError) -> bool:
        """Attach an action's error to the row of the file it names; False if none matches."""
        path = error.details.get("path") if isinstance(error.details, dict) else None
        if not isinstance(path, str):
            return False
        wanted = unicodedata.normalize("NFC", path)
        matches = [f for f in self.forms if f.cleaned_data.get("path") == path] or [
            f for f in self.forms if unicodedata.normalize("NFC", f.cleaned_data.get("path") or "") == wanted
        ]
        if not matches:
            return False
        # A duplicate is reported on the later row: the first one is the "original".
        row = matches[-1]
        row.add_error("text" if "key" in error.details else "path", error.message)
        return True


FileRowFormSet = forms.formset_factory(
    FileRowForm,
    formset=BaseFileRowFormSet,
    extra=1,
    max_num=MAX_FILES,
    validate_max=True,
    absolute_max=MAX_FILES + 50,
)


class CommitForm(forms.Form):
    message = forms.CharField(
        widget=forms.Textarea(attrs={"rows": 3}),
        max_length=5000,
        help_text="What changed and why; the first line is the summary shown in lists.",
    )
    # The head the edit started from: committing moves head only if it is still there.
    base = forms.IntegerField(required=False, widget=forms.HiddenInput, min_value=1)


class UploadForm(CommitForm):
    file = forms.FileField(
        label="Harness .zip",
        help_text=(
            f"At most {MAX_ZIP_BYTES // (1024 * 1024)} MiB of UTF-8 text files. One top folder shared by all files is "
            "dropped; __MACOSX/ and .DS_Store are ignored. The archive replaces the whole tree."
        ),
        widget=forms.ClearableFileInput(attrs={"accept": ".zip,application/zip"}),
        validators=[validate_upload_size],
    )
    field_order = ["file", "message", "base"]


class RevertForm(forms.Form):
    reason = forms.CharField(max_length=2000, help_text="Why go back? This becomes part of the new version's message.")


class DiffForm(forms.Form):
    """`?from=N&to=M&view=unified|split`; missing numbers default in the view."""

    view = forms.ChoiceField(choices=[("unified", "Unified"), ("split", "Side by side")], required=False)

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        # "from" is a Python keyword, so these fields are declared here, not as attributes.
        self.fields["from"] = forms.IntegerField(required=False, min_value=0, label="From")
        self.fields["to"] = forms.IntegerField(required=False, min_value=1, label="To")
        self.order_fields(["from", "to", "view"])
