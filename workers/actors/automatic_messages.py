"""Automatic messages: the CSAT survey email of a resolved conversation in an email inbox."""

from __future__ import annotations

from workers.broker import parley_actor
from workers.runtime import resources, unit_of_work


@parley_actor(name="automatic_messages.csat_email", queue="email", max_retries=5, time_limit_ms=60_000)
async def automatic_messages_csat_email(conversation_id: int, outbox_id: int | None = None) -> None:
    """Queue the `email.send` job of the survey email, with its signed link."""
    from domain.automatic_messages import csat_survey

    async with unit_of_work() as session:
        await csat_survey.queue_email(session, conversation_id, resources().settings)
