"""Automation rules: the event-log consumer that runs an account's rules after commit."""

from __future__ import annotations

from workers.broker import parley_actor
from workers.runtime import unit_of_work


@parley_actor(name="automation.run", queue="default", max_retries=10, time_limit_ms=60_000)
async def automation_run(event_ids: list[int], outbox_id: int | None = None) -> None:
    """Run the automation rules these conversation and message events trigger (domain/automation/engine.py)."""
    from domain.automation import engine

    async with unit_of_work() as session:
        await engine.run(session, event_ids)
