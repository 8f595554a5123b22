"""Websocket routes, mounted by `evolab.asgi`."""

from __future__ import annotations

from django.urls import path

from evolab.live.consumers import ProjectEventsConsumer

websocket_urlpatterns = [
    path("ws/p/<slug:slug>/events/", ProjectEventsConsumer.as_asgi()),
]
