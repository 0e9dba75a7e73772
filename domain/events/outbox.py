"""The job outbox: jobs are written in the transaction of the change that causes them and sent to the
broker only after it commits (by the request, or later by the sweeper).

A row stays open until the job's actor has finished (or the job failed for good), whatever the
broker holds: every send leases the row, the worker running the job renews the lease, and the
sweeper sends again every open job whose lease ran out. So a broker that loses its data (a Redis
restart without persistence) or a worker killed mid-job costs a delay, never the job."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import BigInteger, DateTime, bindparam, func, select, text, update
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.ext.asyncio import AsyncSession

from db.base import utcnow
from db.models import Event, OutboxJob
from db.session import dialect_name, execute_rowcount
from domain.events.pending import Job, pending
from infra import traces
from infra.logs import request_id_var

# The key of the job's arguments that holds the trace context of the request that wrote it.
TRACEPARENT_KEY = "_traceparent"

# A job the committing request did not send (it died, the broker was down) is due this long after its
# commit; the request normally sends it within milliseconds.
RELAY_GRACE = timedelta(seconds=10)
# Each send of a job still open waits twice as long as the one before (a long backlog in the broker
# is not flooded with copies), up to this.
MAX_LEASE = timedelta(hours=1)


def add_job(session: AsyncSession, actor_name: str, **kwargs: Any) -> OutboxJob:
    """Write a job for the actor of this name into the session's transaction; it is sent after the
    commit (see domain/events/unit.py)."""
    job = OutboxJob(
        actor_name=str(actor_name),
        kwargs=traced(kwargs),
        request_id=request_id_var.get(),
        lease_until=utcnow() + RELAY_GRACE,
        sends=0,
    )
    session.add(job)
    pending(session).jobs.append(job)
    return job


def traced(kwargs: dict[str, Any]) -> dict[str, Any]:
    """A job's arguments with the trace context of the request writing it, when traced (read back out
    by `job_kwargs`): the worker continues the trace."""
    traceparent = traces.current_traceparent()
    return kwargs if traceparent is None else {**kwargs, TRACEPARENT_KEY: traceparent}


class InsertedJob:
    """What the relay needs of a job another statement inserted (never sent yet): a plain record,
    not an ORM object, which cost more to build than the statement that wrote the row."""

    __slots__ = ("actor_name", "id", "kwargs", "request_id")
    sends = 0

    def __init__(self, id: int, actor_name: str, kwargs: dict[str, Any], request_id: str | None) -> None:
        self.id, self.actor_name, self.kwargs, self.request_id = id, actor_name, kwargs, request_id


def inserted_job(session: AsyncSession, job_id: int, actor_name: str, kwargs: dict[str, Any]) -> InsertedJob:
    """A job another statement inserted into the session's transaction (domain/events/log.py), to be
    sent after the commit like those of `add_job`."""
    job = InsertedJob(job_id, actor_name, kwargs, request_id_var.get())
    pending(session).jobs.append(job)
    return job


def job_kwargs(job: Job) -> tuple[dict[str, Any], str | None]:
    """The actor's arguments of a job, and the `traceparent` of the request that wrote it (if traced)."""
    kwargs = dict(job.kwargs or {})
    traceparent = kwargs.pop(TRACEPARENT_KEY, None)
    return kwargs, traceparent if isinstance(traceparent, str) else None


def lease_after_send(sends: int, lease_seconds: float) -> timedelta:
    """The lease of a job sent `sends` times (1 = the first send)."""
    return min(
        timedelta(seconds=lease_seconds * 2 ** max(sends - 1, 0)), max(MAX_LEASE, timedelta(seconds=lease_seconds))
    )


async def mark_sent(
    session: AsyncSession, jobs: Sequence[Job], *, lease_seconds: float, now: datetime | None = None
) -> None:
    """Lease jobs just handed to the broker (each job's `sends` as it was before this send)."""
    now = now or utcnow()
    by_sends: dict[int, list[int]] = {}
    for job in jobs:
        by_sends.setdefault(job.sends or 0, []).append(job.id)
    for sends, ids in sorted(by_sends.items()):
        await session.execute(
            update(OutboxJob)
            .where(OutboxJob.id.in_(ids), OutboxJob.completed_at.is_(None))
            .values(
                relayed_at=func.coalesce(OutboxJob.relayed_at, now),
                sends=OutboxJob.sends + 1,
                lease_until=now + lease_after_send(sends + 1, lease_seconds),
            )
            .execution_options(synchronize_session=False)
        )


# PostgreSQL: what a relay sent, marked in one statement — the events published and the jobs sent,
# each job leased after its own send count. Its text never changes with the number of rows (arrays,
# not IN lists), so asyncpg prepares it once per connection.
_MARK_RELAYED = text(
    """
    WITH published AS (
      UPDATE events SET relayed_at = :now WHERE id = ANY(:event_ids)
    )
    UPDATE outbox_jobs SET relayed_at = coalesce(outbox_jobs.relayed_at, :now), sends = outbox_jobs.sends + 1,
      lease_until = sent.lease_until
    FROM unnest(:job_ids, :leases) AS sent(id, lease_until)
    WHERE outbox_jobs.id = sent.id AND outbox_jobs.completed_at IS NULL
    """
).bindparams(
    bindparam("now", type_=DateTime(timezone=True)),
    bindparam("event_ids", type_=ARRAY(BigInteger)),
    bindparam("job_ids", type_=ARRAY(BigInteger)),
    bindparam("leases", type_=ARRAY(DateTime(timezone=True))),
)


async def mark_relayed(
    session: AsyncSession, event_ids: Sequence[int], jobs: Sequence[Job], *, lease_seconds: float
) -> None:
    """After a relay: its published events are relayed and its sent jobs leased (as `mark_sent`).
    One statement on PostgreSQL; elsewhere one per kind."""
    now = utcnow()
    if dialect_name(session) == "postgresql":
        await session.execute(
            _MARK_RELAYED,
            {
                "now": now,
                "event_ids": list(event_ids),
                "job_ids": [job.id for job in jobs],
                "leases": [now + lease_after_send((job.sends or 0) + 1, lease_seconds) for job in jobs],
            },
        )
        return
    if event_ids:
        await session.execute(update(Event).where(Event.id.in_(event_ids)).values(relayed_at=now))
    if jobs:
        await mark_sent(session, jobs, lease_seconds=lease_seconds, now=now)


async def due_jobs(session: AsyncSession, *, batch: int, now: datetime | None = None) -> list[OutboxJob]:
    """Open jobs whose lease ran out, oldest first; locked, skipping rows another sweeper holds."""
    stmt = (
        select(OutboxJob)
        .where(OutboxJob.completed_at.is_(None), OutboxJob.lease_until < (now or utcnow()))
        .order_by(OutboxJob.lease_until, OutboxJob.id)
        .limit(batch)
    )
    if dialect_name(session) == "postgresql":
        stmt = stmt.with_for_update(skip_locked=True)
    return list((await session.scalars(stmt)).all())


async def claim(session: AsyncSession, outbox_id: int, *, lease_seconds: float) -> bool:
    """A worker starts the job: renew its lease. False when the job is finished already (or gone):
    the copy is not run. A row closed when it was merely sent (before jobs stayed open until done,
    `sends` 0) still runs: the broker may hold its only copy."""
    renewed = await execute_rowcount(
        session,
        update(OutboxJob)
        .where(OutboxJob.id == outbox_id, OutboxJob.completed_at.is_(None))
        .values(lease_until=utcnow() + timedelta(seconds=lease_seconds))
        .execution_options(synchronize_session=False),
    )
    if renewed > 0:
        return True
    return await session.scalar(select(OutboxJob.sends).where(OutboxJob.id == outbox_id)) == 0


async def renew(session: AsyncSession, ids: Sequence[int], *, lease_seconds: float) -> None:
    if not ids:
        return
    await session.execute(
        update(OutboxJob)
        .where(OutboxJob.id.in_(list(ids)), OutboxJob.completed_at.is_(None))
        .values(lease_until=utcnow() + timedelta(seconds=lease_seconds))
        .execution_options(synchronize_session=False)
    )


async def complete(session: AsyncSession, outbox_id: int, *, dead: bool = False) -> None:
    """The job finished (or failed for good: `dead`, recorded in dead_jobs); it is never sent again."""
    await session.execute(
        update(OutboxJob)
        .where(OutboxJob.id == outbox_id, OutboxJob.completed_at.is_(None))
        .values(completed_at=utcnow(), dead=dead, lease_until=None)
        .execution_options(synchronize_session=False)
    )


async def backlog(session: AsyncSession) -> dict[str, int]:
    """Open jobs per consumer (actor name): what `/metrics` shows as the outbox backlog."""
    rows = await session.execute(
        select(OutboxJob.actor_name, func.count())
        .where(OutboxJob.completed_at.is_(None))
        .group_by(OutboxJob.actor_name)
    )
    return {name: int(count) for name, count in rows.all()}
