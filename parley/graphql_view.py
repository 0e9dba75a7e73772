"""Parley's Strawberry ASGI view: context per request, WebSocket connection_init, offline GraphiQL."""

from __future__ import annotations

from typing import Any

import orjson
from starlette.requests import Request
from starlette.responses import Response
from starlette.websockets import WebSocket
from strawberry.asgi import GraphQL
from strawberry.subscriptions import GRAPHQL_TRANSPORT_WS_PROTOCOL, GRAPHQL_WS_PROTOCOL

from parley.context import Context, Services
from parley.logs import request_id_var

# GraphiQL's page loads these from a CDN; we serve the very same files (the SRI hashes still hold).
_CDN = "https://unpkg.com/"
_LOCAL = "/static/vendor/"


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
            html = super().graphql_ide_html.replace(_CDN, _LOCAL)
            self._ide_html = html
        return self._ide_html

    def encode_json(self, data: object) -> bytes:  # type: ignore[override]
        return orjson.dumps(data)

    async def get_context(self, request: Request | WebSocket, response: Response | WebSocket) -> Context:  # type: ignore[override]
        services: Services = self._services_getter()
        return Context(
            services=services,
            request=request,
            response=response if isinstance(response, Response) else None,
            request_id=request_id_var.get(),
        )

    async def on_ws_connect(self, context: Context) -> dict[str, object] | None:  # type: ignore[override]
        # Authentication of sockets arrives with the accounts issue; the payload is kept on the context.
        return {"server": "parley"}
