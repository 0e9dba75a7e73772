"""Load shedding: a process works on a bounded number of GraphQL requests at a time and lets a short
queue wait briefly; beyond that it answers 503 with Retry-After at once.

Without a bound, 200 concurrent writers on one process queue for 30 s, exhaust the database pool
and time their clients out, and the process still commits what those clients gave up on, so a
client that retries creates duplicates. With it, every request gets an answer within a few seconds:
done, or refused before anything ran (a refused request changes nothing, so retrying it is safe).

A slot is held until the response starts: the work of an ordinary request happens before its
headers go out, and a subscription stream over HTTP (SSE, multipart) then holds no slot for its
lifetime. WebSockets are not counted here (their handshakes are rate limited elsewhere)."""

from __future__ import annotations

import asyncio
import json
from collections import deque
from collections.abc import Callable

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from domain.errors import ErrorCode
from infra.logs import get_logger, request_id_var

log = get_logger("parley.shedding")


class Gate:
    """At most `limit` holders; up to `queue` callers wait, each at most `wait_seconds`, in order."""

    def __init__(self, limit: int, queue: int, wait_seconds: float) -> None:
        self.limit = limit
        self.queue = queue
        self.wait_seconds = wait_seconds
        self.active = 0
        self._waiters: deque[asyncio.Future[None]] = deque()
        self.shed = 0  # refused since start (for /readyz and logs)

    @property
    def waiting(self) -> int:
        return len(self._waiters)

    @property
    def saturated(self) -> bool:
        """Every slot taken and the queue at least half full: a load balancer should send elsewhere."""
        return self.active >= self.limit and self.waiting * 2 >= max(self.queue, 1)

    async def acquire(self) -> bool:
        if self.active < self.limit and not self._waiters:
            self.active += 1
            return True
        if len(self._waiters) >= self.queue:
            self.shed += 1
            return False
        waiter: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._waiters.append(waiter)
        try:
            await asyncio.wait_for(waiter, self.wait_seconds)
        except TimeoutError:
            if waiter.done() and not waiter.cancelled():
                return True  # handed a slot in the same instant
            self._remove(waiter)
            self.shed += 1
            return False
        except asyncio.CancelledError:
            if waiter.done() and not waiter.cancelled():
                self._release_to_next()  # handed a slot it will not use: pass it on
            else:
                self._remove(waiter)
            raise
        return True  # the releaser handed its slot over (active unchanged)

    def release(self) -> None:
        self._release_to_next()

    def releaser(self) -> Callable[[], None]:
        """A release for one acquired slot that may be called any number of times (it releases once)."""
        held = True

        def release() -> None:
            nonlocal held
            if held:
                held = False
                self._release_to_next()

        return release

    def _release_to_next(self) -> None:
        while self._waiters:
            waiter = self._waiters.popleft()
            if not waiter.done():
                waiter.set_result(None)
                return
        self.active -= 1

    def _remove(self, waiter: asyncio.Future[None]) -> None:
        try:
            self._waiters.remove(waiter)
        except ValueError:
            pass


def overloaded_body(retry_after: int) -> bytes:
    rid = request_id_var.get()
    extensions: dict[str, object] = {
        "code": ErrorCode.OVERLOADED.value,
        "status": 503,
        "name": "OverloadedError",
        "retryAfter": retry_after,
        "details": {"retryAfter": retry_after},
    }
    if rid:
        extensions["requestId"] = rid
    return json.dumps(
        {
            "errors": [
                {"message": "The server is busy; nothing was done. Retry after a moment.", "extensions": extensions}
            ]
        }
    ).encode()


class LoadShedMiddleware:
    """Bounds concurrent HTTP requests to the given paths (the GraphQL endpoint)."""

    def __init__(
        self, app: ASGIApp, *, gate: Gate, paths: tuple[str, ...] = ("/graphql",), retry_after: int = 1
    ) -> None:
        self.app = app
        self.gate = gate
        self.paths = paths
        self.retry_after = retry_after

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope.get("path") not in self.paths or scope.get("method") == "OPTIONS":
            await self.app(scope, receive, send)
            return
        if not await self.gate.acquire():
            log.info("http.shed", active=self.gate.active, waiting=self.gate.waiting, path=scope.get("path"))
            await self._refuse(send)
            return
        release = self.gate.releaser()

        async def send_releasing(message: Message) -> None:
            if message["type"] == "http.response.start":
                release()
            await send(message)

        try:
            await self.app(scope, receive, send_releasing)
        finally:
            release()

    async def _refuse(self, send: Send) -> None:
        body = overloaded_body(self.retry_after)
        await send(
            {
                "type": "http.response.start",
                "status": 503,
                "headers": [
                    (b"content-type", b"application/json; charset=utf-8"),
                    (b"cache-control", b"no-store"),
                    (b"retry-after", str(self.retry_after).encode()),
                    (b"content-length", str(len(body)).encode()),
                ],
            }
        )
        await send({"type": "http.response.body", "body": body})
