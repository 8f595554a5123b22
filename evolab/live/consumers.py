"""The project events socket: authenticate, subscribe, relay (nothing else lives here).

A member connects to `ws/p/<slug>/events/?after=<id>` and receives every outbox event of
the project with a larger id, then new ones as they are committed, in frames of
`{"events": [{"id", "type", "object_type", "object_id", "version", "data"}, ...]}`.
The client may also send `{"after": <id>}` to restart from there. New events are picked
up when the channel layer delivers an `outbox.wake` (sent after commit when the layer is
Redis) and, in any case, by polling the outbox every `EVOLAB_LIVE_POLL_S` seconds: the
embedded default has no layer that crosses processes. Membership is checked again every
`EVOLAB_LIVE_RECHECK_S` seconds, and at once whenever a `membership.changed` event of the
project comes through the outbox (a member removed or given another role): a socket whose
user left the project is closed with 4403 before anything else is sent. That event rides
the same path as every other (outbox poll, Redis wake-up), so revocation reaches sockets
on every worker process with either channel layer.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from typing import Any
from urllib.parse import parse_qs

from channels.db import database_sync_to_async
from channels.generic.websocket import AsyncJsonWebsocketConsumer
from django.conf import settings
from django.contrib.auth.models import AnonymousUser, User
from django.core.exceptions import PermissionDenied
from django.http import Http404

from evolab.core.models import OutboxEvent
from evolab.core.selectors import latest_event_id
from evolab.live.relay import OutboxCursor
from evolab.projects.actions import MEMBERSHIP_CHANGED_EVENT
from evolab.projects.selectors import get_project_for

logger = logging.getLogger(__name__)

# Close codes: 4403 tells the client not to retry (the page should be reloaded);
# 1011 is a server error, after which it reconnects with the last id it saw.
CLOSE_FORBIDDEN = 4403
CLOSE_SERVER_ERROR = 1011
BATCH = 500


@database_sync_to_async
def _member_project_id(user: User | AnonymousUser | None, slug: str) -> int | None:
    """The project id if `user` is a member of project `slug`, else None."""
    if user is None:
        return None
    try:
        return get_project_for(user, slug).pk
    except (Http404, PermissionDenied):
        return None


def _after_from_query(query_string: bytes) -> int | None:
    values = parse_qs(query_string.decode("latin1")).get("after", [])
    return _as_id(values[0]) if values else None


def _as_id(value: object) -> int | None:
    """A non-negative id from a JSON number or a query-string digit string, else None."""
    if isinstance(value, str) and value.isdigit():
        return int(value)
    if isinstance(value, int) and not isinstance(value, bool) and value >= 0:
        return value
    return None


class _MembershipEnded(Exception):
    """The socket's user is no longer a member of its project."""


class ProjectEventsConsumer(AsyncJsonWebsocketConsumer):
    project_id: int | None = None
    _relay_task: asyncio.Task[None] | None = None

    async def connect(self) -> None:
        slug = self.scope["url_route"]["kwargs"]["slug"]
        project_id = await _member_project_id(self.scope.get("user"), slug)
        if project_id is None:
            # Refused before accept: the handshake fails (HTTP 403) and nothing is sent.
            await self.close(code=CLOSE_FORBIDDEN)
            return
        self.project_id = project_id
        self.slug = slug
        # Join the group before reading the outbox, so no wake-up falls in between.
        if self.channel_layer is not None:
            await self.channel_layer.group_add(OutboxEvent.group_name(project_id), self.channel_name)
        after = _after_from_query(self.scope.get("query_string", b""))
        if after is None:
            after = await database_sync_to_async(latest_event_id)(project_id)
        self.cursor = OutboxCursor(after, settle_s=float(getattr(settings, "EVOLAB_LIVE_SETTLE_S", 10.0)))
        self._restart_after: int | None = None
        self._wake = asyncio.Event()
        await self.accept()
        self._relay_task = asyncio.create_task(self._relay())

    async def disconnect(self, code: int) -> None:
        if self._relay_task is not None:
            self._relay_task.cancel()
        if self.project_id is not None and self.channel_layer is not None:
            await self.channel_layer.group_discard(OutboxEvent.group_name(self.project_id), self.channel_name)

    async def receive_json(self, content: Any, **kwargs: Any) -> None:
        after = _as_id(content.get("after")) if isinstance(content, dict) else None
        if after is not None:
            self._restart_after = after
            self._wake.set()

    async def outbox_wake(self, message: dict[str, Any]) -> None:
        self._wake.set()

    async def _relay(self) -> None:
        poll_s = float(getattr(settings, "EVOLAB_LIVE_POLL_S", 1.0))
        recheck_s = float(getattr(settings, "EVOLAB_LIVE_RECHECK_S", 15.0))
        next_check = time.monotonic() + recheck_s
        try:
            while True:
                if time.monotonic() >= next_check:
                    await self._check_membership()
                    next_check = time.monotonic() + recheck_s
                if await self._send_pending():
                    continue  # a full batch: more are waiting, send them before sleeping
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._wake.wait(), timeout=poll_s)
                self._wake.clear()
        except _MembershipEnded:
            await self.close(code=CLOSE_FORBIDDEN)
        except OSError as gone:
            # The browser went away while a frame was on its way (uvicorn raises its
            # ClientDisconnected, an OSError): the socket is over, nothing failed.
            logger.info("live socket of project %s closed by its client mid-send: %r", self.project_id, gone)
        except Exception:
            logger.exception("live relay failed for project %s", self.project_id)
            await self.close(code=CLOSE_SERVER_ERROR)

    async def _check_membership(self) -> None:
        if await _member_project_id(self.scope.get("user"), self.slug) != self.project_id:
            raise _MembershipEnded

    async def _send_pending(self) -> bool:
        """Send what is new in one frame; True if a batch came back full."""
        assert self.project_id is not None
        if self._restart_after is not None:
            self.cursor.reset(self._restart_after)
            self._restart_after = None
        late, new = await database_sync_to_async(self.cursor.query(self.project_id, BATCH).run)()
        if any(event.type == MEMBERSHIP_CHANGED_EVENT for event in [*late, *new]):
            # Checked before sending: nothing of this batch reaches someone just removed.
            await self._check_membership()
        events = self.cursor.accept([*late, *new])
        if events:
            await self.send_json({"events": [event.as_message() for event in events]})
        return len(new) == BATCH or len(late) == BATCH
