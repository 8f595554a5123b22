"""Which rows belong to a project, and in what order they can be written back.

A project's data is every row of every evolab model that reaches `projects.Project` by
foreign keys (a CaseResult through its run, a Vote through its proposal), found from the
app registry rather than listed by hand, so a model added later travels with its project
unless it is excluded here with a reason. References that are plain ids rather than
foreign keys are declared in ID_REFERENCES; `tests/archives` fails on an undeclared one.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass, field

from django.apps import apps
from django.conf import settings
from django.db import models

PROJECT_LABEL = "projects.Project"

# Rows that do not move with a project, and why.
EXCLUDED: dict[str, str] = {
    "core.OutboxEvent": "wake-ups for open pages, meaningless on another instance",
    "core.RateCounter": "API rate-limit counters of this instance",
    "projects.ApiToken": "secrets: people issue new tokens on the new instance",
    "runs.ResponseCacheEntry": "the response cache is shared by every project of an instance",
    "runs.BackendSlotLease": "live concurrency leases of this instance's workers",
    "runs.WorkerHeartbeat": "which workers of this instance are alive",
    "evals.ImportUpload": "uploads waiting for their preview to be confirmed; they expire",
}

# Integer columns that name a row of another model without a foreign key. The value is
# the model they point at, or (for a typed reference) the column holding the type and the
# model for each type.
ID_REFERENCES: dict[tuple[str, str], str | tuple[str, dict[str, str]]] = {
    ("core.AuditEvent", "project_id"): PROJECT_LABEL,
    (
        "leakage.LeakageCheck",
        "subject_id",
    ): (
        "subject_type",
        {
            "proposal": "evolution.Proposal",
            "guidance": "evolution.Guidance",
            "harness_version": "harnesses.HarnessVersion",
        },
    ),
}

# Integer columns ending in `_id` that are not references (checked by the tests).
NOT_REFERENCES: set[tuple[str, str]] = set()


@dataclass
class ArchivedModel:
    model: type[models.Model]
    # Filter from this model to its project's id, e.g. "run__project_id".
    project_lookup: str
    # Foreign keys to rows of the archive, by attname → target label.
    links: dict[str, str] = field(default_factory=dict)
    # Foreign keys to users (kept by username).
    user_links: list[str] = field(default_factory=list)

    @property
    def label(self) -> str:
        return self.model._meta.label


def _evolab_models() -> list[type[models.Model]]:
    # Auto-created many-to-many tables are models of their own here, so they are
    # archived like any other table of links.
    return [m for m in apps.get_models(include_auto_created=True) if m.__module__.startswith("evolab.")]


def _foreign_keys(model: type[models.Model]) -> list[tuple[str, str, str]]:
    """(name, attname, target label) of each foreign key of a model."""
    return [
        (f.name, f.attname, f.related_model._meta.label)  # type: ignore[union-attr]
        for f in model._meta.concrete_fields
        if isinstance(f, models.ForeignKey)
    ]


def _project_paths(candidates: list[type[models.Model]]) -> dict[str, str]:
    """The shortest foreign-key path from each model to Project, breadth first."""
    paths: dict[str, str] = {PROJECT_LABEL: ""}
    by_label = {m._meta.label: m for m in candidates}
    queue = deque([PROJECT_LABEL])
    referrers: dict[str, list[tuple[str, str]]] = {}
    for model in candidates:
        for name, _attname, target in _foreign_keys(model):
            referrers.setdefault(target, []).append((model._meta.label, name))
    for (label, column), pointed_at in ID_REFERENCES.items():
        if pointed_at == PROJECT_LABEL and label in by_label:
            referrers.setdefault(PROJECT_LABEL, []).append((label, column))
    while queue:
        target = queue.popleft()
        for label, name in referrers.get(target, []):
            if label in paths or label in EXCLUDED:
                continue
            prefix = paths[target]
            paths[label] = f"{name}__{prefix}" if prefix else name
            queue.append(label)
    return paths


def archived_models() -> list[ArchivedModel]:
    """Every model that moves with a project, parents before children."""
    candidates = _evolab_models()
    paths = _project_paths(candidates)
    user_label = apps.get_model(settings.AUTH_USER_MODEL)._meta.label
    chosen: dict[str, ArchivedModel] = {}
    for model in candidates:
        label = model._meta.label
        if label not in paths:
            continue
        entry = ArchivedModel(model=model, project_lookup=_project_lookup(label, paths[label]))
        for _name, attname, target in _foreign_keys(model):
            if target == user_label:
                entry.user_links.append(attname)
            else:
                entry.links[attname] = target
        chosen[label] = entry
    return _in_dependency_order(chosen)


def _project_lookup(label: str, path: str) -> str:
    if not path:
        return "pk"
    if (label, path) in ID_REFERENCES:  # already a plain id column
        return path
    return f"{path}_id"


def id_reference_targets(label: str) -> set[str]:
    """The models a model's plain-id columns may point at."""
    targets: set[str] = set()
    for (owner, _column), target in ID_REFERENCES.items():
        if owner == label:
            targets.update([target] if isinstance(target, str) else target[1].values())
    return targets


def _in_dependency_order(chosen: dict[str, ArchivedModel]) -> list[ArchivedModel]:
    """Kahn's algorithm over foreign keys between different models. A reference to the
    same model (a revision of a proposal, a reply to a comment) is written in a second
    pass, so it does not order anything."""
    waiting = {
        label: {t for t in [*entry.links.values(), *id_reference_targets(label)] if t != label and t in chosen}
        for label, entry in chosen.items()
    }
    ordered: list[ArchivedModel] = []
    ready = sorted(label for label, needs in waiting.items() if not needs)
    while ready:
        label = ready.pop(0)
        ordered.append(chosen[label])
        del waiting[label]
        for other, needs in waiting.items():
            if label in needs:
                needs.discard(label)
                if not needs and other not in ready:
                    ready.append(other)
        ready.sort()
    if waiting:
        raise RuntimeError(f"foreign keys form a cycle between {sorted(waiting)}: the archive cannot order them")
    return ordered
