"""Parley's Strawberry ASGI view: context per request, credentials and CSRF rules, WebSocket
authentication in connection_init, sockets closed when their session ends, offline GraphiQL."""

from __future__ import annotations

import asyncio
import contextlib
import json
from typing import Any
from urllib.parse import urlsplit

import orjson
from starlette.requests import HTTPConnection, Request
from starlette.responses import Response
from starlette.websockets import WebSocket, WebSocketState
from strawberry.asgi import GraphQL
from strawberry.exceptions import ConnectionRejectionError
from strawberry.subscriptions import GRAPHQL_TRANSPORT_WS_PROTOCOL, GRAPHQL_WS_PROTOCOL

from domain.accounts import tokens
from domain.audit import RequestMeta
from domain.errors import ParleyError
from parley.context import ACCESS_COOKIE, ACCOUNT_HEADER, CSRF_HEADER, Context, Credential, Services
from parley.logs import get_logger, request_id_var
from parley.relay import SESSIONS_REVOKED_CHANNEL

log = get_logger("parley.graphql")

# GraphiQL's page loads these from a CDN; we serve the very same files (the SRI hashes still hold).
_CDN = "https://unpkg.com/"
_LOCAL = "/static/vendor/"
WS_CLOSE_UNAUTHORIZED = 4401
WS_CLOSE_FORBIDDEN = 4403


def _origin_of(url: str) -> str:
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}".lower()


def allowed_origins(conn: HTTPConnection, services: Services) -> set[str]:
    settings = services.settings
    scheme = "https" if conn.url.scheme in ("https", "wss") else "http"
    own = {f"{scheme}://{conn.headers.get('host', '')}".lower()}
    if settings.public_url:
        own.add(_origin_of(settings.public_url))
    return own | {o.rstrip("/").lower() for o in settings.dashboard_origins}


def csrf_problem(request: Request, services: Services) -> str | None:
    """Why this request may not act with the session cookie, or None. Cookie-authenticated requests
    must carry the custom header (a cross-site form or image cannot) and, when the browser says where
    it comes from, an allowed Origin."""
    if CSRF_HEADER not in request.headers:
        return "missing X-Parley-CSRF header"
    origin = request.headers.get("origin")
    if origin and origin.lower() not in allowed_origins(request, services):
        return f"origin {origin} is not allowed"
    return None


def _bearer(value: str | None) -> str | None:
    if value and value[:7].lower() == "bearer ":
        return value[7:].strip() or None
    return None


def _meta(conn: HTTPConnection) -> RequestMeta:
    return RequestMeta(ip=conn.client.host if conn.client else None, user_agent=conn.headers.get("user-agent"))


class ParleyGraphQL(GraphQL):
    def __init__(self, schema: Any, services_getter: Any, *, legacy_ws: bool, graphiql: bool) -> None:
        protocols = (GRAPHQL_TRANSPORT_WS_PROTOCOL, GRAPHQL_WS_PROTOCOL) if legacy_ws else (GRAPHQL_TRANSPORT_WS_PROTOCOL,)
        super().__init__(
            schema,
            graphql_ide="graphiql" if graphiql else None,
            keep_alive=True,
            keep_alive_interval=15,
            subscription_protocols=protocols,
            max_subscriptions_per_connection=20,
        )
        self._services_getter = services_getter
        self._ide_html: str | None = None

    @property
    def graphql_ide_html(self) -> str:  # type: ignore[override]
        if self._ide_html is None:
            # The dashboard's CSRF rule needs the custom header on every request from the page.
            html = super().graphql_ide_html.replace(_CDN, _LOCAL)
            html = html.replace('"Content-Type": "application/json",', '"Content-Type": "application/json", "X-Parley-CSRF": "1",', 1)
            self._ide_html = html
        return self._ide_html

    def encode_json(self, data: object) -> bytes:  # type: ignore[override]
        return orjson.dumps(data)

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
        return Context(
            services=services,
            request=request,
            response=response if isinstance(response, Response) else None,
            request_id=request_id_var.get(),
            credential=credential,
            meta=_meta(request),
        )

    async def on_ws_connect(self, context: Context) -> dict[str, object] | None:  # type: ignore[override]
        params = context.connection_params or {}
        if not isinstance(params, dict):
            raise ConnectionRejectionError({"reason": "connection_init payload must be an object"})
        token = params.get("token") or params.get("accessToken") or _bearer(str(params.get("authorization") or ""))
        ws = context.request
        if token:
            context.credential = Credential(token=str(token), account_ref=params.get("accountId") or context.credential.account_ref)
        elif ws is not None and (cookie := ws.cookies.get(ACCESS_COOKIE)):
            # Strawberry refuses cross-origin handshakes, so a cookie here comes from our own pages.
            context.credential = Credential(token=cookie, from_cookie=True, account_ref=params.get("accountId"))
        if context.credential.token:
            try:
                actor = await context.actor()
            except ParleyError as exc:
                raise ConnectionRejectionError({"reason": exc.message, "code": exc.code.value}) from None
            finally:
                await context.close()  # the socket lives long; do not hold a connection
            if actor.session_id is not None or actor.api_token_id is not None:
                watcher = asyncio.create_task(self._watch_session(context), name="ws-session-watch")
                context.connection_params = {**params, "_watcher": watcher}
        return {"server": "parley"}

    async def _watch_session(self, context: Context) -> None:
        """Close the socket when its session ends: revoked (logout, password change — announced on
        the broadcast), or its access token expires."""
        ws = context.request
        assert isinstance(ws, WebSocket)
        actor = context._actor
        assert actor is not None
        expires_in = None
        if context.credential.token and not context.credential.token.startswith((tokens.PREFIX_PERSONAL, tokens.PREFIX_BOT)):
            try:
                claims = tokens.decode_access_token(context.settings.secret_key, context.credential.token)
                from db.base import utcnow

                expires_in = max((claims.expires_at - utcnow()).total_seconds(), 0)
            except tokens.InvalidToken:
                expires_in = 0
        code, reason = WS_CLOSE_UNAUTHORIZED, "session ended"
        try:
            async with context.broadcast.subscribe(SESSIONS_REVOKED_CHANNEL) as sub:
                deadline = asyncio.get_running_loop().time() + expires_in if expires_in is not None else None
                while ws.application_state == WebSocketState.CONNECTED and ws.client_state == WebSocketState.CONNECTED:
                    timeout = 30.0
                    if deadline is not None:
                        timeout = min(timeout, deadline - asyncio.get_running_loop().time())
                        if timeout <= 0:
                            reason = "access token expired"
                            break
                    try:
                        event = await asyncio.wait_for(sub.get(), timeout)
                    except TimeoutError:
                        if not await self._still_valid(context):
                            break
                        continue
                    if actor.session_id and actor.session_id in json.loads(event.message):
                        break
                else:
                    return
        except asyncio.CancelledError:
            return
        except Exception as exc:  # noqa: BLE001 - fall back to closing: never keep an unchecked socket
            log.warning("ws.watch_failed", error=type(exc).__name__)
            reason = "session check failed"
        with contextlib.suppress(Exception):
            await ws.close(code=code, reason=reason)

    async def _still_valid(self, context: Context) -> bool:
        context.forget_actor()
        try:
            await context.actor()
            return True
        except ParleyError:
            return False
        finally:
            await context.close()
