from __future__ import annotations

from typing import Any

from django import forms

from evolab.evals.models import Split
from evolab.labeling.actions import MAX_ITEMS, MAX_RATIONALE_CHARS, MAX_REVIEWERS_PER_ITEM, QueueSpec
from evolab.labeling.models import Scale


class QueueForm(forms.Form):
    name = forms.CharField(max_length=120)
    run_number = forms.TypedChoiceField(coerce=int, label="Results of run")
    rubric = forms.CharField(widget=forms.Textarea(attrs={"rows": 5}), help_text="What a good output does.")
    scale = forms.ChoiceField(choices=Scale.choices, initial=Scale.PASS_FAIL, widget=forms.RadioSelect)
    reviewers_per_item = forms.IntegerField(min_value=1, max_value=MAX_REVIEWERS_PER_ITEM, initial=2)
    assignees = forms.MultipleChoiceField(
        widget=forms.CheckboxSelectMultiple,
        help_text="Reviewers and above. Holdout results go to maintainers and owners only.",
    )
    show_target = forms.BooleanField(required=False, initial=True, label="Show labellers the target")
    split = forms.ChoiceField(choices=[("", "any split"), *Split.choices], required=False)
    tag = forms.CharField(max_length=100, required=False)
    score_min = forms.FloatField(min_value=0, max_value=1, required=False, label="Lowest score")
    score_max = forms.FloatField(min_value=0, max_value=1, required=False, label="Highest score")
    sample = forms.IntegerField(
        min_value=1, max_value=MAX_ITEMS, required=False, help_text="Take a random sample of this many results."
    )
    seed = forms.IntegerField(initial=0, required=False, help_text="The same seed draws the same sample.")

    def __init__(self, *args: Any, runs: list[tuple[int, str]], people: list[tuple[str, str]], **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fields["run_number"].choices = runs  # type: ignore[attr-defined]
        self.fields["assignees"].choices = people  # type: ignore[attr-defined]

    def spec(self) -> QueueSpec:
        data = self.cleaned_data
        return QueueSpec(
            name=data["name"],
            run_number=data["run_number"],
            rubric=data["rubric"],
            assignees=list(data["assignees"]),
            scale=data["scale"],
            reviewers_per_item=data["reviewers_per_item"],
            show_target=data["show_target"],
            split=data["split"] or "",
            tag=(data["tag"] or "").strip(),
            score_min=data["score_min"],
            score_max=data["score_max"],
            sample=data["sample"],
            seed=data["seed"] or 0,
        )


class LabelForm(forms.Form):
    """Pass/fail or a score, by the queue's scale, and a rationale."""

    verdict = forms.ChoiceField(
        choices=[("pass", "Pass"), ("fail", "Fail")], widget=forms.RadioSelect, required=False, label="Verdict"
    )
    score = forms.FloatField(
        min_value=0, max_value=1, required=False, widget=forms.NumberInput(attrs={"step": "0.05"})
    )
    rationale = forms.CharField(
        widget=forms.Textarea(attrs={"rows": 3}), required=False, max_length=MAX_RATIONALE_CHARS, label="Rationale"
    )

    def __init__(self, *args: Any, scale: str, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.scale = scale
        if scale == Scale.PASS_FAIL:
            del self.fields["score"]
            self.fields["verdict"].required = True
        else:
            del self.fields["verdict"]
            self.fields["score"].required = True
            self.fields["score"].widget.attrs["autofocus"] = True

    def passed(self) -> bool | None:
        verdict = self.cleaned_data.get("verdict")
        return None if not verdict else verdict == "pass"
