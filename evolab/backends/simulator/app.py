"""The simulator's HTTP surface: a small ASGI app speaking the OpenAI chat protocol.

Routes: POST /v1/chat/completions (JSON or SSE), GET /v1/models, GET /evolab/stats
(counters for tests and operators), GET / (a label). Every response carries
`x-evolab-simulated: true`; completions say `system_fingerprint: "evolab-simulator"` and
a model id ending in `-sim`.
"""

from __future__ import annotations

import asyncio
import json
import math
import uuid
from collections.abc import Awaitable, Callable
from typing import Any

from evolab.backends.simulator.profiles import InvalidRequest
from evolab.backends.simulator.state import SYSTEM_FINGERPRINT, Generated, SimulatorState, now_s

Scope = dict[str, Any]
Receive = Callable[[], Awaitable[dict[str, Any]]]
Send = Callable[[dict[str, Any]], Awaitable[None]]


class SimulatedDrop(Exception):
    """Raised after a partial body so the server cuts the connection (an injected fault)."""


class SimulatorApp:
    def __init__(self, state: SimulatorState) -> None:
        self.state = state

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "lifespan":
            await _lifespan(receive, send)
            return
        if scope["type"] != "http":
            return
        self.state.counters["requests"] += 1
        body = await _read_body(receive)
        method, path = scope["method"], scope["path"].rstrip("/") or "/"
        if path == "/v1/chat/completions" and method == "POST":
            await self._chat(body, receive, send)
        elif path == "/v1/models" and method == "GET":
            await self._json(send, 200, self._models())
        elif path == "/evolab/stats" and method == "GET":
            await self._json(send, 200, self.state.stats())
        elif path == "/" and method == "GET":
            await self._json(send, 200, {"service": SYSTEM_FINGERPRINT, "simulated": True, **self._label()})
        else:
            await self._error(send, 404, f"no route for {method} {path}", "not_found_error")

    def _label(self) -> dict[str, Any]:
        return {"profile": self.state.profile.name, "model": self.state.profile.model_id}

    def _models(self) -> dict[str, Any]:
        model = {"id": self.state.profile.model_id, "object": "model", "created": 0, "owned_by": SYSTEM_FINGERPRINT}
        return {"object": "list", "data": [model]}

    async def _chat(self, raw: bytes, receive: Receive, send: Send) -> None:
        state = self.state
        state.counters["chat_requests"] += 1
        wait = state.rate_limiter.check()
        if wait is not None:
            await self._rate_limited(send, math.ceil(wait))
            return
        try:
            body = json.loads(raw or b"null")
        except json.JSONDecodeError as exc:
            await self._error(send, 400, f"request body is not JSON: {exc.msg}", "invalid_request_error")
            return
        if not isinstance(body, dict):
            await self._error(send, 400, "request body must be a JSON object", "invalid_request_error")
            return
        fault, occurrence = state.next_fault(raw)
        if fault == "500":
            await self._error(send, 500, "simulated internal error (injected fault)", "server_error")
            return
        if fault == "429":
            await self._rate_limited(send, state.config.faults.retry_after_s)
            return
        if fault == "hang":
            if await _hang(receive, state.config.faults.hang_s):
                await self._error(send, 504, "simulated hang ended (injected fault)", "server_error")
            return
        try:
            generated = state.generate(body)
        except InvalidRequest as exc:
            await self._error(send, 400, exc.message, "invalid_request_error", param=exc.param)
            return
        latency = state.latency_s(raw, occurrence)
        completion_id = f"chatcmpl-sim-{uuid.uuid4().hex[:24]}"
        if body.get("stream"):
            include_usage = bool((body.get("stream_options") or {}).get("include_usage"))
            await self._stream(send, completion_id, generated, latency, include_usage, fault)
            return
        await asyncio.sleep(latency)
        payload = {
            "id": completion_id,
            "object": "chat.completion",
            "created": now_s(),
            "model": state.profile.model_id,
            "system_fingerprint": SYSTEM_FINGERPRINT,
            "choices": [
                {"index": 0, "message": generated.message(), "finish_reason": generated.finish_reason, "logprobs": None}
            ],
            "usage": generated.usage,
        }
        await self._json(send, 200, payload, drop=fault == "drop")

    async def _stream(
        self,
        send: Send,
        completion_id: str,
        generated: Generated,
        latency: float,
        include_usage: bool,
        fault: str | None,
    ) -> None:
        chunks = [self._chunk(completion_id, delta, None) for delta in _deltas(generated)]
        chunks.append(self._chunk(completion_id, {}, generated.finish_reason))
        if include_usage:
            chunks.append({**self._chunk(completion_id, {}, None), "choices": [], "usage": generated.usage})
        status = 200
        await send({"type": "http.response.start", "status": status, "headers": self._headers("text/event-stream")})
        self.state.statuses[str(status)] += 1
        cut = max(1, len(chunks) // 2) if fault in {"drop", "truncate"} else None
        await asyncio.sleep(latency * 0.4)
        pause = latency * 0.6 / max(len(chunks), 1)
        for index, chunk in enumerate(chunks):
            if cut is not None and index == cut:
                if fault == "drop":
                    raise SimulatedDrop("stream dropped mid-SSE (injected fault)")
                await send({"type": "http.response.body", "body": b"", "more_body": False})
                return
            data = f"data: {json.dumps(chunk, ensure_ascii=False)}\n\n".encode()
            await send({"type": "http.response.body", "body": data, "more_body": True})
            if pause:
                await asyncio.sleep(pause)
        await send({"type": "http.response.body", "body": b"data: [DONE]\n\n", "more_body": False})

    def _chunk(self, completion_id: str, delta: dict[str, Any], finish_reason: str | None) -> dict[str, Any]:
        return {
            "id": completion_id,
            "object": "chat.completion.chunk",
            "created": now_s(),
            "model": self.state.profile.model_id,
            "system_fingerprint": SYSTEM_FINGERPRINT,
            "choices": [{"index": 0, "delta": delta, "finish_reason": finish_reason, "logprobs": None}],
        }

    def _headers(self, content_type: str, extra: dict[str, str] | None = None) -> list[tuple[bytes, bytes]]:
        headers = {
            "content-type": content_type,
            "x-evolab-simulated": "true",
            "x-request-id": f"sim-req-{uuid.uuid4().hex[:16]}",
            "cache-control": "no-cache",
            **(extra or {}),
        }
        return [(key.encode(), value.encode()) for key, value in headers.items()]

    async def _json(
        self, send: Send, status: int, payload: Any, *, extra: dict[str, str] | None = None, drop: bool = False
    ) -> None:
        data = json.dumps(payload, ensure_ascii=False).encode()
        headers = self._headers("application/json", {"content-length": str(len(data)), **(extra or {})})
        await send({"type": "http.response.start", "status": status, "headers": headers})
        self.state.statuses[str(status)] += 1
        if drop:
            await send({"type": "http.response.body", "body": data[: len(data) // 2], "more_body": True})
            raise SimulatedDrop("connection dropped mid-body (injected fault)")
        await send({"type": "http.response.body", "body": data, "more_body": False})

    async def _error(
        self,
        send: Send,
        status: int,
        message: str,
        kind: str,
        *,
        param: str | None = None,
        extra: dict[str, str] | None = None,
    ) -> None:
        body = {"error": {"message": message, "type": kind, "param": param, "code": None}}
        await self._json(send, status, body, extra=extra)

    async def _rate_limited(self, send: Send, retry_after_s: float) -> None:
        extra = {"retry-after": f"{retry_after_s:g}", "retry-after-ms": str(round(retry_after_s * 1000))}
        await self._error(send, 429, "simulated rate limit reached", "rate_limit_error", extra=extra)


def _deltas(generated: Generated) -> list[dict[str, Any]]:
    deltas: list[dict[str, Any]] = [{"role": "assistant", "content": ""}]
    for detail in generated.reasoning_details or []:
        for piece in _pieces(detail.get("text", "")):
            deltas.append({"reasoning_details": [{**detail, "text": piece}]})
    for piece in _pieces(generated.content or ""):
        deltas.append({"content": piece})
    for index, call in enumerate(generated.tool_calls):
        arguments = call["function"]["arguments"]
        half = len(arguments) // 2
        deltas.append(
            {
                "tool_calls": [
                    {
                        "index": index,
                        "id": call["id"],
                        "type": "function",
                        "function": {"name": call["function"]["name"], "arguments": arguments[:half]},
                    }
                ]
            }
        )
        deltas.append({"tool_calls": [{"index": index, "function": {"arguments": arguments[half:]}}]})
    return deltas


def _pieces(text: str, size: int = 24) -> list[str]:
    return [text[i : i + size] for i in range(0, len(text), size)]


async def _read_body(receive: Receive) -> bytes:
    parts = []
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            break
        parts.append(message.get("body", b""))
        if not message.get("more_body"):
            break
    return b"".join(parts)


async def _hang(receive: Receive, seconds: float) -> bool:
    """Wait `seconds` unless the client gives up first; True if it is still there."""

    async def disconnected() -> None:
        while (await receive())["type"] != "http.disconnect":
            pass

    try:
        await asyncio.wait_for(disconnected(), timeout=seconds)
    except TimeoutError:
        return True
    return False


async def _lifespan(receive: Receive, send: Send) -> None:
    while True:
        message = await receive()
        if message["type"] == "lifespan.startup":
            await send({"type": "lifespan.startup.complete"})
        elif message["type"] == "lifespan.shutdown":
            await send({"type": "lifespan.shutdown.complete"})
            return
