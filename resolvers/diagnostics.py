"""Resolvers of the diagnostics fields."""

from __future__ import annotations

import json
from collections.abc import AsyncGenerator

from strawberry.types import Info

from domain import diagnostics
from domain.errors import ValidationError
from infra.broadcast import SubscriberOverflow
from infra.version import __version__
from resolvers.context import Context
from schema.core.errors import errors_from
from schema.diagnostics.errors import DiagnosticsError, DiagnosticsErrorCode
from schema.diagnostics.inputs import DiagnosticsPingInput
from schema.diagnostics.types import DiagnosticsPing, DiagnosticsPingPayload, ServerInfo

ECHO_JOB = "diagnostics.echo"  # workers/actors/diagnostics.py


async def server_info() -> ServerInfo:
    return ServerInfo(version=__version__, name="Parley")


def _require_enabled(info: Info[Context, None]) -> None:
    if not info.context.settings.diagnostics:
        from domain.errors import Forbidden

        raise Forbidden("Diagnostics are disabled on this server")


async def diagnostics_ping(info: Info[Context, None], input: DiagnosticsPingInput) -> DiagnosticsPingPayload:
    _require_enabled(info)
    try:
        diagnostics.validate_ping(input.topic, input.message)
    except ValidationError as exc:
        return DiagnosticsPingPayload(accepted=False, errors=errors_from(exc, DiagnosticsError, DiagnosticsErrorCode))
    if input.via_worker:
        # By name: the broker knows the job; the GraphQL layer does not import the workers.
        services = info.context.services
        echo = services.broker.get_actor(ECHO_JOB) if services.broker is not None else None
        await services.enqueue(echo, input.topic, input.message)
    else:
        payload = json.dumps({"message": input.message, "via": "request"})
        await info.context.broadcast.publish(diagnostics.channel_for(input.topic), payload)
    return DiagnosticsPingPayload(accepted=True, errors=[])


async def diagnostics_pings(info: Info[Context, None], topic: str) -> AsyncGenerator[DiagnosticsPing, None]:
    _require_enabled(info)
    try:
        diagnostics.validate_ping(topic, "")
    except ValidationError as exc:
        from domain.errors import BadUserInput

        raise BadUserInput(exc.errors[0].message, field="topic") from None
    async with info.context.broadcast.subscribe(diagnostics.channel_for(topic)) as subscriber:
        try:
            async for event in subscriber:
                data = json.loads(event.message)
                if "message" not in data:
                    continue  # a resync marker after a Redis reconnect
                yield DiagnosticsPing(topic=topic, message=data["message"], via=data["via"])
        except SubscriberOverflow:
            return
