"""`manage.py export_suite <project> <suite>`: a suite version as JSONL (holdout included)."""

from __future__ import annotations

from argparse import ArgumentParser
from pathlib import Path
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.http import Http404

from evolab.evals.exporting import export_jsonl
from evolab.evals.models import EvalSuite
from evolab.evals.selectors import get_suite_version_or_404


class Command(BaseCommand):
    help = "Write a suite version (default: the latest) as JSONL to a file or stdout."

    def create_parser(self, prog_name: str, subcommand: str, **kwargs: Any) -> CommandParser:
        # Our --version picks a suite version; it replaces Django's --version (the program's).
        kwargs.setdefault("conflict_handler", "resolve")
        return super().create_parser(prog_name, subcommand, **kwargs)

    def add_arguments(self, parser: ArgumentParser) -> None:
        parser.add_argument("project", help="project slug")
        parser.add_argument("suite", help="suite slug")
        parser.add_argument("--version", type=int, dest="number", help="version number (default: latest)")
        parser.add_argument("--output", type=Path, help="file to write (default: stdout)")
        parser.add_argument("--without-holdout", action="store_true", help="leave the holdout cases out")

    def handle(self, *args: Any, **options: Any) -> None:
        suite = EvalSuite.objects.filter(project__slug=options["project"], slug=options["suite"]).first()
        if suite is None:
            raise CommandError(f"No suite '{options['suite']}' in project '{options['project']}'.")
        try:
            version = get_suite_version_or_404(suite, options["number"])
        except Http404 as exc:
            raise CommandError(str(exc)) from None
        lines = export_jsonl(version, include_holdout=not options["without_holdout"])
        if options["output"] is None:
            for line in lines:
                self.stdout.write(line, ending="")
            return
        with options["output"].open("w", encoding="utf-8") as out:
            out.writelines(lines)
        self.stderr.write(f"Wrote v{version.number} ({version.case_count} cases) to {options['output']}.")
