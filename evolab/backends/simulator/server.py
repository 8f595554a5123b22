"""Running the simulator: `serve()` (blocking) and the `main(argv)` command line."""

from __future__ import annotations

import argparse
import logging
import socket
from collections.abc import Sequence

import uvicorn

from evolab.backends.simulator.app import SimulatedDrop, SimulatorApp
from evolab.backends.simulator.faults import FaultConfig, LatencyConfig
from evolab.backends.simulator.profiles import PROFILES
from evolab.backends.simulator.state import SimulatorConfig, SimulatorState

DEFAULT_PORT = 8765


class _HideInjectedDrops(logging.Filter):
    """uvicorn logs an application error when we cut a connection on purpose; that is noise."""

    def filter(self, record: logging.LogRecord) -> bool:
        return not (record.exc_info and isinstance(record.exc_info[1], SimulatedDrop))


def build_server(
    config: SimulatorConfig, *, host: str, port: int, log_level: str = "info"
) -> tuple[uvicorn.Server, SimulatorState]:
    state = SimulatorState(config)
    uvicorn_config = uvicorn.Config(
        SimulatorApp(state),
        host=host,
        port=port,
        log_level=log_level,
        access_log=log_level == "debug",
        lifespan="off",
        # Hung requests must not keep a stopping server (and a test run) waiting.
        timeout_graceful_shutdown=1,
    )
    logging.getLogger("uvicorn.error").addFilter(_HideInjectedDrops())
    return uvicorn.Server(uvicorn_config), state


def serve(
    host: str = "127.0.0.1",
    port: int = DEFAULT_PORT,
    *,
    profile: str = "minimax-m2.7",
    latency: LatencyConfig | str = "0",
    rpm: int | None = None,
    faults: FaultConfig | str = "",
    seed: int = 0,
    log_level: str = "info",
) -> None:
    """Serve the simulator until interrupted (blocking)."""
    config = SimulatorConfig(
        profile=profile,
        latency=LatencyConfig.parse(latency) if isinstance(latency, str) else latency,
        rpm=rpm,
        faults=FaultConfig.parse(faults) if isinstance(faults, str) else faults,
        seed=seed,
    )
    server, _ = build_server(config, host=host, port=port, log_level=log_level)
    server.run()


def free_loopback_socket() -> socket.socket:
    """A listening-ready socket on a free 127.0.0.1 port (bound here, so no race for the port)."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", 0))
    return sock


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="evolab-simulator",
        description="Serve a SIMULATED OpenAI-compatible model backend (no real model behind it).",
    )
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--port", type=int, default=DEFAULT_PORT)
    p.add_argument("--profile", choices=sorted(PROFILES), default="minimax-m2.7")
    p.add_argument("--latency", default="0", help="MEDIAN_MS[,P95_MS] of a lognormal latency; 0 for none")
    p.add_argument("--rpm", type=int, default=None, help="requests per minute before answering 429")
    p.add_argument("--faults", default="", help='fault rates, e.g. "500=0.05,hang=0.01,drop=0.05,truncate=0.02"')
    p.add_argument("--hang-s", type=float, default=30.0, help="how long an injected hang lasts")
    p.add_argument("--retry-after-s", type=float, default=1.0, help="Retry-After of an injected 429")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--log-level", default="info", choices=["critical", "error", "warning", "info", "debug"])
    return p


def main(argv: Sequence[str] | None = None) -> None:
    args = parser().parse_args(argv)
    faults = FaultConfig.parse(args.faults, hang_s=args.hang_s, retry_after_s=args.retry_after_s)
    print(
        f"evolab simulator — SIMULATED backend, profile {args.profile}, base URL http://{args.host}:{args.port}/v1",
        flush=True,
    )
    serve(
        args.host,
        args.port,
        profile=args.profile,
        latency=LatencyConfig.parse(args.latency),
        rpm=args.rpm,
        faults=faults,
        seed=args.seed,
        log_level=args.log_level,
    )


if __name__ == "__main__":
    main()
