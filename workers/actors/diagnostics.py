"""Diagnostics: a job that proves the path API → broker → worker → broadcast → subscriber."""

from __future__ import annotations

import json

from domain.events.channels import diagnostics_channel
from workers.broker import parley_actor
from workers.runtime import resources


@parley_actor(name="diagnostics.echo", queue="default", max_retries=3, time_limit_ms=10_000)
async def diagnostics_echo(topic: str, message: str) -> None:
    payload = json.dumps({"message": message, "via": "worker"})
    await resources().publish(diagnostics_channel(topic), payload)
