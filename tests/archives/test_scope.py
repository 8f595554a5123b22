"""Every table either moves with its project or is excluded with a reason."""

from __future__ import annotations

from django.apps import apps
from django.db import models

from evolab.archives.scope import EXCLUDED, ID_REFERENCES, NOT_REFERENCES, archived_models


def test_every_evolab_model_is_archived_or_excluded() -> None:
    archived = {entry.label for entry in archived_models()}
    every = {m._meta.label for m in apps.get_models(include_auto_created=True) if m.__module__.startswith("evolab.")}
    assert every - archived - set(EXCLUDED) == set()
    assert archived & set(EXCLUDED) == set()


def test_plain_id_columns_are_declared() -> None:
    """A column like `subject_id` that names a row without a foreign key must say what it
    points at, or the import would keep an id from the other instance."""
    undeclared = []
    for entry in archived_models():
        for f in entry.model._meta.concrete_fields:
            plain_int = isinstance(f, models.IntegerField) and not isinstance(f, models.ForeignKey)
            if plain_int and f.name.endswith("_id"):
                key = (entry.label, f.name)
                if key not in ID_REFERENCES and key not in NOT_REFERENCES:
                    undeclared.append(key)
    assert undeclared == []


def test_parents_come_before_children() -> None:
    seen: set[str] = set()
    for entry in archived_models():
        assert {t for t in entry.links.values() if t != entry.label} <= seen, entry.label
        seen.add(entry.label)
