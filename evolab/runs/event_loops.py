"""A worker thread's event loop and backend connections, kept from one chunk task to the next."""

from __future__ import annotations

import asyncio
import atexit
import contextvars
import os
import threading
from collections.abc import Callable, Coroutine
from typing import Any, TypeVar

from evolab.backends.client import ConnectionPool

T = TypeVar("T")


class EventLoop:
    """A thread's event loop and backend connections, kept from one chunk to the next.

    Every chunk used to start a loop and clients of its own: dozens of new connections
    (name look-up, TCP handshake, TLS for a remote backend) per chunk, as many closed at
    its end, and the SDK's set-up again. The connections belong to the loop they were
    opened in, so both live and die together: `close()` at worker shutdown, or a new
    pair after a fork.
    """

    def __init__(self) -> None:
        self.pid = os.getpid()
        self.runner = asyncio.Runner()
        self.pool = ConnectionPool()

    def run(self, main: Callable[[ConnectionPool], Coroutine[Any, Any, T]]) -> T:
        """Run `main(pool)` to completion on this loop, in the caller's current context.

        A Runner otherwise runs every coroutine in the context it copied on first use, so
        log lines of later chunks would carry the first chunk's run and chunk ids.
        """
        return self.runner.run(main(self.pool), context=contextvars.copy_context())

    def close(self) -> None:
        try:
            self.runner.run(self.pool.aclose())
        finally:
            self.runner.close()


_loops = threading.local()
_all_loops: list[EventLoop] = []
_all_loops_lock = threading.Lock()


def event_loop() -> EventLoop:
    loop: EventLoop | None = getattr(_loops, "loop", None)
    if loop is None or loop.pid != os.getpid():  # a forked child starts its own
        loop = _loops.loop = EventLoop()
        with _all_loops_lock:
            _all_loops.append(loop)
    return loop


@atexit.register
def close_event_loops() -> None:
    """Close this process's chunk event loops and their connections: at worker shutdown,
    and at the exit of a process that ran chunks itself (`run_eval`, the tests)."""
    with _all_loops_lock:
        loops = [loop for loop in _all_loops if loop.pid == os.getpid()]
        _all_loops.clear()
    for loop in loops:
        loop.close()
    _loops.loop = None
