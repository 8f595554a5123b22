"""Every state change of eval suites: creating a suite and importing a new version.

Callers (views, API operations, commands) have already checked the actor's role.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import IO, Any, Literal

from django.contrib.auth.models import User
from django.db import IntegrityError, transaction
from django.db.models import Max
from django.utils.text import slugify

from evolab.core.actions import audit_record
from evolab.core.errors import Conflict, ValidationFailed
from evolab.engine.graders import GraderConfigError, validate_grader_config
from evolab.evals.importing import CaseRow, read_cases
from evolab.evals.models import EvalCase, EvalCaseTag, EvalSuite, SuiteVersion
from evolab.evals.splits import assign_split
from evolab.projects.models import Project

ImportBase = Literal["replace", "merge"]
IMPORT_BASES: tuple[ImportBase, ...] = ("replace", "merge")
BULK_BATCH = 500


def check_grader(config: Any, *, field: str = "default_grader") -> dict[str, Any]:
    """A grader config given as a default: {} (none) or a valid config; else ValidationFailed."""
    if config in (None, ""):
        return {}
    if not isinstance(config, dict):
        raise ValidationFailed("A grader is a JSON object.", field=field)
    if config:
        try:
            validate_grader_config(config)
        except GraderConfigError as exc:
            raise ValidationFailed(f"Invalid grader: {exc}", field=field) from None
    return config


def suite_create(
    *,
    actor: User | None,
    project: Project,
    slug: str,
    name: str,
    description: str = "",
    default_grader: dict[str, Any] | None = None,
) -> EvalSuite:
    name = name.strip()
    slug = slugify(slug or name)[:50]
    if not name:
        raise ValidationFailed("A suite needs a name.", field="name")
    if not slug:
        raise ValidationFailed("A suite needs a slug made of letters or digits.", field="slug")
    grader = check_grader(default_grader)
    try:
        with transaction.atomic():
            suite = EvalSuite.objects.create(
                project=project, slug=slug, name=name, description=description, default_grader=grader
            )
            audit_record(
                actor=actor,
                project_id=project.pk,
                action="suite.create",
                object_type="suite",
                object_id=suite.pk,
                object_label=suite.slug,
                after={"name": suite.name, "default_grader": grader},
            )
    except IntegrityError:
        raise Conflict(f"A suite with the slug '{slug}' exists.", field="slug") from None
    return suite


def case_search_text(case_input: str | list[dict[str, str]], target: str) -> str:
    """Input and target as plain text, for substring search (JSON text would escape it)."""
    text = case_input if isinstance(case_input, str) else "\n".join(m["content"] for m in case_input)
    return f"{text}\n{target}"


def suite_version_import(
    *,
    actor: User | None,
    suite: EvalSuite,
    source: bytes | IO[bytes],
    fmt: str,
    mapping: Mapping[str, str] | None = None,
    default_grader: dict[str, Any] | None = None,
    message: str = "",
    base: ImportBase = "replace",
) -> SuiteVersion:
    """Create the next version of `suite` from a JSONL or CSV file, all or nothing.

    `base="replace"`: the version holds exactly the file's cases. `base="merge"`: it
    starts from the latest version's cases and adds or replaces them by key.
    A `default_grader` becomes the suite's default and is copied onto the version.
    A row without a split keeps the split its key had in the latest version (so a
    holdout case never drifts out of holdout by omission); a new key gets
    `assign_split(key)`. Raises ImportFailed (every bad row) before anything is written.
    """
    if base not in IMPORT_BASES:
        raise ValidationFailed("Choose replace or merge.", field="mode")
    grader = check_grader(default_grader) or suite.default_grader
    rows = read_cases(source, fmt=fmt, mapping=mapping, default_grader=grader)
    with transaction.atomic():
        latest = suite_head_locked(suite)
        previous = cases_by_key(latest)
        cases = _next_cases(rows, previous, base)
        added = sum(1 for key in cases if key not in previous)
        return suite_version_create(
            actor=actor,
            suite=suite,
            cases=cases,
            default_grader=grader,
            message=message,
            audit={
                "base": base,
                "format": fmt,
                "added": added,
                "kept_or_replaced": len(cases) - added,
                "removed": sum(1 for key in previous if key not in cases),
            },
        )


def suite_head_locked(suite: EvalSuite) -> SuiteVersion | None:
    """The suite's latest version, read after locking the suite row, so that nobody else
    creates a version until this transaction ends (call inside `transaction.atomic`;
    on SQLite, IMMEDIATE transactions already serialise writers)."""
    EvalSuite.objects.select_for_update().filter(pk=suite.pk).first()
    return SuiteVersion.objects.filter(suite=suite).order_by("-number").first()


def suite_version_create(
    *,
    actor: User | None,
    suite: EvalSuite,
    cases: dict[str, dict[str, Any]],
    default_grader: dict[str, Any],
    message: str,
    audit: dict[str, Any],
) -> SuiteVersion:
    """Write the next version of `suite` holding exactly `cases` (key → validated case
    fields), with `default_grader` as the version's and the suite's default; audited as
    "suite.version.create" with `audit` added. The one write path of suite versions:
    imports and applied change requests both end here. Call inside a transaction after
    `suite_head_locked`."""
    number = (SuiteVersion.objects.filter(suite=suite).aggregate(n=Max("number"))["n"] or 0) + 1
    try:
        with transaction.atomic():
            version = SuiteVersion.objects.create(
                suite=suite,
                number=number,
                message=message.strip()[:500],
                default_grader=default_grader,
                created_by=actor,
                case_count=len(cases),
            )
    except IntegrityError:
        raise Conflict("Another change created this version number first; try again.") from None
    _write_cases(version, cases)
    if default_grader != suite.default_grader:
        EvalSuite.objects.filter(pk=suite.pk).update(default_grader=default_grader)
        suite.default_grader = default_grader
    audit_record(
        actor=actor,
        project_id=suite.project_id,
        action="suite.version.create",
        object_type="suite_version",
        object_id=version.pk,
        object_label=f"{suite.slug} v{number}",
        after={"suite": suite.slug, "number": number, "cases": len(cases), "default_grader": default_grader, **audit},
    )
    return version


def cases_by_key(version: SuiteVersion | None) -> dict[str, dict[str, Any]]:
    if version is None:
        return {}
    """The version's cases as plain dicts of their fields, by key, in file order."""
    fields = ("key", "input", "target", "grader", "tags", "split", "metadata")
    return {row["key"]: row for row in EvalCase.objects.filter(version=version).order_by("id").values(*fields)}


def _next_cases(
    rows: list[CaseRow], previous: dict[str, dict[str, Any]], base: ImportBase
) -> dict[str, dict[str, Any]]:
    cases: dict[str, dict[str, Any]] = dict(previous) if base == "merge" else {}
    for row in rows:
        earlier = previous.get(row.key)
        split = row.split or (earlier["split"] if earlier else assign_split(row.key))
        cases[row.key] = {
            "key": row.key,
            "input": row.input,
            "target": row.target,
            "grader": row.grader,
            "tags": row.tags,
            "split": split,
            "metadata": row.metadata,
        }
    return cases


def _write_cases(version: SuiteVersion, cases: dict[str, dict[str, Any]]) -> None:
    objects = [
        EvalCase(version=version, search_text=case_search_text(case["input"], case["target"]), **case)
        for case in cases.values()
    ]
    created = EvalCase.objects.bulk_create(objects, batch_size=BULK_BATCH)
    tags = [EvalCaseTag(case=case, tag=tag) for case in created for tag in case.tags]
    EvalCaseTag.objects.bulk_create(tags, batch_size=BULK_BATCH)
