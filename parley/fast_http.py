"""The HTTP front of the fast lane (parley/fast_lane.py): a `POST /graphql` the lane can answer is
taken before Starlette's middleware chain, its router and Strawberry's request pipeline, which cost
about as much as the lane's own work (a third of the server's time per dashboard request).

It does for such a request what the chain does — the request id, the load-shedding gate, the body
limit, Starlette's CORS headers, the view's context, media type, status and headers — and then asks
the lane. Anything it does not take goes the stock way untouched: another method or path, traces
on, a stream (SSE, multipart), another content type, a refused Accept header, an origin the
operator did not list (the widget's CORS rules), no credentials, a body over the limit or not a
single JSON object, and every request the lane itself declines; a body already read is handed on
as it was received. So the stock way stays the definition of every answer, and the differential
tests (tests/test_fast_http.py) compare the two, headers included."""

from __future__ import annotations

import asyncio
import time
from typing import Any

from starlette.datastructures import Headers, MutableHeaders
from starlette.middleware.cors import CORSMiddleware
from starlette.requests import Request
from starlette.types import ASGIApp, Message, Receive, Scope, Send
from strawberry.http.parse_content_type import parse_content_type

from infra import traces
from infra.logs import get_logger, new_request_id, request_id_var
from parley import fast_lane
from parley.graphql_view import JSON, ParleyGraphQL, Throttled, negotiate
from parley.middleware import VALID_REQUEST_ID, send_internal_error
from parley.shedding import Gate

log = get_logger("parley.http")


class FastHTTP:
    def __init__(
        self,
        view: ParleyGraphQL,
        *,
        gate: Gate,
        cors: dict[str, Any],
        configured: list[str],
        max_body: int,
        turns: int,
    ) -> None:
        self.view = view
        self.gate = gate
        self.cors = CORSMiddleware(None, **cors)  # type: ignore[arg-type]  # only its response headers
        self.configured = {o.rstrip("/").lower() for o in configured}
        self.any_origin = "*" in self.configured
        self.max_body = max_body
        self.served = 0  # answers given here (tests check that it is taken)
        # PARLEY_FAST_READS_CONCURRENCY requests at a time, the others waiting in order: at 16
        # connections on two cores, all 16 interleaved on the event loop made the slowest answers
        # 5× the median; 8 at a time halved the p95 and p99 at the same throughput, and once the
        # limits made no round trip per request (leases), 5 at a time gave a p99 of 21-24 ms
        # against 94-116 ms at 8, with more throughput.
        self.turns = asyncio.Semaphore(turns)
        self.enabled = True
        self._accepts: dict[bytes | None, bool] = {}

    def settings(self) -> Any:
        return self.view._services_getter().settings

    async def __call__(self, scope: Scope, receive: Receive, send: Send, stock: ASGIApp) -> None:
        settings = self.settings()
        if not (self.enabled and settings.fast_reads) or traces.enabled():
            await stock(scope, receive, send)
            return
        rid = self._eligible(scope)
        if rid is None:
            await stock(scope, receive, send)
            return
        if not await self.gate.acquire():
            await stock(scope, receive, send)  # the stock way sheds it (503, with its CORS headers)
            return
        release = self.gate.releaser()

        token = request_id_var.set(rid)
        body, complete, started = b"", False, []
        try:
            body, complete = await _read(receive, self.max_body)  # a slow client holds no turn
            if complete:
                async with self.turns:
                    response = await self._answer(scope, body)
                if response is not None:
                    self.served += 1
                    await self._send(scope, receive, send, response, rid, release, started)
                    return
        except Exception as exc:  # the last resort, as RequestIdMiddleware's
            log.error("http.unhandled_error", error=type(exc).__name__, path=scope.get("path"), exc_info=exc)
            release()
            if not started:  # else the response is under way: the client sees the connection end
                await send_internal_error(send, rid)
            return
        finally:
            request_id_var.reset(token)
        release()
        await stock(scope, _replay(body, complete, receive), send)

    def _eligible(self, scope: Scope) -> str | None:
        """The request id when the headers allow the lane to try, else None (one pass, no objects)."""
        accept = content_type = origin = rid = None
        credentials = False
        length = 0
        for name, value in scope["headers"]:
            if name == b"content-type":
                content_type = value
            elif name == b"accept":
                accept = value
            elif name == b"authorization" or name == b"cookie":
                credentials = True
            elif name == b"origin":
                origin = value.decode("latin-1")
            elif name == b"content-length":
                try:
                    length = int(value)
                except ValueError:
                    return None
            elif name == b"x-request-id":
                rid = value.decode("latin-1")
        if not credentials or content_type is None or length > self.max_body:
            return None
        if not _json_body(content_type):
            return None
        if not self._plain_answer(accept):
            return None
        if origin is not None and not self.any_origin and origin.rstrip("/").lower() not in self.configured:
            return None  # parley.widget_pages' CORS rules answer other origins
        return rid if rid and VALID_REQUEST_ID.match(rid) else new_request_id()

    def _plain_answer(self, accept: bytes | None) -> bool:
        """Whether an Accept header takes a single JSON answer (a media type the view answers, no
        stream transport); each distinct header value decided once (parsing it was 3 % of a lane
        request)."""
        known = self._accepts.get(accept)
        if known is None:
            text = accept.decode("latin-1") if accept is not None else None
            known = negotiate(text) is not None and not self.view._get_stream_transport_from_headers(
                {"accept": text or ""}
            )
            if len(self._accepts) < 64:
                self._accepts[accept] = known
        return known

    async def _answer(self, scope: Scope, body: bytes) -> Any:
        """The response when the lane answers, else None."""
        view = self.view
        try:
            data = view.decode_json(body)
        except ValueError:
            return None
        if type(data) is not dict:
            return None
        try:
            request_data = view._request_data(data)
        except Exception:  # noqa: BLE001 - the stock way answers what is wrong with it
            return None
        query = request_data.query
        if isinstance(query, str) and not fast_lane.candidate(query, request_data.operation_name, self.settings()):
            return None  # a mutation, say: declined before a context is made for it
        request = Request(scope, _replay(body, True, _no_more))
        sub = await view.get_sub_response(request)
        context = await view.get_context(request, sub)
        context.pending_limits = (view._rate_checks(request), 1)
        started = time.perf_counter()
        try:
            result = await fast_lane.answer(view, context, request_data, "POST")
        except Throttled as exc:
            return view.throttled_response(exc, sub.parley.media or JSON)  # type: ignore[attr-defined]
        finally:
            await context.close()
        if result is None:
            return None
        view._observe(context, request_data, result, started)
        if not result.errors and type(result.data) is fast_lane.RawData and not sub.headers.raw:
            # What create_response makes of a compiled answer to a POST, without the Response object.
            media = (sub.parley.media or JSON).encode()  # type: ignore[attr-defined]
            body = fast_lane.encode({"data": result.data, "extensions": result.extensions})
            if body is not None:
                return _Answer(body, media + b"; charset=utf-8")
        return view.create_response(await view.process_result(request, result), sub)

    async def _send(
        self, scope: Scope, receive: Receive, send: Send, response: Any, rid: str, release: Any, started: list
    ) -> None:
        headers = Headers(scope=scope)
        cors = self.cors

        async def send_out(message: Message) -> None:
            if message["type"] == "http.response.start":
                started.append(True)
                release()
                MutableHeaders(scope=message)["X-Request-ID"] = rid
                await cors.send(message, send, headers)
                return
            await send(message)

        await response(scope, receive, send_out)


_JSON_TYPES: dict[bytes, bool] = {}


def _json_body(content_type: bytes) -> bool:
    """Whether a Content-Type is the view's (JSON, UTF-8); each distinct header value parsed once."""
    known = _JSON_TYPES.get(content_type)
    if known is None:
        media, params = parse_content_type(content_type.decode("latin-1"))
        known = media == JSON and params.get("charset", "utf-8").lower() in ("utf-8", "utf8")
        if len(_JSON_TYPES) < 64:
            _JSON_TYPES[content_type] = known
    return known


class _Answer:
    """A compiled answer's bytes, sent as Starlette's Response would send them (200, no-store)."""

    __slots__ = ("body", "media")

    def __init__(self, body: bytes, media: bytes) -> None:
        self.body = body
        self.media = media

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        headers = [
            (b"content-length", str(len(self.body)).encode()),
            (b"cache-control", b"no-store"),
            (b"content-type", self.media),
        ]
        await send({"type": "http.response.start", "status": 200, "headers": headers})
        await send({"type": "http.response.body", "body": self.body})


async def _read(receive: Receive, limit: int) -> tuple[bytes, bool]:
    """The body, and whether it is all there (False: over the limit, or the client went away)."""
    chunks: list[bytes] = []
    size = 0
    while True:
        message = await receive()
        if message["type"] != "http.request":
            return b"".join(chunks), False
        chunk = message.get("body", b"")
        size += len(chunk)
        chunks.append(chunk)
        if size > limit:
            return b"".join(chunks), False
        if not message.get("more_body", False):
            return b"".join(chunks), True


def _replay(body: bytes, complete: bool, receive: Receive) -> Receive:
    """`receive` with the part of the body already read given back first."""
    given = False

    async def again() -> Message:
        nonlocal given
        if not given:
            given = True
            return {"type": "http.request", "body": body, "more_body": not complete}
        return await receive()

    return again


async def _no_more() -> Message:
    return {"type": "http.disconnect"}
