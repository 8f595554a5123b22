from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from evolab.archives.exporting import project_export
from evolab.archives.format import ArchiveError
from evolab.projects.models import Project


class Command(BaseCommand):
    help = "Write a project (versions, suites, runs, proposals, reviews, audit) to one archive file."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("project", help="the project's slug")
        parser.add_argument("archive", type=Path, help="the .zip file to write")

    def handle(self, *args: Any, project: str, archive: Path, **options: Any) -> None:
        try:
            found = Project.objects.get(slug=project)
        except Project.DoesNotExist:
            raise CommandError(f"no project {project!r}") from None
        partial = archive.with_name(archive.name + ".partial")
        try:
            with partial.open("wb") as out:
                manifest = project_export(found, out)
        except ArchiveError as exc:
            partial.unlink(missing_ok=True)
            raise CommandError(str(exc)) from exc
        partial.replace(archive)  # a crash mid-export never leaves a plausible archive behind
        rows = sum(manifest["counts"].values())
        digest = hashlib.sha256(archive.read_bytes()).hexdigest()
        self.stdout.write(f"Wrote {archive}: {rows} rows of {len(manifest['counts'])} tables.")
        self.stdout.write(f"SHA-256 {digest}  (check it on arrival: import_project --sha256 {digest})")
