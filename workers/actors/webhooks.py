"""Webhook jobs: the event-log consumer that fans events out to deliveries, and the delivery itself
(retried with the webhook schedule through Dramatiq's delayed queue)."""

from __future__ import annotations

import asyncio

import dramatiq

from domain.crypto import DecryptionError
from domain.webhooks import service
from workers import delivery_pool
from workers.broker import current_broker, parley_actor
from workers.middleware import Claim, current_claim
from workers.runtime import resources, unit_of_work

FAN_OUT = "webhooks.fan_out"


@parley_actor(name=FAN_OUT, queue="webhooks", max_retries=10, time_limit_ms=120_000)
async def webhooks_fan_out(event_ids: list[int], outbox_id: int | None = None) -> None:
    async with unit_of_work() as session:
        await service.fan_out(session, event_ids)


# Retries follow the webhook schedule. Run from the outbox (the normal case) the request itself is
# handed to the delivery pool (workers/delivery_pool.py) and the job thread is free at once; the
# retry is then scheduled by the pool. Otherwise (a job sent without an outbox row) the attempt runs
# here and a retry goes through Dramatiq's delayed queue. The retry limit only bounds unexpected
# errors (database down), far above the schedule's tries.
# A secret that cannot be decrypted (encryption key lost) will not fix itself: dead at once.
@parley_actor(
    name=service.DELIVER_ACTOR, queue="webhooks", max_retries=100, time_limit_ms=120_000, throws=(DecryptionError,)
)
async def webhooks_deliver(delivery_id: int, manual: bool = False, outbox_id: int | None = None) -> None:
    res = resources()
    prepared = await service.prepare(res.sessions, res.settings, delivery_id, manual=manual)
    if prepared is None:
        return
    pool = delivery_pool.current()
    claim = current_claim.get()
    if pool is None or claim is None:
        result = await service.attempt(res.sessions, res.settings, prepared)
        if not result.done:
            raise dramatiq.Retry(delay=int((result.retry_in_seconds or 1) * 1000))
        return
    if not pool.accepts(prepared.host):
        # This receiver has a long backlog in the pool already: let the sweeper send the job again in
        # a little while rather than queue more here.
        claim.defer_seconds = BACKLOG_DEFER_SECONDS
        return
    claim.handed_off = True
    pool.submit(prepared.host, lambda: _attempt_and_close(claim, prepared))


BACKLOG_DEFER_SECONDS = 5.0


async def _attempt_and_close(claim: Claim, prepared: service.Prepared) -> None:
    """Runs in the pool: one attempt, then the job's outbox row closed, or leased until its retry."""
    from domain.events import outbox

    res = resources()
    lease = res.settings.outbox_lease_seconds
    try:
        result = await service.attempt(res.sessions, res.settings, prepared)
    finally:
        if claim.owner is not None:
            claim.owner.finish(claim.outbox_id)  # from here the lease is ours to set
    async with res.sessions() as session, session.begin():
        if result.done:
            await outbox.complete(session, claim.outbox_id)
            return
        delay = result.retry_in_seconds or 1.0
        # The retry is sent through the broker's delay queue; should the broker lose it, the lease
        # (the delay and one lease more) runs out and the sweeper sends the job again.
        await outbox.renew(session, [claim.outbox_id], lease_seconds=delay + lease)
    message = webhooks_deliver.message_with_options(
        kwargs={"delivery_id": prepared.delivery_id, "manual": prepared.manual, "outbox_id": claim.outbox_id},
        outbox_id=claim.outbox_id,
    )
    try:
        await asyncio.to_thread((res.broker or current_broker()).enqueue, message, delay=int(delay * 1000))
    except Exception:  # noqa: BLE001 - the sweeper sends it when the lease runs out
        pass
