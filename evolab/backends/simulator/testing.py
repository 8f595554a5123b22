"""Start and stop a simulator inside the current process, for tests (pytest or Django).

    with running_simulator(profile="minimax-m2.7") as sim:
        client = BackendClient(sim.backend_config())
        ...
        sim.configure(faults=FaultConfig(script=("429", "ok"), retry_after_s=0.2))
        assert sim.stats()["chat_requests"] == 2

The server runs in a daemon thread with its own event loop on a free 127.0.0.1 port.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, replace
from typing import Any

import uvicorn

from evolab.backends.simulator.server import build_server, free_loopback_socket
from evolab.backends.simulator.state import SimulatorConfig, SimulatorState
from evolab.backends.types import BackendConfig

_START_TIMEOUT_S = 10.0


@dataclass
class RunningSimulator:
    host: str
    port: int
    state: SimulatorState
    server: uvicorn.Server

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    @property
    def base_url(self) -> str:
        return f"{self.url}/v1"

    def stats(self) -> dict[str, Any]:
        return self.state.stats()

    def configure(self, **changes: Any) -> None:
        self.state.configure(**changes)

    def reset(self) -> None:
        """Forget counters and seen requests; keep the configuration."""
        self.state.reset()

    def backend_config(self, **overrides: Any) -> BackendConfig:
        """A BackendConfig pointing at this simulator, with short timeouts for tests."""
        profile = self.state.profile
        config = BackendConfig(
            name=f"simulator ({profile.name})",
            kind="simulator",
            base_url=self.base_url,
            model=profile.model_id,
            family="minimax" if profile.name.startswith("minimax") else "generic",
            connect_timeout_s=2.0,
            total_timeout_s=10.0,
        )
        return replace(config, **overrides)


@contextmanager
def running_simulator(config: SimulatorConfig | None = None, **options: Any) -> Iterator[RunningSimulator]:
    """Run a simulator for the duration of the block; `options` are SimulatorConfig fields."""
    config = config or SimulatorConfig(**options)
    sock = free_loopback_socket()
    host, port = sock.getsockname()
    server, state = build_server(config, host=host, port=port, log_level="warning")
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, name="evolab-simulator", daemon=True)
    thread.start()
    deadline = time.monotonic() + _START_TIMEOUT_S
    while not server.started:
        if not thread.is_alive() or time.monotonic() > deadline:
            sock.close()
            raise RuntimeError("the simulator did not start")
        time.sleep(0.01)
    try:
        yield RunningSimulator(host, port, state, server)
    finally:
        server.should_exit = True
        thread.join(timeout=5.0)
        sock.close()
