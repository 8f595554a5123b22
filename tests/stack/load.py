"""`make load`: 50 reviewers browse while a 2,000-case run executes, on the native stack.

Loopback only, bounded in time. The stack is the production one, started by
`evolab.core.stack_runner` (PostgreSQL, Redis, uvicorn, two Celery workers, beat, the
simulator with a fixed latency) with the containers' production settings, so every
client sends the TLS proxy's header; `tests.stack.load_setup` writes the data. Then:

1. each reviewer gets a session of its own (one httpx client and cookie jar each;
   the sessions are made by load_setup, see there why), the owner signs in through
   the login form;
2. the owner starts a run of 2,000 cases through the run form, as the browser posts it;
   the simulator's latency and the backend's slots make it last longer than the window;
3. for `--duration` seconds each reviewer loops: fetch a page or an htmx fragment (the
   proposal page and its panels, the run page, its progress and results fragments, the
   charts overview and the compare view), read it whole, then think 2 to 6 s;
4. the run must finish with every result and no errored one.

A request is an error unless it answers 200. Latency is the time to the last byte, as
the client sees it. Figures go to var/bench/load.json and a table; the exit status is
1 when any request failed, p95 >= 500 ms, the run did not execute during the whole
window, or it did not complete cleanly.

Figures measured while other work shares the machine are pessimistic: the load
generator itself, the run's workers, PostgreSQL, Redis and the simulator all share its
cores with the web server.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import random
import re
import statistics
import sys
import time
import urllib.request
from collections import Counter, defaultdict
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from http.cookiejar import Cookie, CookieJar
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import httpx

from evolab.core.stack_runner import BASE_DIR, Stack, running_stack, services_unavailable

PASSWORD = "load-test-reviewer"  # loopback-only throwaway accounts in a database dropped afterwards
HTMX = {"HX-Request": "true"}
_PROGRESS = re.compile(r'<progress max="(\d+)" value="(\d+)"')
_STATUS = re.compile(r'badge status-(\w+)')
_ERRORS = re.compile(r"errors <strong[^>]*>(\d+)</strong>")


@dataclass(frozen=True)
class LoadOptions:
    reviewers: int = 50
    duration_s: float = 30.0
    # A reviewer reads between clicks: 2 to 6 s (4 s on average, so 50 reviewers ask
    # for about 12 pages a second; the report gives the rate actually reached).
    think_s: tuple[float, float] = (2.0, 6.0)
    run_cases: int = 2000
    # Requests in flight for the run (the backend's slots) and the simulator's fixed
    # latency: 2,000 x 0.2 s / 12 = 33 s at best, so the run outlasts the window.
    in_flight: int = 12
    latency_ms: int = 200
    proposal_cases: int = 300
    p95_target_ms: float = 500.0
    seed: int = 1
    # After the window, how long the run may take to finish before the check fails.
    finish_timeout_s: float = 40.0
    out: Path = BASE_DIR / "var" / "bench" / "load.json"


_T0 = time.monotonic()


def note(text: str) -> None:
    """A progress line on stderr, with the seconds since the start (where time goes)."""
    print(f"[load {time.monotonic() - _T0:6.1f} s] {text}", file=sys.stderr, flush=True)


@dataclass(frozen=True)
class Page:
    """A kind of request; each visit fetches one of its `urls` (e.g. a case's pair)."""

    kind: str
    urls: tuple[str, ...]
    htmx: bool
    weight: int


@dataclass
class Sample:
    kind: str
    ms: float
    status: int
    error: str = ""


@dataclass
class RunState:
    status: str
    finished: int
    total: int
    errors: int


@dataclass
class Report:
    samples: list[Sample] = field(default_factory=list)
    run_trace: list[tuple[float, int]] = field(default_factory=list)


class LoopbackCookieJar(CookieJar):
    """Sends the `Secure` cookies 127.0.0.1 sets over plain HTTP, as Chromium does for
    loopback (a potentially trustworthy origin); the standard library would send them
    over HTTPS only. The stack runs with production settings, so its session and CSRF
    cookies are Secure. (The flag is dropped as they are stored: httpx copies the jar
    into a default one for each request, so a cookie policy would not be consulted.)"""

    def make_cookies(self, response: Any, request: urllib.request.Request) -> Sequence[Cookie]:
        cookies = super().make_cookies(response, request)
        if urlsplit(request.get_full_url()).hostname in ("127.0.0.1", "localhost"):
            for cookie in cookies:
                cookie.secure = False
        return cookies


def pages_for(summary: dict[str, Any], run_number: int) -> list[Page]:
    slug = summary["project"]
    proposal = f"/p/{slug}/proposals/{summary['proposal']}/"
    run = f"/p/{slug}/runs/{run_number}/"
    compare = summary["compare"]
    pairs = tuple(proposal + f"?panel=pair&case={key}" for key in summary["case_keys"])
    pages = [
        Page("proposal page", (proposal,), False, 4),
        Page("proposal #header", (proposal + "?panel=header",), True, 1),
        Page("proposal #scores", (proposal + "?panel=scores",), True, 1),
        Page("proposal #diff", (proposal + "?panel=diff&view=split",), True, 1),
        Page("proposal #evidence", (proposal + "?panel=evidence",), True, 1),
        Page("proposal #evidence p2", (proposal + "?panel=evidence&page=2",), True, 1),
        Page("proposal #pair", pairs, True, 2),
        Page("proposal #review", (proposal + "?panel=review",), True, 1),
        Page("run page", (run,), False, 2),
        Page("run #progress", (run + "progress/",), True, 2),
        Page("run #results p2", (run + "?page=2",), True, 1),
        Page("charts", (f"/p/{slug}/charts/",), False, 1),
        Page("compare", (f"/p/{slug}/compare/?baseline={compare['baseline']}&runs={compare['run']}",), False, 1),
    ]
    return pages


async def login(client: httpx.AsyncClient, username: str, password: str) -> None:
    response = await client.get("/accounts/login/")
    response.raise_for_status()
    form = {"csrfmiddlewaretoken": client.cookies["csrftoken"], "username": username, "password": password}
    response = await client.post("/accounts/login/", data=form)
    if response.status_code != 302 or "sessionid" not in client.cookies:
        raise RuntimeError(f"{username} could not sign in: HTTP {response.status_code}")


async def start_run(owner: httpx.AsyncClient, summary: dict[str, Any]) -> int:
    """Post the run form as the browser does; the run's number from the redirect."""
    url = f"/p/{summary['project']}/runs/new/"
    await owner.get(url)
    form = {**summary["run_form"], "csrfmiddlewaretoken": owner.cookies["csrftoken"], "action": "start"}
    response = await owner.post(url, data=form)
    location = response.headers.get("location", "")
    match = re.search(r"/runs/(\d+)/$", location)
    if response.status_code != 302 or not match:
        raise RuntimeError(f"the run form did not start a run: HTTP {response.status_code}\n{response.text[:2000]}")
    return int(match.group(1))


async def run_state(owner: httpx.AsyncClient, summary: dict[str, Any], number: int) -> RunState:
    response = await owner.get(f"/p/{summary['project']}/runs/{number}/progress/", headers=HTMX)
    response.raise_for_status()
    progress, status, errors = _PROGRESS.search(response.text), _STATUS.search(response.text), _ERRORS.search(response.text)
    if not (progress and status and errors):
        raise RuntimeError(f"cannot read run {number}'s progress fragment:\n{response.text[:2000]}")
    return RunState(status.group(1), int(progress.group(2)), int(progress.group(1)), int(errors.group(1)))


async def reviewer(
    client: httpx.AsyncClient, pages: list[Page], rng: random.Random, stop_at: float, think: tuple[float, float]
) -> list[Sample]:
    weights = [page.weight for page in pages]
    samples = []
    # Start staggered over one think time, as people do not all click at once.
    await asyncio.sleep(rng.uniform(0, think[1]))
    while time.monotonic() < stop_at:
        page = rng.choices(pages, weights)[0]
        url = rng.choice(page.urls)
        started = time.perf_counter()
        try:
            response = await client.get(url, headers=HTMX if page.htmx else None)
            await response.aread()
            samples.append(Sample(page.kind, (time.perf_counter() - started) * 1000, response.status_code,
                                  "" if response.status_code == 200 else f"HTTP {response.status_code}"))  # fmt: skip
        except httpx.HTTPError as error:
            samples.append(Sample(page.kind, (time.perf_counter() - started) * 1000, 0, f"{type(error).__name__}"))
        await asyncio.sleep(rng.uniform(*think))
    return samples


def percentile(values: Sequence[float], q: float) -> float:
    ordered = sorted(values)
    if not ordered:
        return float("nan")
    rank = max(0, min(len(ordered) - 1, round(q / 100 * len(ordered) + 0.5) - 1))
    return ordered[rank]


async def drive(stack: Stack, summary: dict[str, Any], options: LoadOptions) -> dict[str, Any]:
    # Idle connections are dropped before uvicorn's 5 s keep-alive timeout closes them
    # from its side, as browsers do: reusing one the server is closing fails the request.
    limits = httpx.Limits(max_connections=4, max_keepalive_connections=4, keepalive_expiry=4.0)
    timeout = httpx.Timeout(30.0)

    def new_client() -> httpx.AsyncClient:
        # As if through the TLS proxy (production settings), with a cookie jar that sends
        # the stack's Secure cookies over loopback as a browser does.
        return httpx.AsyncClient(
            base_url=stack.web_url, limits=limits, timeout=timeout, headers=stack.client_headers,
            cookies=LoopbackCookieJar(),
        )  # fmt: skip

    owner = new_client()
    clients = [new_client() for _ in summary["sessions"]]
    try:
        await login(owner, summary["owner"], PASSWORD)
        for client, session_key in zip(clients, summary["sessions"].values(), strict=True):
            client.cookies.set(summary["session_cookie"], session_key)
            # Signed in, not sent to the login page: a redirect would count as an error later anyway.
            response = await client.get("/inbox/")
            if response.status_code != 200:
                raise RuntimeError(f"a reviewer's session does not sign in: HTTP {response.status_code}")
        note(f"{len(clients)} reviewers and the owner signed in")
        run_number = await start_run(owner, summary)
        note(f"run {run_number} started; browsing for {options.duration_s:g} s")
        pages = pages_for(summary, run_number)
        window_start = time.monotonic()
        stop_at = window_start + options.duration_s
        trace: list[tuple[float, int]] = []

        async def watch_run() -> None:
            while time.monotonic() < stop_at:
                state = await run_state(owner, summary, run_number)
                trace.append((round(time.monotonic() - window_start, 2), state.finished))
                await asyncio.sleep(1.0)

        rngs = [random.Random(options.seed * 1000 + index) for index in range(len(clients))]
        results = await asyncio.gather(
            watch_run(), *(reviewer(c, pages, rng, stop_at, options.think_s) for c, rng in zip(clients, rngs, strict=True))
        )
        at_window_end = await run_state(owner, summary, run_number)
        window_s = time.monotonic() - window_start
        note(f"window closed: run {run_number} at {at_window_end.finished}/{at_window_end.total}; waiting for it")
        deadline = time.monotonic() + options.finish_timeout_s
        final = at_window_end
        while final.status in ("queued", "running") and time.monotonic() < deadline:
            stack.check_alive()
            await asyncio.sleep(0.5)
            final = await run_state(owner, summary, run_number)
        run_s = time.monotonic() - window_start
    finally:
        await asyncio.gather(owner.aclose(), *(c.aclose() for c in clients))
    samples = [sample for batch in results[1:] for sample in batch]
    return {
        "samples": samples,
        "run": {
            "number": run_number,
            "cases": options.run_cases,
            "at_window_end": asdict(at_window_end),
            "final": asdict(final),
            "seconds_from_window_start": round(run_s, 1),
            "progress_trace": trace,
        },
        "window_s": window_s,
    }


def summarise(outcome: dict[str, Any], options: LoadOptions) -> dict[str, Any]:
    samples: list[Sample] = outcome["samples"]
    by_kind: dict[str, list[Sample]] = defaultdict(list)
    for sample in samples:
        by_kind[sample.kind].append(sample)
    ok_ms = [s.ms for s in samples]
    rows = {
        kind: {
            "requests": len(group),
            "p50_ms": round(statistics.median(s.ms for s in group), 1),
            "p95_ms": round(percentile([s.ms for s in group], 95), 1),
            "max_ms": round(max(s.ms for s in group), 1),
            "errors": sum(1 for s in group if s.error),
        }
        for kind, group in sorted(by_kind.items())
    }
    errors = Counter(f"{s.kind}: {s.error}" for s in samples if s.error)
    run = outcome["run"]
    end = run["at_window_end"]
    final = run["final"]
    checks = {
        "no_errors": not errors,
        "p95_under_target": bool(ok_ms) and percentile(ok_ms, 95) < options.p95_target_ms,
        # The run was still executing when the window closed: the pages were read under its load.
        "run_spanned_window": end["status"] in ("queued", "running") and end["finished"] < end["total"],
        "run_completed_cleanly": final["status"] == "completed" and final["finished"] == final["total"]
        and final["errors"] == 0,
    }
    return {
        "when": datetime.now(UTC).isoformat(timespec="seconds"),
        "options": {**asdict(options), "out": str(options.out)},
        "requests": len(samples),
        "requests_per_s": round(len(samples) / outcome["window_s"], 1),
        "p50_ms": round(statistics.median(ok_ms), 1) if ok_ms else None,
        "p95_ms": round(percentile(ok_ms, 95), 1) if ok_ms else None,
        "max_ms": round(max(ok_ms), 1) if ok_ms else None,
        "errors": sum(errors.values()),
        "error_kinds": dict(errors),
        "pages": rows,
        "run": run,
        "checks": checks,
        "passed": all(checks.values()),
    }


def format_table(report: dict[str, Any]) -> str:
    header = ("page", "requests", "p50 ms", "p95 ms", "max ms", "errors")
    lines = [header]
    for kind, row in report["pages"].items():
        lines.append((kind, str(row["requests"]), f"{row['p50_ms']:.0f}", f"{row['p95_ms']:.0f}",
                      f"{row['max_ms']:.0f}", str(row["errors"])))  # fmt: skip
    lines.append(("all", str(report["requests"]), f"{report['p50_ms']:.0f}", f"{report['p95_ms']:.0f}",
                  f"{report['max_ms']:.0f}", str(report["errors"])))  # fmt: skip
    widths = [max(len(line[i]) for line in lines) for i in range(len(header))]
    table = "\n".join(
        "  ".join(cell.ljust(w) if i == 0 else cell.rjust(w) for i, (cell, w) in enumerate(zip(line, widths, strict=True)))
        for line in lines
    )
    run = report["run"]
    opts = report["options"]
    return (
        f"\n{opts['reviewers']} reviewers for {opts['duration_s']:g} s (think {opts['think_s'][0]:g}-"
        f"{opts['think_s'][1]:g} s), {report['requests_per_s']} requests/s, while run {run['number']} "
        f"({run['cases']} cases) went {run['progress_trace'][0][1] if run['progress_trace'] else 0} -> "
        f"{run['at_window_end']['finished']} finished in the window and completed "
        f"{run['seconds_from_window_start']} s after it opened ({run['final']['status']}).\n"
        f"{table}\n"
        + "".join(f"  {'ok  ' if ok else 'FAIL'} {name}\n" for name, ok in report["checks"].items())
    )


def run_load(options: LoadOptions) -> dict[str, Any]:
    reason = services_unavailable()
    if reason:
        raise SystemExit(f"make load needs PostgreSQL and Redis: {reason}")
    log_dir = options.out.parent / "load-logs"
    with running_stack(
        log_dir=log_dir, workers=2, simulator_args=["--latency", str(options.latency_ms)]
    ) as stack:
        note(f"stack up at {stack.web_url}; writing the data")
        raw = stack.python(
            "-m", "tests.stack.load_setup", "--reviewers", str(options.reviewers), "--password", PASSWORD,
            "--proposal-cases", str(options.proposal_cases), "--run-cases", str(options.run_cases),
            "--in-flight", str(options.in_flight),
        )  # fmt: skip
        summary = json.loads(raw.strip().splitlines()[-1])
        note("data written")
        outcome = asyncio.run(drive(stack, summary, options))
        stack.check_alive()
    note("stack stopped")
    report = summarise(outcome, options)
    options.out.parent.mkdir(parents=True, exist_ok=True)
    options.out.write_text(json.dumps(report, indent=2) + "\n")
    return report


def main(argv: Sequence[str] | None = None) -> None:
    defaults = LoadOptions()
    parser = argparse.ArgumentParser(prog="python -m tests.stack.load", description=__doc__.split("\n\n")[0])
    parser.add_argument("--reviewers", type=int, default=defaults.reviewers)
    parser.add_argument("--duration", type=float, default=defaults.duration_s, help="seconds of browsing")
    parser.add_argument("--think", type=float, nargs=2, default=defaults.think_s, metavar=("MIN_S", "MAX_S"))
    parser.add_argument("--run-cases", type=int, default=defaults.run_cases)
    parser.add_argument("--in-flight", type=int, default=defaults.in_flight)
    parser.add_argument("--latency-ms", type=int, default=defaults.latency_ms)
    parser.add_argument("--proposal-cases", type=int, default=defaults.proposal_cases)
    parser.add_argument("--out", type=Path, default=defaults.out)
    args = parser.parse_args(argv)
    options = LoadOptions(
        reviewers=args.reviewers,
        duration_s=args.duration,
        think_s=(args.think[0], args.think[1]),
        run_cases=args.run_cases,
        in_flight=args.in_flight,
        latency_ms=args.latency_ms,
        proposal_cases=args.proposal_cases,
        out=args.out,
    )
    report = run_load(options)
    print(format_table(report))
    print(f"written: {options.out}")
    sys.exit(0 if report["passed"] else 1)


if __name__ == "__main__":
    main()
