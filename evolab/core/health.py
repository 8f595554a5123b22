"""Readiness checks: can this process reach its database, its broker and its channel
layer right now?

Each check runs in a thread of its own and is given `timeout_s`: a server that does not
answer (a firewall dropping packets, a wedged PostgreSQL) must make /readyz say so
quickly, not hang the probe. A check that outlives its timeout is reported as failed
and left to finish on its own (its driver's own timeouts bound it).

Failures name the component and the exception's class only: the probe is public, and an
error message can carry host names or a connection string.
"""

from __future__ import annotations

import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass

from asgiref.sync import async_to_sync
from django.db import connections


@dataclass(frozen=True)
class CheckResult:
    name: str
    ok: bool
    detail: str
    duration_ms: float


def check_database() -> str:
    connection = connections["default"]
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")
            cursor.fetchone()
    finally:
        # The check runs in a thread of its own: its connection must not outlive it.
        connection.close()
    return connection.vendor


def check_broker() -> str:
    """Connect to the Celery broker and read the default queue's depth."""
    return f"{queue_depth()} queued"


def queue_depth() -> int:
    """Messages waiting in the default task queue (Redis list length, or message files of
    the file broker); raises when the broker cannot be reached."""
    from kombu.exceptions import ChannelError

    from evolab.celery import app

    with app.connection_for_write() as conn:
        conn.ensure_connection(max_retries=1, interval_start=0, interval_step=0, timeout=2)
        try:
            # Creating the channel is what talks to Redis (it pings); `passive` never
            # creates the queue, and a queue nobody declared yet is simply empty.
            declared = conn.default_channel.queue_declare(queue=app.conf.task_default_queue, passive=True)
            return int(declared.message_count)
        except ChannelError:
            return 0


def check_channel_layer() -> str:
    """Send a message to a fresh channel and read it back through the layer."""
    from channels.layers import get_channel_layer

    layer = get_channel_layer()
    if layer is None:
        raise RuntimeError("no channel layer configured")

    async def round_trip() -> None:
        channel = await layer.new_channel(prefix="health")
        token = uuid.uuid4().hex
        await layer.send(channel, {"type": "health.check", "token": token})
        message = await layer.receive(channel)
        if message.get("token") != token:
            raise RuntimeError("the layer returned another message")

    async_to_sync(round_trip)()
    return type(layer).__name__


READINESS_CHECKS: dict[str, Callable[[], str]] = {
    "database": check_database,
    "broker": check_broker,
    "channel_layer": check_channel_layer,
}


def run_checks(checks: dict[str, Callable[[], str]], *, timeout_s: float) -> list[CheckResult]:
    """Run every check at once, each bounded by `timeout_s`."""
    # One assignment per check, so the reader never sees half an outcome.
    outcomes: dict[str, tuple[bool, str, float]] = {}
    started = time.monotonic()

    def run(name: str, check: Callable[[], str]) -> None:
        begin = time.monotonic()
        try:
            ok, detail = True, check()
        except Exception as error:
            ok, detail = False, f"failed: {type(error).__name__}"
        outcomes[name] = (ok, detail, (time.monotonic() - begin) * 1000)

    threads = {
        name: threading.Thread(target=run, args=(name, check), name=f"readyz-{name}", daemon=True)
        for name, check in checks.items()
    }
    for thread in threads.values():
        thread.start()
    results = []
    for name, thread in threads.items():
        thread.join(max(0.0, timeout_s - (time.monotonic() - started)))
        if name in outcomes:
            ok, detail, duration_ms = outcomes[name]
            results.append(CheckResult(name, ok, detail, round(duration_ms, 1)))
        else:
            results.append(CheckResult(name, False, f"no answer within {timeout_s:g} s", round(timeout_s * 1000, 1)))
    return results
