"""Diagnostics types: a ping that travels through broadcast (and optionally a worker) to subscribers."""

from __future__ import annotations

from enum import Enum

import strawberry


@strawberry.enum(description="Why a diagnostics input was refused.")
class DiagnosticsErrorCode(Enum):
    INVALID = "INVALID"
    TOO_LONG = "TOO_LONG"


@strawberry.type(description="A user error of a diagnostics mutation.")
class DiagnosticsError:
    field: str | None = strawberry.field(description="The camelCase input field at fault, or null.")
    code: DiagnosticsErrorCode = strawberry.field(description="What went wrong.")
    message: str = strawberry.field(description="A human-readable explanation.")


@strawberry.input(description="A message to publish to the subscribers of a topic.")
class DiagnosticsPingInput:
    topic: str = strawberry.field(description="1 to 64 letters, digits, '.', '_' or '-'.")
    message: str = strawberry.field(description="Up to 1,000 characters.")
    via_worker: bool = strawberry.field(
        default=False, description="Publish from a background job instead of from this request."
    )


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
