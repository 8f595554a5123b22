"""Settings of the worker processes that the reliability tests start.

They are the application's own settings (database from DATABASE_URL, chunk settings
from EVOLAB_*), except for the broker: each test gives its workers a private broker (a
folder of its own, or a Redis key prefix with a short visibility timeout so redelivery
happens within the test), and the test process is pointed at the same one.
"""

from __future__ import annotations

import json
import os
import signal
import threading
import time

from evolab.settings import *  # noqa: F403

CELERY_BROKER_URL = os.environ["EVOLAB_TEST_BROKER_URL"]
CELERY_BROKER_TRANSPORT_OPTIONS = json.loads(os.environ["EVOLAB_TEST_BROKER_OPTIONS"])


def _die_with_the_test_process(pid: int) -> None:
    """A test process that is itself killed cannot clean up; its workers must not linger."""
    while True:
        time.sleep(1)
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            os.killpg(0, signal.SIGKILL)


# Settings are imported once in the worker's main process, before the pool forks (a fork
# keeps only the forking thread, so the children never run this; the group kill takes them).
threading.Thread(
    target=_die_with_the_test_process, args=(int(os.environ["EVOLAB_TEST_PARENT_PID"]),), daemon=True
).start()
