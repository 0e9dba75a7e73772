"""Root fields of diagnostics and server information."""

from __future__ import annotations

from collections.abc import AsyncGenerator

import strawberry

from domain.accounts.policy import Rule
from resolvers import diagnostics as diag
from schema.core.access import field, mutation
from schema.diagnostics.types import DiagnosticsPing, DiagnosticsPingPayload, ServerInfo


@strawberry.type
class DiagnosticsQuery:
    server_info: ServerInfo = field(diag.server_info, Rule.public, "What this server is.")


@strawberry.type
class DiagnosticsMutation:
    diagnostics_ping: DiagnosticsPingPayload = mutation(
        diag.diagnostics_ping,
        Rule.public,
        "Publish a ping to a topic's subscribers, from this request or a background job. Off in production unless enabled.",
    )


@strawberry.type
class DiagnosticsSubscription:
    @strawberry.subscription(
        description="Pings published to a topic, from any API process or worker. Access: public (diagnostics setting)."
    )
    async def diagnostics_pings(self, info: strawberry.Info, topic: str) -> AsyncGenerator[DiagnosticsPing, None]:
        async for ping in diag.diagnostics_pings(info, topic):
            yield ping
