"""Callbacks for "a run has completed", for apps above runs.

runs may not import the apps built on it (charts summarises completed runs for the
compare view), so those apps register a callback here from their AppConfig.ready(); it
is called with the run's id once the transaction that marked the run completed commits.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import partial

from django.db import transaction

RunCallback = Callable[[int], None]

_callbacks: list[RunCallback] = []


def on_run_completed(callback: RunCallback) -> None:
    """Call `callback(run_id)` after each run completes (registering twice changes nothing)."""
    if callback not in _callbacks:
        _callbacks.append(callback)


def run_completed(run_id: int) -> None:
    """Schedule the callbacks for after the current transaction commits."""
    for callback in _callbacks:
        transaction.on_commit(partial(callback, run_id))
