from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from evolab.archives.format import ArchiveError
from evolab.archives.importing import project_import


class Command(BaseCommand):
    help = "Read a project archive made by export_project; all of it is written, or nothing."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("archive", type=Path)
        parser.add_argument("--slug", help="the project's slug here (default: the one in the archive)")
        parser.add_argument("--name", help="the project's name here (default: the one in the archive)")
        parser.add_argument("--sha256", help="refuse the file unless its SHA-256 is this (printed by export_project)")

    def handle(self, *args: Any, archive: Path, slug: str | None, name: str | None, sha256: str | None,
               **options: Any) -> None:
        if not archive.is_file():
            raise CommandError(f"no file {archive}")
        if sha256:
            actual = hashlib.sha256(archive.read_bytes()).hexdigest()
            if actual != sha256.lower():
                raise CommandError(f"{archive} has SHA-256 {actual}, not {sha256}: it was damaged or replaced")
        try:
            with archive.open("rb") as source:
                report = project_import(source, slug=slug, name=name)
        except ArchiveError as exc:
            raise CommandError(f"nothing was imported: {exc}") from exc
        rows = sum(report.counts.values())
        self.stdout.write(f"Imported {report.project.slug}: {rows} rows of {len(report.counts)} tables.")
        if report.users_created:
            self.stdout.write(
                f"{len(report.users_created)} people were new here and were created inactive, without a "
                f"password: {', '.join(sorted(report.users_created))}. Activate them and have them set one."
            )
