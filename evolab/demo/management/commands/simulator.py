"""`python manage.py simulator --port N`: the built-in model simulator (simulated answers,
OpenAI-compatible), a thin wrapper over `evolab.backends.simulator.server.main`."""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandParser

from evolab.backends.simulator import server


class Command(BaseCommand):
    help = "Serve the model simulator (an OpenAI-compatible HTTP server with simulated answers)."

    def create_parser(self, prog_name: str, subcommand: str, **kwargs: Any) -> CommandParser:
        # The simulator owns its arguments; Django only passes them through.
        parser = super().create_parser(prog_name, subcommand, **kwargs)
        parser.add_argument("args", nargs="*")
        return parser

    def run_from_argv(self, argv: list[str]) -> None:
        server.main(argv[2:])
