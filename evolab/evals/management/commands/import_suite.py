"""`manage.py import_suite <project> <suite> <file>`: a new suite version from JSONL or CSV.

Exits non-zero with one line per bad row on stderr when the file is rejected, so a CI
step fails visibly and nothing is created.
"""

from __future__ import annotations

import json
from argparse import ArgumentParser
from pathlib import Path
from typing import Any

from django.contrib.auth import get_user_model
from django.core.exceptions import PermissionDenied
from django.core.management.base import BaseCommand, CommandError
from django.http import Http404

from evolab.core.errors import DomainError
from evolab.evals import actions
from evolab.evals.importing import FORMATS, ImportFailed, guess_format, parse_mapping
from evolab.evals.models import EvalSuite
from evolab.projects.models import Project, Role
from evolab.projects.selectors import get_project_for


class Command(BaseCommand):
    help = "Import a JSONL or CSV file as the next version of an eval suite (created if missing)."

    def add_arguments(self, parser: ArgumentParser) -> None:
        parser.add_argument("project", help="project slug")
        parser.add_argument("suite", help="suite slug; the suite is created if it does not exist")
        parser.add_argument("file", type=Path)
        parser.add_argument("--format", choices=FORMATS, help="default: from the file extension (.csv, else jsonl)")
        parser.add_argument(
            "--map",
            action="append",
            default=[],
            metavar="DST=SRC",
            dest="mapping",
            help="case field from a source field, e.g. --map input=prompt (repeatable)",
        )
        parser.add_argument("--default-grader", metavar="JSON", help='e.g. \'{"type": "exact"}\'')
        parser.add_argument("--message", default="", help="what changed in this version")
        parser.add_argument("--mode", choices=actions.IMPORT_BASES, default="replace")
        parser.add_argument("--as-user", metavar="USERNAME", help="record the import as this user (needs maintainer)")

    def handle(self, *args: Any, **options: Any) -> None:
        path: Path = options["file"]
        if not path.is_file():
            raise CommandError(f"No such file: {path}")
        actor, project = self._actor_and_project(options["project"], options["as_user"])
        try:
            default_grader = json.loads(options["default_grader"]) if options["default_grader"] else None
        except json.JSONDecodeError as exc:
            raise CommandError(f"--default-grader is not valid JSON: {exc.msg}") from None
        try:
            suite = EvalSuite.objects.filter(project=project, slug=options["suite"]).first()
            if suite is None:
                suite = actions.suite_create(
                    actor=actor,
                    project=project,
                    slug=options["suite"],
                    name=options["suite"],
                    default_grader=default_grader,
                )
                self.stdout.write(f"Created suite {suite.slug}.")
            with path.open("rb") as stream:
                version = actions.suite_version_import(
                    actor=actor,
                    suite=suite,
                    source=stream,
                    fmt=options["format"] or guess_format(path.name),
                    mapping=parse_mapping(options["mapping"]),
                    default_grader=default_grader,
                    message=options["message"],
                    base=options["mode"],
                )
        except ImportFailed as error:
            for line in error.lines():
                self.stderr.write(f"{path}: {line}")
            raise CommandError(error.message) from None
        except DomainError as error:
            field = f"{error.field}: " if error.field else ""
            raise CommandError(f"{field}{error.message}") from None
        self.stdout.write(f"{project.slug}/{suite.slug} v{version.number}: {version.case_count} cases.")

    def _actor_and_project(self, slug: str, username: str | None) -> tuple[Any, Project]:
        if username is None:
            project = Project.objects.filter(slug=slug).first()
            if project is None:
                raise CommandError(f"No project '{slug}'.")
            return None, project
        user = get_user_model().objects.filter(username=username).first()
        if user is None:
            raise CommandError(f"No user '{username}'.")
        try:
            return user, get_project_for(user, slug, Role.MAINTAINER)
        except (Http404, PermissionDenied) as exc:
            raise CommandError(f"{username} cannot import into '{slug}': {exc}") from None
