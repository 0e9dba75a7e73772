"""Diagnostics types: a ping that travels through broadcast (and optionally a worker) to subscribers."""

from __future__ import annotations

import strawberry

from schema.diagnostics.errors import DiagnosticsError


@strawberry.type(description="Result of diagnosticsPing.")
class DiagnosticsPingPayload:
    accepted: bool = strawberry.field(description="True when the ping was published or enqueued.")
    errors: list[DiagnosticsError] = strawberry.field(description="User errors; empty on success.")


@strawberry.type(description="A ping received by a diagnostics subscription.")
class DiagnosticsPing:
    topic: str = strawberry.field(description="The topic it was published to.")
    message: str = strawberry.field(description="The text that was published.")
    via: str = strawberry.field(description="`request` or `worker`: who published it.")


@strawberry.type(description="What this Parley server is.")
class ServerInfo:
    version: str = strawberry.field(description="Parley's version.")
    name: str = strawberry.field(description="Always `Parley`.")
