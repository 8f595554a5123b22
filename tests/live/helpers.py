"""Helpers for socket tests: a logged-in communicator on the real ASGI app, Redis layer."""

from __future__ import annotations

import os
import uuid
from typing import Any

import redis
from channels.testing import WebsocketCommunicator
from django.contrib.auth.models import AbstractBaseUser
from django.test import Client

from evolab.asgi import application
from tests.conftest import require_service

ORIGIN = (b"origin", b"http://testserver")


def session_headers(user: AbstractBaseUser | None) -> list[tuple[bytes, bytes]]:
    """Headers of a browser that logged in as `user` (None: an anonymous visitor)."""
    if user is None:
        return [ORIGIN]
    client = Client()
    client.force_login(user)
    return [ORIGIN, (b"cookie", f"sessionid={client.cookies['sessionid'].value}".encode())]


def communicator(headers: list[tuple[bytes, bytes]], slug: str, after: int | None = None) -> WebsocketCommunicator:
    path = f"/ws/p/{slug}/events/" + (f"?after={after}" if after is not None else "")
    return WebsocketCommunicator(application, path, headers=headers)


async def receive_events(socket: WebsocketCommunicator, count: int, timeout: float = 2.0) -> list[dict[str, Any]]:
    """Frames until `count` events have arrived (failing on timeout)."""
    events: list[dict[str, Any]] = []
    while len(events) < count:
        frame = await socket.receive_json_from(timeout=timeout)
        events.extend(frame["events"])
    return events


def redis_layer_settings(settings: Any) -> None:
    """Point CHANNEL_LAYERS at Redis (a prefix of its own per test); skip, or fail in CI, without it."""
    url = os.environ.get("REDIS_URL") or "redis://127.0.0.1:6379/0"
    try:
        available = bool(redis.Redis.from_url(url, socket_connect_timeout=0.5).ping())
    except redis.RedisError:
        available = False
    require_service(available, f"Redis is not answering at {url}")
    settings.CHANNEL_LAYERS = {
        "default": {
            "BACKEND": "channels_redis.core.RedisChannelLayer",
            "CONFIG": {"hosts": [url], "prefix": f"evolab-test-{uuid.uuid4().hex[:8]}"},
        }
    }
