"""The root Query, Mutation and Subscription types and the schema factory."""

from __future__ import annotations

from collections.abc import AsyncGenerator

import strawberry
from strawberry.extensions import MaxAliasesLimiter, MaxTokensLimiter, ParserCache, QueryDepthLimiter, ValidationCache
from strawberry.extensions import DisableIntrospection
from strawberry.schema.config import StrawberryConfig

from resolvers import diagnostics as diagnostics_resolvers
from schema.diagnostics import DiagnosticsPing, DiagnosticsPingInput, DiagnosticsPingPayload, ServerInfo
from schema.extensions import CloseSession, ErrorContract


@strawberry.type(description="Everything that can be read.")
class Query:
    server_info: ServerInfo = strawberry.field(
        resolver=diagnostics_resolvers.server_info, description="What this server is. Public."
    )


@strawberry.type(description="Everything that can be changed.")
class Mutation:
    diagnostics_ping: DiagnosticsPingPayload = strawberry.mutation(
        resolver=diagnostics_resolvers.diagnostics_ping,
        description="Publish a ping to the subscribers of a topic, from this request or from a background job.",
    )


@strawberry.type(description="Streams of events over WebSocket (graphql-transport-ws).")
class Subscription:
    @strawberry.subscription(description="Pings published to a topic, from any API process or worker.")
    async def diagnostics_pings(
        self, info: strawberry.Info, topic: str
    ) -> AsyncGenerator[DiagnosticsPing, None]:
        async for ping in diagnostics_resolvers.diagnostics_pings(info, topic):
            yield ping


def build_schema(*, introspection: bool = True) -> strawberry.Schema:
    extensions: list = [
        ErrorContract,
        CloseSession,
        lambda: ParserCache(maxsize=1024),
        lambda: ValidationCache(maxsize=1024),
        lambda: MaxTokensLimiter(max_token_count=5000),
        lambda: MaxAliasesLimiter(max_alias_count=30),
        lambda: QueryDepthLimiter(max_depth=12),
    ]
    if not introspection:
        extensions.append(DisableIntrospection)
    return strawberry.Schema(
        query=Query,
        mutation=Mutation,
        subscription=Subscription,
        extensions=extensions,
        config=StrawberryConfig(disable_field_suggestions=not introspection),
    )


schema = build_schema()
