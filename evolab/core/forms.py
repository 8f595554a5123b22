from __future__ import annotations

from django import forms

from evolab.core.errors import DomainError


def add_domain_error(form: forms.Form, error: DomainError) -> None:
    """Show an action's refusal next to the field it names (or above the form)."""
    field = error.field if error.field in form.fields else None
    form.add_error(field, error.message)
