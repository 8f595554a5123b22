"""`python manage.py bench`: time a run against the simulator next to a bare openai loop,
then the proposal page with 5,000 cases and the compare page with 8 runs x 5,000 cases
(`make bench`). The logic lives in `evolab.runs.benchmark`, `evolab.evolution.benchmark`
and `evolab.charts.benchmark`."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand, CommandParser

from evolab.charts.benchmark import compare_page_benchmark
from evolab.charts.benchmark_lineage import lineage_bench
from evolab.evolution.benchmark import proposal_page_benchmark
from evolab.runs.benchmark import CONFIGS, BenchOptions, run_benchmark
from evolab.runs.benchmark_scaleout import ScaleOutOptions, scale_out_report


class Command(BaseCommand):
    help = (
        "Benchmark a run of N cases against the simulator (fixed latency, K in flight) on the embedded "
        "default and on PostgreSQL + Redis, next to a bare AsyncOpenAI loop; writes var/bench/*.json."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        defaults = BenchOptions()
        parser.add_argument("--cases", type=int, default=defaults.cases)
        parser.add_argument("--latency-ms", type=float, default=defaults.latency_ms, help="fixed simulator latency")
        parser.add_argument("--in-flight", type=int, default=defaults.in_flight, help="requests in flight")
        parser.add_argument("--only", choices=CONFIGS, default=None)
        parser.add_argument("--chunk-size", type=int, default=defaults.chunk_size)
        parser.add_argument("--workers", type=int, default=defaults.workers, help="prefork worker processes")
        parser.add_argument("--repeats", type=int, default=defaults.repeats)
        parser.add_argument("--warmup-cases", type=int, default=0, help="default: one chunk per worker process")
        parser.add_argument("--pg-url", default=defaults.pg_url, help="server URL without a database name")
        parser.add_argument("--redis-url", default=defaults.redis_url, help="with a db number of its own")
        parser.add_argument("--out-dir", type=Path, default=settings.VAR_DIR / "bench")
        parser.add_argument(
            "--scale-out-cases",
            type=int,
            default=defaults.scale_out_cases,
            help="cases of the one-worker-against-two run (PostgreSQL + Redis); 0 skips it",
        )
        parser.add_argument(
            "--scale-out-only", action="store_true", help="only the scale-out run; writes scale-out.json"
        )
        parser.add_argument("--proposal-cases", type=int, default=5000, help="proposal page benchmark; 0 skips it")
        parser.add_argument("--proposal-only", action="store_true", help="only the proposal page benchmark")
        parser.add_argument("--compare-cases", type=int, default=5000, help="compare page benchmark; 0 skips it")
        parser.add_argument("--compare-only", action="store_true", help="only the compare page benchmark")
        parser.add_argument("--lineage-versions", type=int, default=200, help="lineage chart benchmark; 0 skips it")

    def handle(self, *args: Any, **options: Any) -> None:
        if options["scale_out_only"]:
            scale_out_report(
                ScaleOutOptions(
                    cases=options["scale_out_cases"], pg_url=options["pg_url"], redis_url=options["redis_url"]
                ),
                out_dir=options["out_dir"],
                out=self.stdout,
            )
            return
        if options["compare_only"]:
            compare_page_benchmark(cases=options["compare_cases"], out_dir=options["out_dir"], out=self.stdout)
            return
        if not options["proposal_only"]:
            self._run_benchmark(options)
        if options["proposal_cases"]:
            proposal_page_benchmark(cases=options["proposal_cases"], out_dir=options["out_dir"], out=self.stdout)
        if options["proposal_only"]:
            return
        if options["compare_cases"]:
            compare_page_benchmark(cases=options["compare_cases"], out_dir=options["out_dir"], out=self.stdout)
        if options["lineage_versions"]:
            lineage_bench(versions=options["lineage_versions"], out=self.stdout)

    def _run_benchmark(self, options: dict[str, Any]) -> None:
        run_benchmark(
            BenchOptions(
                cases=options["cases"],
                latency_ms=options["latency_ms"],
                in_flight=options["in_flight"],
                chunk_size=options["chunk_size"],
                workers=options["workers"],
                repeats=options["repeats"],
                only=options["only"],
                warmup_cases=options["warmup_cases"],
                pg_url=options["pg_url"],
                redis_url=options["redis_url"],
                out_dir=options["out_dir"],
                scale_out_cases=options["scale_out_cases"],
            ),
            out=self.stdout,
        )
