"""Read a project archive into this instance: checked first, then written in one
transaction, so a bad archive changes nothing.

Rows get new ids here; every foreign key and declared plain-id reference is translated
through the ids given to the rows it points at. People are matched by username; a person
this instance does not know is created inactive, with no usable password, so authorship
and memberships survive and an administrator decides who may sign in.
"""

from __future__ import annotations

import hashlib
import json
import zipfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import IO, Any

from django.contrib.auth import get_user_model
from django.db import models, transaction

from evolab.archives.format import MANIFEST, ROWS, ArchiveError, manifest_problems
from evolab.archives.scope import ID_REFERENCES, PROJECT_LABEL, ArchivedModel, archived_models
from evolab.core.actions import audit_record
from evolab.projects.models import Project

BATCH = 1000


@dataclass
class ImportReport:
    project: Project
    counts: dict[str, int]
    users_created: list[str] = field(default_factory=list)


def project_import(
    source: IO[bytes], *, slug: str | None = None, name: str | None = None, actor: Any = None
) -> ImportReport:
    try:
        archive = zipfile.ZipFile(source)
    except zipfile.BadZipFile as exc:
        raise ArchiveError(f"not a zip archive: {exc}") from exc
    with archive:
        manifest = _read_manifest(archive)
        _check_rows(archive, manifest)
        slug = slug or manifest["project"]["slug"]
        if Project.objects.filter(slug=slug).exists():
            raise ArchiveError(f"a project {slug!r} already exists here: choose another slug (--slug)")
        with transaction.atomic():
            writer = _Writer(manifest, slug=slug, name=name or manifest["project"]["name"])
            with _timestamps_kept(), archive.open(ROWS) as rows:
                writer.write_all(_lines(rows))
            project = Project.objects.get(pk=writer.new_project_id())
            audit_record(
                actor=actor,
                project_id=project.pk,
                action="project.imported",
                object_type="project",
                object_id=project.pk,
                object_label=project.slug,
                after={
                    "from": manifest["project"],
                    "exported_at": manifest["exported_at"],
                    "rows_sha256": manifest["rows_sha256"],
                },
            )
    return ImportReport(project=project, counts=writer.counts, users_created=writer.users_created)


def _read_manifest(archive: zipfile.ZipFile) -> dict[str, Any]:
    try:
        manifest = json.loads(archive.read(MANIFEST))
    except KeyError as exc:
        raise ArchiveError(f"the archive has no {MANIFEST}") from exc
    except json.JSONDecodeError as exc:
        raise ArchiveError(f"{MANIFEST} is not JSON: {exc}") from exc
    problems = manifest_problems(manifest)
    if problems:
        raise ArchiveError("; ".join(problems))
    return manifest


def _check_rows(archive: zipfile.ZipFile, manifest: dict[str, Any]) -> None:
    digest = hashlib.sha256()
    try:
        with archive.open(ROWS) as rows:
            for chunk in iter(lambda: rows.read(1 << 20), b""):
                digest.update(chunk)
    except KeyError as exc:
        raise ArchiveError(f"the archive has no {ROWS}") from exc
    except (zipfile.BadZipFile, OSError) as exc:
        raise ArchiveError(f"{ROWS} cannot be read: {exc}") from exc
    if digest.hexdigest() != manifest["rows_sha256"]:
        raise ArchiveError(
            f"checksum mismatch: {ROWS} has SHA-256 {digest.hexdigest()}, the manifest says "
            f"{manifest['rows_sha256']} — the archive is damaged or was edited"
        )


def _lines(rows: IO[bytes]) -> Iterator[tuple[int, Any]]:
    for number, line in enumerate(rows, start=1):
        yield number, json.loads(line)


@contextmanager
def _timestamps_kept() -> Iterator[None]:
    """Rows keep the times they were made: auto_now(_add) would stamp them with today."""
    saved = []
    for entry in archived_models():
        for f in entry.model._meta.concrete_fields:
            if isinstance(f, models.DateField) and (f.auto_now or f.auto_now_add):
                saved.append((f, f.auto_now, f.auto_now_add))
                f.auto_now = f.auto_now_add = False
    try:
        yield
    finally:
        for f, auto_now, auto_now_add in saved:
            f.auto_now, f.auto_now_add = auto_now, auto_now_add


class _Writer:
    def __init__(self, manifest: dict[str, Any], *, slug: str, name: str) -> None:
        self.models = {entry.label: entry for entry in archived_models()}
        self.expected = manifest["counts"]
        self.project_fields = {"slug": slug, "name": name}
        self.ids: dict[str, dict[Any, Any]] = {label: {} for label in self.models}
        self.counts: dict[str, int] = {}
        self.users_created: list[str] = []
        self.users = self._users(manifest["users"])
        # (label, new id, column, old target id) for references to rows of the same model.
        self.deferred: list[tuple[str, Any, str, Any]] = []

    def new_project_id(self) -> Any:
        (project_id,) = self.ids[PROJECT_LABEL].values()
        return project_id

    def _users(self, usernames: dict[str, str]) -> dict[int, Any]:
        user_model = get_user_model()
        field_name = user_model.USERNAME_FIELD
        found = user_model._default_manager.filter(**{f"{field_name}__in": usernames.values()})
        known = dict(found.values_list(field_name, "pk"))
        mapping = {}
        for old_id, username in usernames.items():
            if username not in known:
                user = user_model(**{field_name: username}, is_active=False)
                user.set_unusable_password()
                user.save()
                known[username] = user.pk
                self.users_created.append(username)
            mapping[int(old_id)] = known[username]
        return mapping

    def write_all(self, lines: Iterator[tuple[int, Any]]) -> None:
        for number, header in lines:
            if not isinstance(header, dict) or header.get("model") not in self.models:
                raise ArchiveError(f"{ROWS} line {number}: expected a model header, found {str(header)[:80]!r}")
            entry = self.models[header["model"]]
            self._write_model(entry, header, lines, number)
        missing = sorted(set(self.models) - set(self.counts))
        if missing:
            raise ArchiveError(f"the archive has no rows section for {', '.join(missing)}")
        for label, new_id, column, old_target in self.deferred:
            target = self._translate(label, old_target, label, column, None)
            self.models[label].model._default_manager.filter(pk=new_id).update(**{column: target})

    def _write_model(
        self, entry: ArchivedModel, header: dict[str, Any], lines: Iterator[tuple[int, Any]], at: int
    ) -> None:
        model = entry.model
        fields = {f.attname: f for f in model._meta.concrete_fields}
        columns = header["columns"]
        unknown = sorted(set(columns) - set(fields))
        if unknown or set(fields) - set(columns):
            raise ArchiveError(f"{ROWS} line {at}: columns of {entry.label} differ from this instance's")
        pk_name = model._meta.pk.attname
        batch: list[tuple[Any, models.Model, list[tuple[str, Any]]]] = []
        for _ in range(header["count"]):
            number, values = next(lines, (at, None))
            if not isinstance(values, list) or len(values) != len(columns):
                raise ArchiveError(f"{ROWS} line {number}: expected a row of {entry.label}")
            row = dict(zip(columns, values, strict=True))
            old_id = row.pop(pk_name)
            self_refs = []
            kwargs = {}
            for column, raw in row.items():
                value = fields[column].to_python(raw) if raw is not None else None
                if value is not None and column in entry.links and entry.links[column] == entry.label:
                    self_refs.append((column, value))
                    value = None
                else:
                    value = self._reference(entry, row, column, value, number)
                kwargs[column] = value
            if entry.label == PROJECT_LABEL:
                kwargs.update(self.project_fields)
            batch.append((old_id, model(**kwargs), self_refs))
            if len(batch) >= BATCH:
                self._flush(entry, batch)
                batch = []
        self._flush(entry, batch)
        count = self.counts[entry.label] = len(self.ids[entry.label])
        if count != self.expected.get(entry.label):
            raise ArchiveError(f"{entry.label}: {count} rows, the manifest says {self.expected.get(entry.label)}")

    def _reference(self, entry: ArchivedModel, row: dict[str, Any], column: str, value: Any, number: int) -> Any:
        if value is None:
            return None
        if column in entry.user_links:
            return self.users[value]
        if column in entry.links:
            return self._translate(entry.links[column], value, entry.label, column, number)
        declared = ID_REFERENCES.get((entry.label, column))
        if declared is None:
            return value
        if isinstance(declared, str):
            return self._translate(declared, value, entry.label, column, number)
        type_column, targets = declared
        return self._translate(targets[row[type_column]], value, entry.label, column, number)

    def _translate(self, target: str, old_id: Any, label: str, column: str, number: int | None) -> Any:
        try:
            return self.ids[target][old_id]
        except KeyError:
            where = f"{ROWS} line {number}: " if number else ""
            raise ArchiveError(
                f"{where}{label}.{column} points at {target} {old_id}, which the archive does not hold"
            ) from None

    def _flush(self, entry: ArchivedModel, batch: list[tuple[Any, models.Model, list[tuple[str, Any]]]]) -> None:
        if not batch:
            return
        created = entry.model._default_manager.bulk_create([obj for _, obj, _ in batch])
        for (old_id, _, self_refs), obj in zip(batch, created, strict=True):
            if obj.pk is None:
                raise ArchiveError(f"this database did not return the ids of new {entry.label} rows")
            self.ids[entry.label][old_id] = obj.pk
            self.deferred.extend((entry.label, obj.pk, column, target) for column, target in self_refs)
