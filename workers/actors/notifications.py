"""Notifications from the event log: the fan-out job, and the periodic sending of email digests."""

from __future__ import annotations

from datetime import timedelta

from workers.broker import parley_actor
from workers.runtime import resources, unit_of_work


@parley_actor(name="notifications.fan_out", queue="default", max_retries=10, time_limit_ms=60_000)
async def notifications_fan_out(event_ids: list[int], outbox_id: int | None = None) -> None:
    """Make the notifications of these events (idempotent per user, event and type), then announce
    each new one as a `notification.created` event."""
    from domain.notifications import fanout

    res = resources()
    delay = timedelta(seconds=res.settings.notification_email_delay_seconds)
    async with unit_of_work() as session:
        await fanout.fan_out(session, event_ids, email_delay=delay)


async def send_email_digests(sessions, broker) -> int:
    """Periodic: queue the email digests that are due, and send their jobs right after commit (the
    outbox sweeper sends them later if that fails)."""
    from domain.events import Relay, unit_of_work
    from domain.notifications import digests

    relay = Relay(sessions, broker, None, resources().settings.outbox_lease_seconds)
    async with unit_of_work(sessions, relay) as session:
        return await digests.send_due_email_digests(session)
