"""After a transaction commits: send its outbox jobs to the broker and tell sockets about ended
sessions. A failure here loses nothing — the jobs stay open in the outbox for the sweeper, which
also sends again every job the broker lost (see domain/outbox.py)."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Sequence
from datetime import timedelta
from typing import TYPE_CHECKING

import dramatiq
from sqlalchemy import select, update

from db.base import utcnow
from db.models import Event, OutboxJob
from domain import outbox
from infra.logs import get_logger

if TYPE_CHECKING:
    from infra.services import Services

log = get_logger("parley.relay")
SESSIONS_REVOKED_CHANNEL = "auth:sessions-revoked"


def _message(broker: dramatiq.Broker, job: OutboxJob) -> dramatiq.Message:
    actor = broker.get_actor(job.actor_name)
    options = {"outbox_id": job.id}
    if job.request_id:
        options["request_id"] = job.request_id
    return actor.message_with_options(kwargs={**job.kwargs, "outbox_id": job.id}, **options)


async def relay_jobs(services: Services, jobs: Sequence[OutboxJob]) -> int:
    """Enqueue the jobs and lease them; returns how many went out."""
    return await send_jobs(services.sessions, services.broker, jobs, lease_seconds=services.settings.outbox_lease_seconds)


async def send_jobs(sessions, broker: dramatiq.Broker, jobs: Sequence[OutboxJob], *, lease_seconds: float) -> int:
    """Hand committed jobs to the broker. They stay open in the outbox until their actor finishes:
    sending only leases them (a job not sent here is due for the sweeper after a short grace)."""
    sent: list[OutboxJob] = []
    for job in jobs:
        try:
            await asyncio.to_thread(broker.enqueue, _message(broker, job))
            sent.append(job)
        except Exception as exc:  # noqa: BLE001 - the sweeper retries
            log.warning("outbox.relay_failed", job_id=job.id, actor=job.actor_name, error=type(exc).__name__)
            break
    if sent:
        async with sessions() as session, session.begin():
            await outbox.mark_sent(session, sent, lease_seconds=lease_seconds)
    return len(sent)


async def sweep_outbox(sessions, broker: dramatiq.Broker, *, lease_seconds: float, batch: int = 100) -> int:
    """Send again the open jobs whose lease ran out: never sent (broker down, process died after
    commit), lost by the broker (Redis restarted without its data), or their worker died. A copy that
    arrives after the job finished is skipped by the worker. Several sweepers may run at once: rows
    are locked with SKIP LOCKED on PostgreSQL."""
    total = 0
    while True:
        async with sessions() as session, session.begin():
            jobs = await outbox.due_jobs(session, batch=batch)
            sent = []
            for job in jobs:
                try:
                    await asyncio.to_thread(broker.enqueue, _message(broker, job))
                except Exception as exc:  # noqa: BLE001
                    log.warning("outbox.sweep_failed", job_id=job.id, error=type(exc).__name__)
                    break
                sent.append(job)
            if sent:
                await outbox.mark_sent(session, sent, lease_seconds=lease_seconds)
                log.info("outbox.resent", jobs=len(sent), first_id=sent[0].id)
        total += len(sent)
        if len(sent) < batch:
            return total


def event_channels(event: Event) -> list[str]:
    if event.recipient_user_id is not None:
        return [user_channel(event.account_id, event.recipient_user_id)]
    channels = [f"account:{event.account_id}"]
    if event.conversation_id is not None:
        channels.append(f"conversation:{event.conversation_id}")
    if event.contact_id is not None:
        channels.append(f"contact:{event.contact_id}")  # the website widget's stream (resolvers/widget.py)
    return channels


def user_channel(account_id: int, user_id: int) -> str:
    return f"user:{account_id}:{user_id}"


def event_message(event: Event) -> str:
    return json.dumps({"id": event.id, "position": event.position, "type": event.type})


async def publish_events(broadcast, events: Sequence[Event]) -> list[int]:
    """Publish committed events' ids to their channels; returns the ids that went out."""
    sent = []
    for event in events:
        try:
            for channel in event_channels(event):
                await broadcast.publish(channel, event_message(event))
        except Exception as exc:  # noqa: BLE001 - the sweeper publishes it later
            log.warning("events.publish_failed", event_id=event.id, error=type(exc).__name__)
            break
        sent.append(event.id)
    return sent


async def relay_events(services: Services, events: Sequence[Event]) -> None:
    await publish_and_mark(services.sessions, services.broadcast, events)


async def publish_and_mark(sessions, broadcast, events: Sequence[Event]) -> None:
    sent = await publish_events(broadcast, events)
    if sent:
        async with sessions() as session, session.begin():
            await session.execute(update(Event).where(Event.id.in_(sent)).values(relayed_at=utcnow()))


async def sweep_events(sessions, broadcast, *, older_than: timedelta = timedelta(seconds=5), batch: int = 500) -> int:
    """Publish events that stayed unrelayed (Redis down, process died between commit and relay)."""
    async with sessions() as session, session.begin():
        stmt = (
            select(Event)
            .where(Event.relayed_at.is_(None), Event.created_at < utcnow() - older_than)
            .order_by(Event.id)
            .limit(batch)
        )
        if session.bind.dialect.name == "postgresql":
            stmt = stmt.with_for_update(skip_locked=True)
        events = list((await session.scalars(stmt)).all())
        sent = await publish_events(broadcast, events)
        if sent:
            await session.execute(update(Event).where(Event.id.in_(sent)).values(relayed_at=utcnow()))
    return len(sent)


async def after_commit(
    services: Services, jobs: Sequence[OutboxJob], revoked_session_ids: Sequence[str], events: Sequence[Event] = ()
) -> None:
    if events:
        await relay_events(services, events)
    if jobs:
        await relay_jobs(services, jobs)
    if revoked_session_ids:
        try:
            await services.broadcast.publish(SESSIONS_REVOKED_CHANNEL, json.dumps(list(revoked_session_ids)))
        except Exception as exc:  # noqa: BLE001 - sockets also re-check their session periodically
            log.warning("auth.revocation_broadcast_failed", error=type(exc).__name__)
