"""After a transaction commits: publish its events, send its outbox jobs to the broker and tell
sockets about ended sessions. A failure here loses nothing: the jobs stay open in the outbox and the
events unrelayed in the log, for the sweepers (also here), which also send again every job the
broker lost (see domain/events/outbox.py)."""

from __future__ import annotations

import asyncio
import json
import weakref
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from datetime import timedelta
from typing import TYPE_CHECKING, Any, Protocol, TypeVar

import dramatiq
from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from db.base import utcnow
from db.models import Event, OutboxJob
from db.session import dialect_name
from domain.events import outbox
from domain.events.channels import AUTH_CHANGED_CHANNEL, AUTH_EPOCH_KEY, SESSIONS_REVOKED_CHANNEL, event_channels
from domain.events.pending import Job, PendingWork
from infra import metrics, traces
from infra.logs import get_logger

if TYPE_CHECKING:
    from infra.services import Services

log = get_logger("parley.relay")

J = TypeVar("J", bound=Job)


class Publisher(Protocol):
    """Where events' ids go: the broadcast, or a Redis client."""

    def publish(self, channel: str, message: str) -> Awaitable[Any]: ...


def _message(broker: dramatiq.Broker, job: Job) -> dramatiq.Message[Any]:
    actor = broker.get_actor(job.actor_name)
    # `outbox_send` numbers this send of the job: with it the broker names the message after the job
    # (workers/broker.py), so the sweeper can ask whether the copy it sent still waits in the queue.
    options: dict[str, Any] = {"outbox_id": job.id, "outbox_send": (job.sends or 0) + 1}
    if job.request_id:
        options["request_id"] = job.request_id
    kwargs, traceparent = outbox.job_kwargs(job)
    if traceparent:
        options["traceparent"] = traceparent
    return actor.message_with_options(kwargs={**kwargs, "outbox_id": job.id}, **options)


async def enqueue_on_loop(broker: dramatiq.Broker, jobs: Sequence[J]) -> list[J]:
    """Hand jobs to the broker, on the event loop where the broker can (Dramatiq's Redis client
    otherwise blocks: `enqueue_all` in a thread); returns the jobs that went out."""
    lean = getattr(broker, "lean_dispatch", None)
    if lean is not None and not traces.enabled() and lean() is not None:  # traced: redis-py's calls are spanned
        try:
            await broker.enqueue_many_async([_message(broker, job) for job in jobs])  # type: ignore[attr-defined]
            return list(jobs)
        except Exception as exc:  # noqa: BLE001 - the sweeper retries
            log.warning("outbox.relay_failed", jobs=len(jobs), error=type(exc).__name__)
            return []
    return await asyncio.to_thread(enqueue_all, broker, jobs)


def enqueue_all(broker: dramatiq.Broker, jobs: Sequence[J]) -> list[J]:
    """Hand jobs to the broker (blocking: run it in a thread), in one round trip where the broker
    can pipeline; returns the jobs that went out (a prefix of `jobs`)."""
    many = getattr(broker, "enqueue_many", None)
    if many is not None and len(jobs) > 1:
        try:
            many([_message(broker, job) for job in jobs])
            return list(jobs)
        except Exception as exc:  # noqa: BLE001 - the sweeper retries
            log.warning("outbox.relay_failed", jobs=len(jobs), error=type(exc).__name__)
            return []
    sent: list[J] = []
    for job in jobs:
        try:
            broker.enqueue(_message(broker, job))
        except Exception as exc:  # noqa: BLE001 - the sweeper retries
            log.warning("outbox.relay_failed", job_id=job.id, actor=job.actor_name, error=type(exc).__name__)
            break
        sent.append(job)
    return sent


# Asked by the sweeper about the last copy it sent of each due job, as (queue, job id, send number):
# True for a copy still waiting in its queue. None: the broker cannot tell (every due job is sent).
QueueProbe = Callable[[list[tuple[str, int, int]]], list[bool]]


async def sweep_outbox(
    sessions: async_sessionmaker[AsyncSession],
    broker: dramatiq.Broker,
    *,
    lease_seconds: float,
    batch: int = 100,
    probe: QueueProbe | None = None,
) -> int:
    """Send again the open jobs whose lease ran out: never sent (broker down, process died after
    commit), lost by the broker (Redis restarted without its data), or their worker died. A copy that
    arrives after the job finished is skipped by the worker. Several sweepers may run at once: rows
    are locked with SKIP LOCKED on PostgreSQL.

    A job whose last copy still waits in its queue (a backlog longer than a lease) is not sent again,
    only leased anew: otherwise every lease of a long backlog would add a copy of every waiting job,
    and the worker would spend its time skipping them."""
    total = 0
    while True:
        async with sessions() as session, session.begin():
            due = await outbox.due_jobs(session, batch=batch)
            jobs = await _not_waiting(session, broker, due, probe, lease_seconds)
            sent = await asyncio.to_thread(enqueue_all, broker, jobs) if jobs else []
            if sent:
                await outbox.mark_sent(session, sent, lease_seconds=lease_seconds)
                log.info("outbox.resent", jobs=len(sent), first_id=sent[0].id)
        total += len(sent)
        if len(due) < batch or len(sent) < len(jobs):
            return total


async def _not_waiting(
    session: AsyncSession,
    broker: dramatiq.Broker,
    jobs: Sequence[OutboxJob],
    probe: QueueProbe | None,
    lease_seconds: float,
) -> list[OutboxJob]:
    """The due jobs to send again; those whose last copy waits in its queue get a new lease instead."""
    sent_before = [job for job in jobs if job.sends]
    if probe is None or not sent_before:
        return list(jobs)
    try:
        items = [(broker.get_actor(job.actor_name).queue_name, job.id, job.sends) for job in sent_before]
        waiting_flags = await asyncio.to_thread(probe, items)
    except Exception as exc:  # noqa: BLE001 - cannot tell: send them (a copy too many is harmless)
        log.warning("outbox.probe_failed", error=type(exc).__name__)
        return list(jobs)
    waiting = {job.id for job, flag in zip(sent_before, waiting_flags, strict=True) if flag}
    if waiting:
        await outbox.renew(session, sorted(waiting), lease_seconds=lease_seconds)
        log.info("outbox.still_queued", jobs=len(waiting))
    return [job for job in jobs if job.id not in waiting]


def event_message(event: Event) -> str:
    """An event's announcement: its id and type, and its position where the writer knew it (on
    PostgreSQL the COMMIT numbers the events, domain/events/log.py)."""
    if event.position is None:
        return json.dumps({"id": event.id, "type": event.type})
    return json.dumps({"id": event.id, "position": event.position, "type": event.type})


async def publish_events(broadcast: Publisher, events: Sequence[Event]) -> list[int]:
    """Publish committed events' ids to their channels (in one round trip when the publisher has
    `publish_many`); returns the ids that went out."""
    many = getattr(broadcast, "publish_many", None)
    if many is not None:
        messages = [(channel, event_message(event)) for event in events for channel in event_channels(event)]
        try:
            await many(messages)
        except Exception as exc:  # noqa: BLE001 - the sweeper publishes them later
            log.warning("events.publish_failed", events=len(events), error=type(exc).__name__)
            return []
        return [event.id for event in events]
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


async def sweep_events(
    sessions: async_sessionmaker[AsyncSession],
    broadcast: Publisher,
    *,
    older_than: timedelta = timedelta(seconds=5),
    batch: int = 500,
) -> int:
    """Publish events that stayed unrelayed (Redis down, process died between commit and relay)."""
    async with sessions() as session, session.begin():
        stmt = (
            select(Event)
            .where(Event.relayed_at.is_(None), Event.created_at < utcnow() - older_than)
            .order_by(Event.id)
            .limit(batch)
        )
        if dialect_name(session) == "postgresql":
            stmt = stmt.with_for_update(skip_locked=True)
        events = list((await session.scalars(stmt)).all())
        sent = await publish_events(broadcast, events)
        if sent:
            await session.execute(update(Event).where(Event.id.in_(sent)).values(relayed_at=utcnow()))
    return len(sent)


@dataclass(frozen=True)
class Relay:
    """Where a unit of work's committed work goes. Without a broker the jobs wait for the outbox
    sweeper; without a publisher (anything with `async publish(channel, message)`) the events wait
    for the event sweeper."""

    sessions: Any  # a session factory, for marking what went out
    broker: dramatiq.Broker | None
    publisher: Any | None
    lease_seconds: float
    # A Redis client: a change to credentials bumps their epoch there before it is announced
    # (domain/accounts/auth_cache.py), so the next request to any instance sees it.
    redis: Any | None = None
    # This process's cache of resolved credentials (domain/accounts/auth_cache.py), forgotten as
    # soon as a change to credentials committed, before the writer's response.
    auth_cache: Any | None = None

    @classmethod
    def of(cls, services: Services) -> Relay:
        """The app's: its broker, broadcast and Redis."""
        return cls(
            services.sessions,
            services.broker,
            services.broadcast,
            services.settings.outbox_lease_seconds,
            services.redis,
            getattr(services, "auth_cache", None),
        )

    async def after_commit(self, work: PendingWork) -> None:
        """Relay what a committed transaction caused. Never raises for a failure of the broker,
        the broadcast or the database: the change is committed, and the sweepers relay it later.
        Transactions that commit while another's relay is under way are relayed together once it
        ends (one publish, one pipeline to the broker, one statement marking each kind), and each
        caller returns when its own work went out."""
        if work.finalized or work.jobs:
            await _batch_for(self).submit(work)
        auth_changed = bool(work.auth_changed or work.revoked_session_ids)
        if auth_changed and self.auth_cache is not None:
            self.auth_cache.invalidate()  # this process's next request resolves afresh, whatever Redis says
        if auth_changed and self.redis is not None:
            try:
                await self.redis.incr(AUTH_EPOCH_KEY)
            except Exception as exc:  # noqa: BLE001 - the announcement and the caches' max age remain
                log.warning("auth.epoch_failed", error=type(exc).__name__)
        if auth_changed and self.publisher is not None:
            try:
                # Before the sockets hear of it: the next request anywhere authenticates afresh.
                await self.publisher.publish(AUTH_CHANGED_CHANNEL, "1")
            except Exception as exc:  # noqa: BLE001 - caches also expire after a short max age
                log.warning("auth.change_broadcast_failed", error=type(exc).__name__)
        if work.revoked_session_ids and self.publisher is not None:
            try:
                await self.publisher.publish(SESSIONS_REVOKED_CHANNEL, json.dumps(list(work.revoked_session_ids)))
            except Exception as exc:  # noqa: BLE001 - sockets also re-check their session periodically
                log.warning("auth.revocation_broadcast_failed", error=type(exc).__name__)

    async def relay_together(self, works: Sequence[PendingWork]) -> None:
        """Publish the events and send the jobs of these committed transactions, then mark what went
        out (each UPDATE on its own, without a transaction; what is not marked, the sweepers send
        again)."""
        events = [event for work in works for event in work.finalized]
        jobs = [job for work in works for job in work.jobs]
        try:
            published: list[int] = []
            sent: list[Job] = []
            # The broadcast and the broker are told at once.
            enqueued = (
                asyncio.ensure_future(enqueue_on_loop(self.broker, jobs)) if jobs and self.broker is not None else None
            )
            try:
                if events and self.publisher is not None:
                    published = await publish_events(self.publisher, events)
                    _observe_relayed(events, published)
            finally:
                if enqueued is not None:
                    sent = await enqueued
            if published or sent:
                async with self.sessions() as session:
                    if dialect_name(session) == "postgresql":
                        await session.connection(execution_options={"isolation_level": "AUTOCOMMIT"})
                    await outbox.mark_relayed(session, published, sent, lease_seconds=self.lease_seconds)
                    await session.commit()  # nothing to commit on PostgreSQL; on SQLite, the transaction
        except Exception:  # the sweepers relay it later
            log.warning("relay.after_commit_failed", exc_info=True)


class _RelayBatch:
    """The relays of one process and event loop: a transaction's work waits while another relay is
    under way and goes out with everything else that waited (group commit, applied to the relay)."""

    def __init__(self, relay: Relay) -> None:
        self.relay = relay
        self.loop = asyncio.get_running_loop()
        self.waiting: list[tuple[PendingWork, asyncio.Future[None]]] = []
        self.draining: asyncio.Task[None] | None = None

    async def submit(self, work: PendingWork) -> None:
        done: asyncio.Future[None] = self.loop.create_future()
        self.waiting.append((work, done))
        if self.draining is None:
            self.draining = self.loop.create_task(self._drain())
        await done

    async def _drain(self) -> None:
        try:
            while self.waiting:
                taken, self.waiting = self.waiting, []
                try:
                    await self.relay.relay_together([work for work, _ in taken])
                finally:
                    for _, done in taken:
                        if not done.done():
                            done.set_result(None)
        finally:
            self.draining = None


# One batch per (session factory, broker, publisher) and event loop: the app's requests share one.
_batches: weakref.WeakKeyDictionary[Any, dict[tuple[int, int, float], _RelayBatch]] = weakref.WeakKeyDictionary()


def _batch_for(relay: Relay) -> _RelayBatch:
    key = (id(relay.broker), id(relay.publisher), relay.lease_seconds)
    try:
        by_key = _batches.setdefault(relay.sessions, {})
    except TypeError:  # a session factory that cannot be weakly referenced: a batch of its own
        return _RelayBatch(relay)
    batch = by_key.get(key)
    if (
        batch is None
        or batch.loop is not asyncio.get_running_loop()
        or batch.relay.broker is not relay.broker  # the ids in the key belonged to objects since gone
        or batch.relay.publisher is not relay.publisher
    ):
        batch = by_key[key] = _RelayBatch(relay)
    return batch


def _observe_relayed(events: list[Event], published: list[int]) -> None:
    done = set(published)
    now = utcnow()
    for event in events:
        if event.id in done:
            metrics.events_relayed_total.inc()
            if event.created_at is not None:
                metrics.relay_lag_seconds.observe(max(0.0, (now - event.created_at).total_seconds()))
