"""Webhook jobs: the event-log consumer that fans events out to deliveries, and the delivery itself
(retried with the webhook schedule through Dramatiq's delayed queue)."""

from __future__ import annotations

import dramatiq

from domain.crypto import DecryptionError
from domain.webhooks import service
from workers.broker import parley_actor
from workers.runtime import resources, unit_of_work

FAN_OUT = "webhooks.fan_out"


@parley_actor(name=FAN_OUT, queue="webhooks", max_retries=10, time_limit_ms=120_000)
async def webhooks_fan_out(event_ids: list[int], outbox_id: int | None = None) -> None:
    async with unit_of_work() as session:
        await service.fan_out(session, event_ids)


# Retries follow the webhook schedule (Retry with a delay); the limit here only bounds unexpected
# errors (database down), far above the schedule's tries.
# A secret that cannot be decrypted (encryption key lost) will not fix itself: dead at once.
@parley_actor(
    name=service.DELIVER_ACTOR, queue="webhooks", max_retries=100, time_limit_ms=120_000, throws=(DecryptionError,)
)
async def webhooks_deliver(delivery_id: int, manual: bool = False, outbox_id: int | None = None) -> None:
    res = resources()
    result = await service.deliver(res.sessions, res.settings, delivery_id, manual=manual)
    if not result.done:
        raise dramatiq.Retry(delay=int((result.retry_in_seconds or 1) * 1000))
