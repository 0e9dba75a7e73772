"""Agents' replies in email inboxes, sent to the contact by email (consumer of `message.created`)."""

from __future__ import annotations

from workers.broker import parley_actor
from workers.runtime import resources, unit_of_work


@parley_actor(name="messages.email_reply", queue="email", max_retries=10, time_limit_ms=60_000)
async def messages_email_reply(event_ids: list[int], outbox_id: int | None = None) -> None:
    """Queue an `email.send` job per agent reply, with the reply's threading headers."""
    from domain import email_replies

    async with unit_of_work() as session:
        await email_replies.queue_replies(session, event_ids, settings=resources().settings)
