"""One async client for every OpenAI-compatible backend.

Retries are ours (the SDK's are switched off) so that every attempt is recorded and a
broken stream counts as a failed attempt instead of surfacing as a partial answer.

The official SDK sends every request, over its aiohttp transport (the `aiohttp` extra,
which the SDK offers for concurrency). A non-streamed request goes through the SDK's
generic `post`: the body we send is already plain JSON, so the typed path's recursive
parameter transform (about a quarter of a request's CPU) and its response models would
only cost time. Auth, headers, timeouts and the SDK's error types are the same.
"""

from __future__ import annotations

import asyncio
import functools
import json
import random
import ssl
import time
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass
from typing import Any

import aiohttp
import httpx
import httpx2
import openai

from evolab.backends.accounting import cost_usd, usage_from_payload
from evolab.backends.errors import BackendRejected, BackendRetriesExhausted
from evolab.backends.params import PreparedParams, prepare_params
from evolab.backends.rate_limit import RateLimiter
from evolab.backends.responses import AssistantTurn, StreamAssembler
from evolab.backends.retry import RetryPolicy, is_retryable_status, retry_after_seconds
from evolab.backends.types import Attempt, BackendConfig, ChatRequest, ChatResult

SIMULATED_HEADER = "x-evolab-simulated"


class _AttemptFailed(Exception):
    def __init__(
        self,
        error: str,
        *,
        retryable: bool,
        status_code: int | None = None,
        request_id: str | None = None,
        retry_after_s: float | None = None,
    ) -> None:
        super().__init__(error)
        self.error = error
        self.retryable = retryable
        self.status_code = status_code
        self.request_id = request_id
        self.retry_after_s = retry_after_s


@dataclass(frozen=True)
class _Answer:
    turn: AssistantTurn
    usage: Any
    request_id: str | None
    simulated: bool


@functools.cache
def _shared_ssl_context() -> ssl.SSLContext:
    """Building an SSL context (and loading the CA bundle) takes 25-30 ms; every client
    of the process shares one."""
    return ssl.create_default_context()


def _new_sdk_client(config: BackendConfig, http_client: Any) -> openai.AsyncOpenAI:
    return openai.AsyncOpenAI(
        # Local endpoints need no key, but the SDK insists on one.
        api_key=config.api_key or "not-needed",
        base_url=config.base_url,
        max_retries=0,
        # openai>=3 ships its own httpx fork; its Timeout type works with either client kind.
        timeout=openai.Timeout(config.total_timeout_s, connect=config.connect_timeout_s),
        # Typed for its httpx2 fork, the SDK also takes plain httpx clients (checked at runtime).
        http_client=http_client or _new_http_client(),
    )


def _new_http_client() -> httpx2.AsyncClient:
    return openai.DefaultAioHttpClient(verify=_shared_ssl_context())


class ConnectionPool:
    """HTTP connections, and the SDK clients that use them, shared by the BackendClients
    of one event loop: a worker keeps one from chunk to chunk, so a chunk neither opens
    (and closes) dozens of connections nor pays an SDK client's first-request set-up
    (it looks the platform up in a thread, once per request until one has answered).
    Use it from one event loop only, and `aclose()` it when that loop is done."""

    def __init__(self) -> None:
        self.http = _new_http_client()
        self._sdk_clients: dict[tuple[Any, ...], openai.AsyncOpenAI] = {}

    def sdk_client(self, config: BackendConfig) -> openai.AsyncOpenAI:
        key = (config.base_url, config.api_key, config.total_timeout_s, config.connect_timeout_s)
        if key not in self._sdk_clients:
            self._sdk_clients[key] = _new_sdk_client(config, self.http)
        return self._sdk_clients[key]

    async def aclose(self) -> None:
        self._sdk_clients.clear()
        await self.http.aclose()


class BackendClient:
    """Chat completions with timeouts, retries, streaming checks, usage and cost.

    `limiter` bounds requests in flight; it is held for one attempt at a time (never
    during a backoff wait). Pass a shared one to bound several clients together — the
    cross-worker limit plugs in here as any async context manager. A `pool` (or an
    `http_client`) passed in is borrowed: `aclose()` leaves it open for its owner.
    """

    def __init__(
        self,
        config: BackendConfig,
        *,
        pool: ConnectionPool | None = None,
        http_client: httpx.AsyncClient | None = None,
        limiter: AbstractAsyncContextManager[Any] | None = None,
        retry_policy: RetryPolicy | None = None,
        rng: random.Random | None = None,
    ) -> None:
        self.config = config
        self._limiter: AbstractAsyncContextManager[Any] = limiter or asyncio.Semaphore(config.max_concurrency)
        self._rate = RateLimiter(requests_per_minute=None, tokens_per_minute=None)
        self.set_rate_share(config.rate_share)
        self._owns_connections = pool is None and http_client is None
        self._retry_policy = retry_policy or RetryPolicy()
        self._rng = rng or random.Random()
        self._openai = pool.sdk_client(config) if pool is not None else _new_sdk_client(config, http_client)

    def set_rate_share(self, share: float) -> None:
        """Take this part (0-1] of the backend's rate limits, e.g. as a chunk's slots grow."""
        share = max(share, 1e-6)
        rpm, tpm = self.config.requests_per_minute, self.config.tokens_per_minute
        self._rate.set_limits(
            requests_per_minute=rpm * share if rpm else None, tokens_per_minute=tpm * share if tpm else None
        )

    async def __aenter__(self) -> BackendClient:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        if self._owns_connections:
            await self._openai.close()

    async def chat(self, request: ChatRequest, *, check_params: bool = True) -> ChatResult:
        """Send one chat request, retrying transient failures; raise BackendError when none succeeds.

        `check_params=False` skips our own family checks (the parameter probe uses it to
        ask the endpoint itself what it refuses); everything else should leave it on.
        """
        prepared = prepare_params(self.config, request.params, check=check_params)
        stream = self.config.stream if request.stream is None else request.stream
        attempts: list[Attempt] = []
        total_attempts = self.config.max_retries + 1
        for number in range(1, total_attempts + 1):
            await self._rate.acquire()
            started = time.monotonic()
            try:
                async with self._limiter:
                    async with asyncio.timeout(self.config.total_timeout_s):
                        if stream:
                            answer = await self._stream_once(request, prepared)
                        else:
                            answer = await self._call_once(request, prepared)
            # aiohttp.ClientError: what the SDK's aiohttp transport does not translate (a
            # malformed status line or header) reaches us raw; it is a broken answer too.
            except (_AttemptFailed, TimeoutError, openai.APIError, aiohttp.ClientError) as exc:
                failure = _classify(exc, self.config.total_timeout_s)
                attempts.append(
                    Attempt(
                        number=number,
                        request_id=failure.request_id,
                        status_code=failure.status_code,
                        error=failure.error,
                        duration_s=time.monotonic() - started,
                    )
                )
                if not failure.retryable:
                    raise BackendRejected(
                        f"{self.config.name}: {failure.error}",
                        attempts=attempts,
                        status_code=failure.status_code,
                    ) from exc
                if number == total_attempts:
                    raise BackendRetriesExhausted(
                        f"{self.config.name}: {total_attempts} attempts failed; last: {failure.error}",
                        attempts=attempts,
                        status_code=failure.status_code,
                    ) from exc
                await asyncio.sleep(self._retry_policy.wait_s(number, self._rng, failure.retry_after_s))
                continue
            duration = time.monotonic() - started
            attempts.append(Attempt(number, answer.request_id, 200, None, duration))
            result = self._result(answer, attempts, duration)
            self._rate.record_tokens(result.usage.input_tokens + result.usage.output_tokens)
            return result
        raise AssertionError("unreachable: the loop returns or raises")

    def _body(self, request: ChatRequest, prepared: PreparedParams) -> dict[str, Any]:
        body: dict[str, Any] = {"model": self.config.model, "messages": request.messages, **prepared.kwargs}
        if request.tools:
            body["tools"] = request.tools
        return body

    async def _call_once(self, request: ChatRequest, prepared: PreparedParams) -> _Answer:
        body = {**self._body(request, prepared), **prepared.extra_body}
        raw = await self._openai.post("/chat/completions", body=body, cast_to=httpx2.Response)
        # The JSON body is read as it is: the SDK's typed objects (built without
        # validation anyway) would only be turned back into dicts, at a cost per request.
        request_id = raw.headers.get("x-request-id")
        try:
            completion = json.loads(raw.content)
        except ValueError as exc:
            raise _AttemptFailed(
                f"response is not JSON: {exc}", retryable=True, status_code=raw.status_code, request_id=request_id
            ) from exc
        if not isinstance(completion, dict):
            completion = {}
        response_id = completion.get("id")
        request_id = request_id or response_id
        choices = completion.get("choices")
        if not choices or not isinstance(choices, list) or not isinstance(choices[0], dict):
            raise _AttemptFailed("response has no choices", retryable=True, status_code=200, request_id=request_id)
        choice = choices[0]
        message = choice.get("message")
        turn = AssistantTurn.from_message(
            message if isinstance(message, dict) else {}, choice.get("finish_reason"), response_id
        )
        usage = completion.get("usage")
        return _Answer(turn, usage if isinstance(usage, dict) else None, request_id, _is_simulated(raw.headers))

    async def _stream_once(self, request: ChatRequest, prepared: PreparedParams) -> _Answer:
        stream = await self._openai.chat.completions.create(
            **self._body(request, prepared),
            extra_body=prepared.extra_body or None,
            stream=True,
            stream_options={"include_usage": True},
        )
        headers = stream.response.headers
        assembler = StreamAssembler()
        try:
            async for chunk in stream:
                assembler.feed(chunk.model_dump(exclude_none=True))
        finally:
            await stream.close()
        request_id = headers.get("x-request-id") or assembler.response_id
        if assembler.finish_reason is None:
            # The server closed the stream cleanly but never finished the answer.
            raise _AttemptFailed(
                "stream ended without a finish_reason (truncated)",
                retryable=True,
                status_code=200,
                request_id=request_id,
            )
        return _Answer(assembler.turn(), assembler.usage, request_id, _is_simulated(headers))

    def _result(self, answer: _Answer, attempts: list[Attempt], duration: float) -> ChatResult:
        turn = answer.turn
        content, reasoning = turn.visible_and_reasoning()
        usage = usage_from_payload(answer.usage)
        return ChatResult(
            message=turn.history_message(keep_reasoning_content=self.config.family == "minimax"),
            content=content,
            reasoning=reasoning,
            tool_calls=turn.parsed_tool_calls(),
            finish_reason=turn.finish_reason,
            usage=usage,
            cost_usd=cost_usd(self.config, usage),
            latency_s=duration,
            attempts=attempts,
            simulated=answer.simulated,
        )


def _is_simulated(headers: Any) -> bool:
    return str(headers.get(SIMULATED_HEADER, "")).lower() == "true"


def _classify(exc: BaseException, total_timeout_s: float) -> _AttemptFailed:
    if isinstance(exc, _AttemptFailed):
        return exc
    causes = _causes(exc)
    if isinstance(exc, TimeoutError) or (
        isinstance(exc, openai.APITimeoutError) and any(isinstance(cause, TimeoutError) for cause in causes)
    ):
        return _AttemptFailed(f"timed out (limit {total_timeout_s:g}s)", retryable=True)
    if isinstance(exc, openai.APITimeoutError | aiohttp.ClientError):
        # The aiohttp transport reports a connection the server closed as a connect
        # timeout, and lets some protocol errors through untranslated: the first cause
        # from aiohttp says what really happened.
        raw = next((cause for cause in causes if isinstance(cause, aiohttp.ClientError)), causes[-1])
        return _AttemptFailed(f"connection failed: {type(raw).__name__}: {raw}", retryable=True)
    if isinstance(exc, openai.APIStatusError):
        status = exc.status_code
        return _AttemptFailed(
            f"HTTP {status}: {_status_message(exc)}",
            retryable=is_retryable_status(status),
            status_code=status,
            request_id=exc.request_id,
            retry_after_s=retry_after_seconds(exc.response.headers),
        )
    if isinstance(exc, openai.APIConnectionError):
        cause = exc.__cause__
        detail = f"{type(cause).__name__}: {cause}" if cause else str(exc)
        return _AttemptFailed(f"connection failed: {detail}", retryable=True)
    # Any other SDK error (e.g. an error event inside a stream) is treated as transient.
    return _AttemptFailed(f"{type(exc).__name__}: {exc}", retryable=True)


def _causes(exc: BaseException) -> list[BaseException]:
    """The exception and its chain of causes, outermost first."""
    chain = [exc]
    cause = exc.__cause__
    while cause is not None and len(chain) < 20:
        chain.append(cause)
        cause = cause.__cause__
    return chain


def _status_message(exc: openai.APIStatusError) -> str:
    body = exc.body
    if isinstance(body, dict):
        error = body.get("error", body)
        if isinstance(error, dict) and error.get("message"):
            return str(error["message"])
    return exc.message
