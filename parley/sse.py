"""Subscriptions over HTTP: GraphQL over Server-Sent Events (the graphql-sse protocol, distinct
connections mode) and Apollo's multipart subscriptions, for clients and networks without WebSockets.

Strawberry encodes both transports; this module adds what a socket has and a bare stream lacks: a
bound on the streams one caller holds open, and the end of the stream when its session ends."""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import AsyncGenerator, Callable
from typing import Any

from cross_web import HTTPException
from strawberry.http.streaming import HTTPStreamTransport
from strawberry.subscriptions import GRAPHQL_SSE_PROTOCOL, MULTIPART_SUBSCRIPTION_PROTOCOL

from domain.accounts import tokens
from domain.errors import ErrorCode, ParleyError
from domain.events.channels import SESSIONS_REVOKED_CHANNEL
from infra.logs import get_logger
from resolvers.context import Context

log = get_logger("parley.sse")

HTTP_STREAM_PROTOCOLS = (GRAPHQL_SSE_PROTOCOL, MULTIPART_SUBSCRIPTION_PROTOCOL)
SUBSCRIPTION_OVER_JSON = (
    "A subscription cannot be answered with a single JSON response: subscribe over WebSocket "
    "(graphql-transport-ws), Server-Sent Events (Accept: text/event-stream) or multipart HTTP "
    '(Accept: multipart/mixed;subscriptionSpec="1.0")'
)
CHECK_SECONDS = 30.0


class StreamSlots:
    """Concurrent HTTP streams per caller in this process: every open stream holds one slot."""

    def __init__(self) -> None:
        self._open: dict[str, int] = {}

    def acquire(self, key: str, limit: int) -> Callable[[], None]:
        """A slot for `key`, or 429 when it already holds `limit` streams; returns its release."""
        held = self._open.get(key, 0)
        if limit > 0 and held >= limit:
            raise HTTPException(429, f"Too many open subscriptions over HTTP (at most {limit}); close one first")
        self._open[key] = held + 1
        released = False

        def release() -> None:
            nonlocal released
            if released:
                return
            released = True
            left = self._open.get(key, 1) - 1
            if left > 0:
                self._open[key] = left
            else:
                self._open.pop(key, None)

        return release

    def held(self, key: str) -> int:
        return self._open.get(key, 0)


async def _still_valid(ctx: Context) -> bool:
    # A context of its own: the stream's context is busy with the subscription's reads.
    probe = Context(services=ctx.services, request=ctx.request, credential=ctx.credential, meta=ctx.meta)
    try:
        await probe.actor()
        return True
    except ParleyError:
        return False
    finally:
        await probe.close()


async def session_end(ctx: Context) -> str:
    """Wait until the stream's session ends — revoked (logout, password change, membership removed,
    announced on the broadcast) or its access token expired — and say why. Never returns for an
    anonymous caller or a credential without a session."""
    actor = await ctx.actor()
    if actor.session_id is None and actor.api_token_id is None:
        await asyncio.Event().wait()
    loop = asyncio.get_running_loop()
    deadline = None
    token = ctx.credential.token or ""
    if not token.startswith((tokens.PREFIX_PERSONAL, tokens.PREFIX_BOT)) and actor.session_id is not None:
        try:
            claims = tokens.decode_access_token(ctx.settings.secret_key, token)
            from db.base import utcnow

            deadline = loop.time() + max((claims.expires_at - utcnow()).total_seconds(), 0)
        except tokens.InvalidToken:
            return "access token expired"
    async with ctx.broadcast.subscribe(SESSIONS_REVOKED_CHANNEL) as sub:
        while True:
            timeout = CHECK_SECONDS
            if deadline is not None:
                timeout = min(timeout, deadline - loop.time())
                if timeout <= 0:
                    return "access token expired"
            try:
                event = await asyncio.wait_for(sub.get(), timeout)
            except TimeoutError:
                if not await _still_valid(ctx):
                    return "session ended"
                continue
            ended = json.loads(event.message)
            if not isinstance(ended, list):
                continue  # a resync marker after a Redis reconnect
            if (actor.session_id and actor.session_id in ended) or (
                f"membership:{actor.account_id}:{actor.user_id}" in ended
            ):
                return "session ended"


def _ended_chunk(transport: HTTPStreamTransport, reason: str, encode: Callable[[object], str]) -> str:
    error = {
        "message": f"Subscription closed: {reason}",
        "extensions": {
            "code": ErrorCode.UNAUTHENTICATED.value,
            "status": 401,
            "name": "UnauthorizedError",
            "details": {"reason": reason},
        },
    }
    return transport.encode_next({"errors": [error]}, encode) + transport.encode_complete()


def guard_stream(
    stream: Callable[[], AsyncGenerator[str, None]],
    ctx: Context | None,
    transport: HTTPStreamTransport | None,
    encode: Callable[[object], str],
) -> Callable[[], AsyncGenerator[str, None]]:
    """The transport's stream, ended with an UNAUTHENTICATED error and `complete` when the session
    ends (the subscription's own generator is closed with it)."""

    async def guarded() -> AsyncGenerator[str, None]:
        watcher: asyncio.Task | None = None
        step: asyncio.Future[Any] | None = None
        inner = stream()
        try:
            if ctx is not None and transport is not None and ctx.credential.token:
                try:
                    actor = await ctx.actor()  # cached: the subscription's resolver reuses it
                except ParleyError:
                    actor = None  # the resolver reports it as the stream's error
                await ctx.release()
                if actor is not None and (actor.session_id is not None or actor.api_token_id is not None):
                    watcher = asyncio.create_task(session_end(ctx), name="http-stream-session-watch")
            if watcher is None:
                async for chunk in inner:
                    yield chunk
                return
            while True:
                step = asyncio.ensure_future(inner.__anext__())
                await asyncio.wait({step, watcher}, return_when=asyncio.FIRST_COMPLETED)
                if step.done():
                    try:
                        chunk = step.result()
                    except StopAsyncIteration:
                        return
                    yield chunk
                    continue
                step.cancel()
                with contextlib.suppress(asyncio.CancelledError, StopAsyncIteration):
                    await step
                try:
                    reason = watcher.result()
                except Exception as exc:  # noqa: BLE001 - never keep an unchecked stream open
                    log.warning("http_stream.watch_failed", error=type(exc).__name__)
                    reason = "session check failed"
                yield _ended_chunk(transport, reason, encode)  # type: ignore[arg-type]
                return
        finally:
            if step is not None and not step.done():  # the client left while an item was awaited
                step.cancel()
                with contextlib.suppress(BaseException):
                    await step
            if watcher is not None:
                watcher.cancel()
                with contextlib.suppress(asyncio.CancelledError, Exception):
                    await watcher
            with contextlib.suppress(Exception):
                await inner.aclose()
            if ctx is not None:  # a stream cancelled mid-read must not keep its transaction open
                with contextlib.suppress(Exception):
                    await ctx.close()

    return guarded
