"""Parley's Strawberry ASGI view: context per request, credentials and CSRF rules, WebSocket
authentication in connection_init, sockets closed when their session ends, offline GraphiQL."""

from __future__ import annotations

import bisect
import contextlib
import json
import time
from dataclasses import dataclass
from typing import Any

import orjson
from cross_web import HTTPException
from starlette.requests import HTTPConnection, Request
from starlette.responses import Response
from starlette.types import Receive, Scope, Send
from starlette.websockets import WebSocket, WebSocketDisconnect, WebSocketState
from strawberry.asgi import ASGIWebSocketAdapter, GraphQL
from strawberry.exceptions import ConnectionRejectionError, MissingQueryError
from strawberry.http import GraphQLRequestData
from strawberry.http.exceptions import WebSocketDisconnected
from strawberry.http.parse_content_type import parse_content_type
from strawberry.schema.exceptions import CannotGetOperationTypeError, InvalidOperationTypeError
from strawberry.subscriptions import GRAPHQL_TRANSPORT_WS_PROTOCOL, GRAPHQL_WS_PROTOCOL
from strawberry.subscriptions.protocols.graphql_transport_ws.handlers import BaseGraphQLTransportWSHandler
from strawberry.types.graphql import OperationType

from domain.accounts import tokens
from domain.accounts.actor import ActorKind
from domain.audit import RequestMeta
from domain.errors import ErrorCode, ParleyError
from domain.partners.service import PREFIX_PARTNER
from infra import metrics, traces
from infra.logs import get_logger, request_id_var
from infra.ratelimit import RateCheck, check_limits, token_key
from infra.services import Services
from parley import fast_lane
from parley.sse import HTTP_STREAM_PROTOCOLS, SUBSCRIPTION_OVER_JSON, StreamSlots, guard_stream
from resolvers.context import (
    ACCESS_COOKIE,
    ACCOUNT_HEADER,
    Context,
    Credential,
    csrf_problem,
)
from resolvers.hub import DIRECT_SINK
from schema.execution.events import DirectSink, SharedData, next_frame

log = get_logger("parley.graphql")

# GraphiQL's page loads these from a CDN; we serve the very same files (the SRI hashes still hold).
_CDN = "https://unpkg.com/"
_LOCAL = "/static/vendor/"
WS_CLOSE_UNAUTHORIZED = 4401
WS_CLOSE_RATE_LIMITED = 4429
WS_CLOSE_FORBIDDEN = 4403


def _bearer(value: str | None) -> str | None:
    if value and value[:7].lower() == "bearer ":
        return value[7:].strip() or None
    return None


def _meta(conn: HTTPConnection) -> RequestMeta:
    return RequestMeta(ip=conn.client.host if conn.client else None, user_agent=conn.headers.get("user-agent"))


# --- GraphQL over HTTP: media types, status codes, rate limits --------------------------------------------

JSON = "application/json"
GRAPHQL_RESPONSE = "application/graphql-response+json"
VARY = "Accept, Authorization, Cookie, X-Parley-Account"


def negotiate(accept: str | None) -> str | None:
    """The response media type for an Accept header: application/graphql-response+json when the client
    prefers it, application/json for JSON, `*/*` or no header; None when it accepts neither."""
    if not accept or not accept.strip():
        return JSON
    best, best_q = None, 0.0
    for part in accept.split(","):
        media, *params = [p.strip() for p in part.split(";")]
        q = 1.0
        for param in params:
            name, _, value = param.partition("=")
            if name.strip().lower() == "q":
                try:
                    q = float(value)
                except ValueError:
                    q = 0.0
        media = media.lower()
        if media == GRAPHQL_RESPONSE:
            candidate = GRAPHQL_RESPONSE
        elif media in (JSON, "application/*", "*/*"):
            candidate = JSON
        else:
            continue
        if q > best_q:
            best, best_q = candidate, q
    return best


MAX_JSON_DEPTH = 64  # request JSON (body, variables, extensions, socket messages) nests at most this deep


def check_json(raw: str | bytes, value: object) -> str | None:
    """Why a decoded request is refused, or None. The walk is iterative, and runs only when the raw text
    could hold a problem (enough brackets to nest that deep, or an escaped NUL), so a normal request
    costs two substring counts."""
    text = raw.encode() if isinstance(raw, str) else raw
    deep = text.count(b"[") + text.count(b"{") > MAX_JSON_DEPTH
    nul = b"\\u0000" in text
    if not deep and not nul:
        return None
    stack: list[tuple[object, int]] = [(value, 1)]
    while stack:
        item, depth = stack.pop()
        if isinstance(item, dict):
            if depth > MAX_JSON_DEPTH:
                return f"JSON nested more than {MAX_JSON_DEPTH} levels deep"
            stack.extend((v, depth + 1) for v in item.values())
            if nul:
                stack.extend((k, depth) for k in item)
        elif isinstance(item, list):
            if depth > MAX_JSON_DEPTH:
                return f"JSON nested more than {MAX_JSON_DEPTH} levels deep"
            stack.extend((v, depth + 1) for v in item)
        elif nul and isinstance(item, str) and "\x00" in item:
            return "Strings may not contain NUL characters"
    return None


class JSONRefused(json.JSONDecodeError):
    """Well-formed JSON that a request may not carry (too deep, NUL characters)."""


class Throttled(Exception):
    """The request is over its rate limit; answered 429 with Retry-After."""

    def __init__(self, retry_after: int, limit: str) -> None:
        super().__init__(f"Too many requests; retry in {retry_after} seconds")
        self.retry_after = retry_after
        self.limit = limit


def _error_body(message: str, code: ErrorCode, status: int, name: str, **details: object) -> dict:
    extensions: dict = {"code": code.value, "status": status, "name": name, "details": details, **details}
    return {"errors": [{"message": message, "extensions": extensions}]}


_HTTP_ERROR_CODES = {
    401: (ErrorCode.UNAUTHENTICATED, "UnauthorizedError"),
    403: (ErrorCode.FORBIDDEN, "ForbiddenError"),
    404: (ErrorCode.NOT_FOUND, "NotFoundError"),
    405: (ErrorCode.BAD_USER_INPUT, "MethodNotAllowedError"),
    406: (ErrorCode.BAD_USER_INPUT, "NotAcceptableError"),
    413: (ErrorCode.BAD_USER_INPUT, "PayloadTooLargeError"),
    415: (ErrorCode.BAD_USER_INPUT, "UnsupportedMediaTypeError"),
    429: (ErrorCode.RATE_LIMITED, "RateLimitError"),
}


@dataclass
class Exchange:
    """What the view knows of a request before the result: how to answer and whether it may be cached."""

    method: str
    media: str | None
    public: bool  # no credentials: the answer is the same for everyone


def request_identity(conn: HTTPConnection, services: Services) -> tuple[str, str | None]:
    """(IP, identity key or None for anonymous requests) for rate limits, without a database call:
    access tokens are verified (an HMAC), opaque tokens are keyed by their hash."""
    ip = conn.client.host if conn.client else "unknown"
    token = _bearer(conn.headers.get("authorization")) or conn.cookies.get(ACCESS_COOKIE)
    if not token:
        return ip, None
    if token.startswith((tokens.PREFIX_PERSONAL, tokens.PREFIX_BOT, PREFIX_PARTNER)):
        return ip, "token:" + token_key(token)
    if tokens.is_widget_token(token):
        try:
            return (
                ip,
                f"contact-session:{tokens.decode_widget_token(services.settings.secret_key, token).contact_inbox_id}",
            )
        except tokens.InvalidToken:
            return ip, None
    try:
        claims = tokens.decode_access_token(services.settings.secret_key, token)
    except tokens.InvalidToken:
        return ip, None
    return ip, f"user:{claims.user_id}"


class TextFrameWebSocketAdapter(ASGIWebSocketAdapter):
    """Sends every subscription-protocol message as a text frame: graphql-transport-ws and graphql-ws
    are text protocols, and stock clients reject binary frames. (HTTP answers keep orjson's bytes.)"""

    async def send_json(self, message) -> None:  # type: ignore[override]
        try:
            await self.ws.send_text(self._encode(message))
        except WebSocketDisconnect as exc:
            raise WebSocketDisconnected from exc

    def _encode(self, message) -> str:
        """A `next` whose data a whole visibility group shares (schema/execution/events.py): its JSON
        is made once and spliced into each socket's message."""
        payload = message.get("payload") if isinstance(message, dict) else None
        data = payload.get("data") if isinstance(payload, dict) and len(payload) == 1 else None
        if type(data) is SharedData and message.get("type") == "next" and len(message) == 3:
            return next_frame(json.dumps(message["id"]), data.json(self.view.encode_json_string))
        return self.view.encode_json_string(message)


class TransportWSHandler(BaseGraphQLTransportWSHandler):
    """graphql-transport-ws as Strawberry speaks it; each operation runs with a DirectSink
    (schema/execution/events.py) through which the real-time hub writes the operation's `next`
    frames to the socket's protocol itself while the operation's stream waits."""

    async def run_operation(self, operation) -> None:  # type: ignore[override]
        sink = _direct_sink(self, operation)
        if sink is not None:
            DIRECT_SINK.set(sink)  # in the operation's own task: seen by its executor and stream
        await super().run_operation(operation)


def _direct_sink(handler: BaseGraphQLTransportWSHandler, operation: Any) -> DirectSink | None:
    adapter = handler.websocket
    socket = getattr(adapter, "ws", None)
    protocol = socket.scope.get("parley.ws_protocol") if socket is not None else None
    if protocol is None:
        return None  # another server's WebSocket implementation: the ordinary way only
    operations = handler.operations

    def writable() -> bool:
        return protocol.writable.is_set() and not protocol.close_sent and not protocol.transport.is_closing()

    def is_open() -> bool:
        return operations.get(operation.id) is operation and socket.application_state is WebSocketState.CONNECTED

    return DirectSink(
        operation.id,
        send=protocol.send,
        writable=writable,
        is_open=is_open,
        encode=adapter.view.encode_json_string,
    )


class ParleyGraphQL(GraphQL):
    websocket_adapter_class = TextFrameWebSocketAdapter  # type: ignore[assignment]
    graphql_transport_ws_handler_class = TransportWSHandler

    def __init__(
        self, schema: Any, services_getter: Any, *, legacy_ws: bool, graphiql: bool, max_subscriptions: int = 20
    ) -> None:
        protocols = (
            (GRAPHQL_TRANSPORT_WS_PROTOCOL, GRAPHQL_WS_PROTOCOL) if legacy_ws else (GRAPHQL_TRANSPORT_WS_PROTOCOL,)
        )
        protocols += HTTP_STREAM_PROTOCOLS  # subscriptions over HTTP: SSE and multipart (parley.sse)
        super().__init__(
            schema,
            graphql_ide="graphiql" if graphiql else None,
            keep_alive=True,
            keep_alive_interval=15,
            subscription_protocols=protocols,
            max_subscriptions_per_connection=max_subscriptions,
        )
        self._services_getter = services_getter
        self._ide_html: str | None = None
        self._streams = StreamSlots()

    @property
    def graphql_ide_html(self) -> str:  # type: ignore[override]
        if self._ide_html is None:
            # Cookie-authenticated requests must carry the CSRF header. Rather than editing the
            # template's fetcher (its text changes between Strawberry releases), the page's own
            # fetch() adds it to every same-origin request, before GraphiQL's scripts load.
            script = """
                <script>
                  (function () {
                    var send = window.fetch.bind(window);
                    window.fetch = function (input, init) {
                      var url = new URL(input instanceof Request ? input.url : String(input), window.location.href);
                      if (url.origin !== window.location.origin) return send(input, init);
                      init = Object.assign({}, init);
                      var headers = new Headers(init.headers || (input instanceof Request ? input.headers : undefined));
                      if (!headers.has("X-Parley-CSRF")) headers.set("X-Parley-CSRF", "1");
                      init.headers = headers;
                      return send(input, init);
                    };
                  })();
                </script>"""
            html = super().graphql_ide_html.replace(_CDN, _LOCAL)
            head = html.find("<head>")
            at = head + len("<head>") if head >= 0 else 0
            self._ide_html = html[:at] + script + html[at:]
        return self._ide_html

    def encode_json(self, data: object) -> bytes:  # type: ignore[override]
        if type(data) is dict and type(data.get("data")) is fast_lane.RawData:
            encoded = fast_lane.encode(data)
            if encoded is not None:
                return encoded
        try:
            return orjson.dumps(data)
        except TypeError:  # an integer beyond 64 bits (a JSON value echoed back): the slower, unbounded encoder
            return json.dumps(data, separators=(",", ":"), ensure_ascii=False).encode()

    def decode_json(self, data: str | bytes) -> object:  # type: ignore[override]
        """Bodies, GET parameters and WebSocket messages: orjson (no lone surrogates, numbers beyond 64
        bits become floats) and `check_json` (nesting, NUL); every refusal is a JSONDecodeError, which
        the view answers 400 and the socket closes on."""
        value = orjson.loads(data)
        problem = check_json(data, value)
        if problem:
            raise JSONRefused(problem, "", 0)
        return value

    def parse_json(self, data: str | bytes) -> Any:  # type: ignore[override]
        try:
            return self.decode_json(data)
        except JSONRefused as exc:
            raise HTTPException(400, exc.msg) from None
        except json.JSONDecodeError:
            raise HTTPException(400, "Unable to parse request body as JSON") from None

    # --- GraphQL over HTTP ------------------------------------------------------------------------------

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "websocket":
            await self._websocket(scope, receive, send)
            return
        if scope["type"] != "http":
            await super().__call__(scope, receive, send)
            return
        request = Request(scope=scope, receive=receive)
        media = negotiate(request.headers.get("accept")) or JSON
        try:
            try:
                response = await self.run(request)
            except Throttled as exc:
                response = self.throttled_response(exc, media)
            except HTTPException as exc:
                code, name = _HTTP_ERROR_CODES.get(exc.status_code, (ErrorCode.BAD_USER_INPUT, "BadRequestError"))
                headers = (
                    {"Allow": "POST" if request.method == "GET" else "GET, POST"} if exc.status_code == 405 else {}
                )
                response = self._json(
                    _error_body(exc.reason, code, exc.status_code, name), exc.status_code, media, headers
                )
            await response(scope, receive, send)
        finally:
            release = scope.pop("parley.stream_slot", None)
            if release is not None:
                release()  # a stream over HTTP ended, however it ended

    def throttled_response(self, exc: Throttled, media: str) -> Response:
        metrics.rate_limit_refusals_total.labels(exc.limit).inc()
        body = _error_body(
            str(exc), ErrorCode.RATE_LIMITED, 429, "RateLimitError", retryAfter=exc.retry_after, limit=exc.limit
        )
        return self._json(body, 429, media, {"Retry-After": str(exc.retry_after)})

    async def _websocket(self, scope: Scope, receive: Receive, send: Send) -> None:
        """A socket with a message-rate limit (closed with 4429 past it); when it ends, however it
        ends, its session watcher stops and its presence entry goes."""
        limit = self._services_getter().settings.ws_max_messages_per_minute
        recent: list[float] = []  # at most `limit` times; a list costs an idle socket less than a deque
        closed = False

        async def guarded_send(message: dict) -> None:
            if not closed:
                await send(message)

        async def limited_receive() -> dict:
            nonlocal closed
            message = await receive()
            if message["type"] == "websocket.receive" and limit > 0:
                now = time.monotonic()
                recent.append(now)
                if recent[0] < now - 60:
                    del recent[: bisect.bisect_left(recent, now - 60)]
                if len(recent) > limit:
                    if not closed:
                        closed = True
                        log.warning("ws.rate_limited", limit=limit)
                        with contextlib.suppress(Exception):
                            await send(
                                {
                                    "type": "websocket.close",
                                    "code": WS_CLOSE_RATE_LIMITED,
                                    "reason": "too many messages",
                                }
                            )
                    return {"type": "websocket.disconnect", "code": WS_CLOSE_RATE_LIMITED}
            return message

        metrics.active_sockets.inc()
        try:
            await super().__call__(scope, limited_receive, guarded_send)
        finally:
            metrics.active_sockets.dec()
            entry = scope.get("parley.socket")
            if entry is not None:
                from resolvers.sockets import registry_of

                await registry_of(self._services_getter()).remove(entry)

    def is_websocket_origin_allowed(self, request, origin: str) -> bool:  # type: ignore[override]
        """Cross-origin handshakes are let through only to be marked: such a socket must then present a
        website widget's contact session from one of its inbox's allowed domains (on_ws_connect);
        everything else on it is refused, so the dashboard's socket stays same-origin."""
        if super().is_websocket_origin_allowed(request, origin):
            return True
        request.scope["parley.cross_origin"] = origin
        return True

    def should_render_graphql_ide(self, request) -> bool:  # type: ignore[override]
        # A GET naming a persisted document (`documentId`, `extensions`) is an operation, not a page view.
        params = request.query_params
        if params.get("documentId") is not None or params.get("extensions") is not None:
            return False
        return super().should_render_graphql_ide(request)

    def _json(self, body: dict, status: int, media: str, headers: dict[str, str] | None = None) -> Response:
        response = Response(self.encode_json(body), status_code=status, headers=headers)
        response.headers["content-type"] = f"{media}; charset=utf-8"
        response.headers["cache-control"] = "no-store"
        return response

    async def get_sub_response(self, request: Request) -> Response:  # type: ignore[override]
        sub = await super().get_sub_response(request)
        public = not (request.headers.get("authorization") or request.cookies.get(ACCESS_COOKIE))
        sub.parley = Exchange(request.method, negotiate(request.headers.get("accept")), public)  # type: ignore[attr-defined]
        return sub

    def _request_data(self, item: object, protocol: Any = "http") -> GraphQLRequestData:
        if not isinstance(item, dict):
            raise HTTPException(400, "A GraphQL request must be a JSON object")
        query, variables = item.get("query"), item.get("variables")
        extensions, document_id = item.get("extensions"), item.get("documentId")
        operation_name = item.get("operationName")
        if not isinstance(query, (str, type(None))):
            raise HTTPException(400, "The GraphQL operation's `query` must be a string or null, if provided.")
        if not isinstance(variables, (dict, type(None))):
            raise HTTPException(400, "The GraphQL operation's `variables` must be an object or null, if provided.")
        if not isinstance(extensions, (dict, type(None))):
            raise HTTPException(400, "The GraphQL operation's `extensions` must be an object or null, if provided.")
        if not isinstance(operation_name, (str, type(None))):
            raise HTTPException(400, "The GraphQL operation's `operationName` must be a string or null, if provided.")
        if document_id is not None:
            if not isinstance(document_id, str):
                raise HTTPException(400, "`documentId` must be a string")
            extensions = {**(extensions or {}), "documentId": document_id}
        if query is None and not extensions:
            raise HTTPException(400, "No GraphQL query found in the request")
        return GraphQLRequestData(
            query=query, variables=variables, operation_name=operation_name, extensions=extensions, protocol=protocol
        )

    async def parse_http_body(self, request_adapter):  # type: ignore[override]
        """JSON bodies (or GET parameters) only, a top-level `documentId` carried to the persisted
        operations extension, and the request's rate limits (a batch counts once per operation)."""
        request: Request = request_adapter._request  # the Starlette request (client address, cookies)
        transport = self._get_stream_transport_from_headers(request.headers)  # SSE or multipart (parley.sse)
        if transport is None and negotiate(request.headers.get("accept")) is None:
            raise HTTPException(406, "Accept application/graphql-response+json or application/json")
        if request.method == "GET":
            data: Any = self.parse_query_params(request_adapter.query_params)
        else:
            content_type, params = parse_content_type(request.headers.get("content-type", ""))
            if content_type != JSON or params.get("charset", "utf-8").lower() not in ("utf-8", "utf8"):
                raise HTTPException(415, "Send GraphQL requests as application/json (UTF-8)")
            data = self.parse_json(await request_adapter.get_body())
        protocol = transport.protocol if transport is not None else "http"
        if isinstance(data, list):
            self._validate_batch_request(data, protocol=protocol)
            parsed: Any = [self._request_data(item) for item in data]
            await self._throttle(request, len(parsed))
            return parsed
        result = self._request_data(data, protocol)
        context = request.scope.get("parley.context")
        if transport is None and isinstance(context, Context):
            # Checked with the operation's cost budget, in one Redis round trip (execute_single).
            context.pending_limits = (self._rate_checks(request), 1)
        else:
            await self._throttle(request, 1)
        if transport is not None:
            services: Services = self._services_getter()
            ip, identity = request_identity(request, services)
            request.scope["parley.stream_slot"] = self._streams.acquire(
                identity or f"ip:{ip}", services.settings.http_max_streams_per_caller
            )
        return result

    def _rate_checks(self, request: Request) -> list[RateCheck]:
        services: Services = self._services_getter()
        if services.rate_limiter is None:
            return []
        settings = services.settings
        ip, identity = request_identity(request, services)
        checks = []
        if settings.rate_limit_ip_per_minute > 0:
            checks.append(RateCheck(f"ip:{ip}", settings.rate_limit_ip_per_minute, "ip"))
        if identity is None and settings.rate_limit_anonymous_per_minute > 0:
            checks.append(RateCheck(f"anonymous:{ip}", settings.rate_limit_anonymous_per_minute, "anonymous"))
        elif identity is not None and settings.rate_limit_authenticated_per_minute > 0:
            checks.append(RateCheck(identity, settings.rate_limit_authenticated_per_minute, "caller"))
        return checks

    async def _throttle(self, request: Request, cost: int) -> None:
        services: Services = self._services_getter()
        checks = self._rate_checks(request)
        if not checks:
            return
        # Never fails open: when Redis does not answer, the limiter counts in this process.
        outcome = await check_limits(services.rate_limiter, None, checks, cost, None)
        if outcome.refused is not None and outcome.decision is not None:
            raise Throttled(outcome.decision.retry_after_seconds, outcome.refused.name)

    async def _settle_limits(self, context: Any) -> None:
        """After a single operation: the rate limits the cost budget's step did not get to (the
        operation was refused before it) are checked now; a refusal answers 429, as it would have
        before any work."""
        if not isinstance(context, Context):
            return
        pending, context.pending_limits = context.pending_limits, None
        if pending:
            services: Services = self._services_getter()
            checks, hits = pending
            outcome = await check_limits(services.rate_limiter, None, checks, hits, None)
            if outcome.refused is not None and outcome.decision is not None:
                context.throttled = (outcome.decision.retry_after_seconds, outcome.refused.name)
        if context.throttled is not None:
            retry_after, name = context.throttled
            context.throttled = None
            raise Throttled(retry_after, name)

    async def execute_single(self, request, request_adapter, sub_response, context, root_value, request_data):  # type: ignore[override]
        if not traces.enabled():
            return await self._execute_single(request_adapter, context, root_value, request_data)
        # One span of ours per operation (Strawberry's tracing extension adds a span per resolver).
        with traces.span(
            request_data.operation_name or "graphql.operation",
            **{"graphql.operation.name": request_data.operation_name},
        ) as span:
            result = await self._execute_single(request_adapter, context, root_value, request_data)
            if span is not None:
                _describe_operation(span, context, request_data, result)
            return result

    async def _execute_single(self, request_adapter, context, root_value, request_data):
        # One JSON answer per request: subscriptions need a stream (WebSocket, SSE or multipart).
        method = request_adapter.method
        allowed = OperationType.from_http(method) - {OperationType.SUBSCRIPTION}
        started = time.perf_counter()
        fast = await fast_lane.answer(self, context, request_data, method)
        if fast is not None:
            self._observe(context, request_data, fast, started)
            return fast
        try:
            result = await self.schema.execute(
                request_data.query,
                root_value=root_value,
                variable_values=request_data.variables,
                context_value=context,
                operation_name=request_data.operation_name,
                allowed_operation_types=allowed,
                operation_extensions=request_data.extensions,
            )
        except CannotGetOperationTypeError as exc:
            raise HTTPException(400, exc.as_http_error_reason()) from exc
        except InvalidOperationTypeError as exc:
            if exc.operation_type == OperationType.SUBSCRIPTION:
                raise HTTPException(400, SUBSCRIPTION_OVER_JSON) from exc
            if method == "GET":
                raise HTTPException(405, "Only queries may be sent with GET; send mutations with POST") from exc
            raise HTTPException(400, exc.as_http_error_reason(method)) from exc
        except MissingQueryError as exc:
            raise HTTPException(400, "No GraphQL query found in the request") from exc
        finally:
            await self._settle_limits(context)  # a refusal replaces whatever else the request met
        self._observe(context, request_data, result, started)
        return result

    @staticmethod
    def _observe(context, request_data, result, started: float) -> None:
        codes = error_codes(result)
        outcome = "ok" if not codes else "partial" if result.data is not None else "error"
        name = getattr(context, "operation_name", None) or request_data.operation_name
        metrics.observe_request(name, outcome, time.perf_counter() - started, codes)

    async def create_streaming_response(self, request, stream, sub_response, headers):  # type: ignore[override]
        transport = self._get_stream_transport_from_headers(request.headers)
        guarded = guard_stream(stream, request.scope.get("parley.context"), transport, self.encode_json_string)
        return await super().create_streaming_response(request, guarded, sub_response, headers)

    async def process_result(self, request, result):  # type: ignore[override]
        data = await super().process_result(request, result)
        # A request error (nothing ran: validation, limits, persisted operations) has no `data` entry.
        if result.data is None and result.errors and all(e.path is None for e in result.errors):
            data.pop("data", None)
        return data

    def create_response(self, response_data, sub_response: Response) -> Response:  # type: ignore[override]
        exchange: Exchange = getattr(sub_response, "parley", None) or Exchange("POST", JSON, False)
        media = exchange.media or JSON
        status, headers = 200, {}
        if isinstance(response_data, dict) and "data" not in response_data and response_data.get("errors"):
            first = response_data["errors"][0].get("extensions") or {}
            if first.get("code") == ErrorCode.RATE_LIMITED.value:
                status = 429
                headers["Retry-After"] = str(first.get("retryAfter") or 1)
            elif media == GRAPHQL_RESPONSE and first.get("code") != ErrorCode.PERSISTED_QUERY_NOT_FOUND.value:
                # Apollo's APQ clients expect 200 for PersistedQueryNotFound and retry with the document.
                status = int(first.get("status") or 400)
        if exchange.method == "GET":
            headers["Vary"] = VARY
            max_age = self._services_getter().settings.get_cache_max_age
            cacheable = status == 200 and exchange.public and not response_data.get("errors")  # type: ignore[union-attr]
            headers["Cache-Control"] = (
                f"public, max-age={max_age}" if cacheable and max_age > 0 else "private, no-store"
            )
        else:
            headers["Cache-Control"] = "no-store"
        response = Response(
            self.encode_json(response_data), status_code=sub_response.status_code or status, headers=headers
        )
        response.headers["content-type"] = f"{media}; charset=utf-8"
        response.headers.raw.extend(sub_response.headers.raw)
        if sub_response.background:
            response.background = sub_response.background
        return response

    async def get_context(self, request: Request | WebSocket, response: Response | WebSocket) -> Context:  # type: ignore[override]
        services: Services = self._services_getter()
        credential = Credential(account_ref=request.headers.get(ACCOUNT_HEADER))
        if isinstance(request, Request):
            bearer = _bearer(request.headers.get("authorization"))
            if bearer:
                credential.token = bearer
            elif cookie := request.cookies.get(ACCESS_COOKIE):
                credential.token = cookie
                credential.from_cookie = True
                credential.csrf_problem = csrf_problem(request, services)
        context = Context(
            services=services,
            request=request,
            response=response if isinstance(response, Response) else None,
            request_id=request_id_var.get(),
            credential=credential,
            meta=_meta(request),
        )
        if isinstance(request, Request):
            request.scope["parley.context"] = context  # a stream over HTTP watches its session (parley.sse)
        return context

    async def on_ws_connect(self, context: Context) -> dict[str, object] | None:  # type: ignore[override]
        params = context.connection_params or {}
        if not isinstance(params, dict):
            raise ConnectionRejectionError({"reason": "connection_init payload must be an object"})
        token = params.get("token") or params.get("accessToken") or _bearer(str(params.get("authorization") or ""))
        ws = context.request
        if ws is not None and ws.scope.get("parley.cross_origin") and not tokens.is_widget_token(str(token or "")):
            raise ConnectionRejectionError(
                {"reason": "Only website widget sessions may connect from another origin", "code": "FORBIDDEN"}
            )
        if token:
            context.credential = Credential(
                token=str(token), account_ref=params.get("accountId") or context.credential.account_ref
            )
        elif ws is not None and (cookie := ws.cookies.get(ACCESS_COOKIE)):
            # Strawberry refuses cross-origin handshakes, so a cookie here comes from our own pages.
            context.credential = Credential(token=cookie, from_cookie=True, account_ref=params.get("accountId"))
        if not context.credential.token and not context.settings.diagnostics:
            # Every stream but the diagnostics pings needs a signed-in caller: refuse before any subscribe.
            raise ConnectionRejectionError({"reason": "Authentication required", "code": "UNAUTHENTICATED"})
        if context.credential.token:
            try:
                actor = await context.actor()  # from the process's credential cache: no read
            except ParleyError as exc:
                raise ConnectionRejectionError({"reason": exc.message, "code": exc.code.value}) from None
            finally:
                await context.close()  # the socket lives long; do not hold a connection
            from resolvers.sockets import registry_of, watched

            if ws is not None and watched(actor):
                # One watcher and one presence beat for every socket of the process (resolvers.sockets).
                # An agent's socket keeps their presence; their chosen availability is read only
                # when this socket is the one that brings them online (resolvers.sockets).
                present = actor.kind == ActorKind.user and actor.is_member
                ws.scope["parley.socket"] = await registry_of(context.services).add(
                    ws, actor, context.credential.token, present
                )
        return {"server": "parley"}


def error_codes(result: Any) -> list[str]:
    """The `extensions.code` of each error of a result (a missing one counts as internal)."""
    return [str((e.extensions or {}).get("code") or "INTERNAL_SERVER_ERROR") for e in result.errors or ()]


def _describe_operation(span: Any, context: Any, request_data: Any, result: Any) -> None:
    """Name the operation's span after the operation the document selected, with its outcome."""
    name = getattr(context, "operation_name", None) or request_data.operation_name
    if name:
        span.update_name(name)
        span.set_attribute("graphql.operation.name", name)
    rid = request_id_var.get()
    if rid:
        span.set_attribute(traces.REQUEST_ID_ATTRIBUTE, rid)
    codes = error_codes(result)
    if codes:
        span.set_attribute("graphql.error_codes", codes)
