"""The event log: every change anyone may want to hear about writes an event in the same transaction.

Events wait in the session until `finalize` (called right before commit). Their per-account
positions come from the account row, whose lock lasts until the transaction ends, so positions
become visible in commit order. On PostgreSQL the COMMIT itself takes them (a deferred trigger,
migration 0027): the row is locked only inside the COMMIT, not across the client's round trips. On
SQLite, and for a large batch, `finalize` takes them from the row right before the commit."""

from __future__ import annotations

from collections import defaultdict
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession

from db.base import utcnow
from db.models import Account, Event
from db.repositories import events as events_repo
from db.session import dialect_name
from domain.events.enums import CONSUMERS, PERSONAL_TYPES, Consumer, EventType
from domain.events.outbox import RELAY_GRACE, add_job, inserted_job, traced
from domain.events.pending import pending, take
from infra.logs import request_id_var

# A transaction with at most this many events has them numbered by its COMMIT (PostgreSQL); a larger
# one (an import, a bulk change) takes the account's counter once for all of them before it commits.
NUMBERED_AT_COMMIT = 50


def record(
    session: AsyncSession,
    *,
    account_id: int,
    type: EventType | str,
    conversation_id: int | None = None,
    contact_id: int | None = None,
    inbox_id: int | None = None,
    message_id: int | None = None,
    private: bool = False,
    actor_user_id: int | None = None,
    recipient_user_id: int | None = None,
    payload: dict[str, Any] | None = None,
    message: Any = None,
    not_for: frozenset[Consumer] = frozenset(),
) -> Event:
    """Log an event in the session's transaction. `message` may be a Message not flushed yet: its id
    is filled in by `finalize`. Events addressed to one user name them in `payload["user_id"]` when
    `recipient_user_id` is not given. `not_for`: consumers the writer knows would find nothing to do
    with this event (an agent's reply in a chat inbox sends no email): no job of theirs is written
    for it."""
    if recipient_user_id is None and type in PERSONAL_TYPES and payload and payload.get("user_id") is not None:
        recipient_user_id = int(payload["user_id"])
    event = Event(
        account_id=account_id,
        type=str(type),
        conversation_id=conversation_id,
        contact_id=contact_id,
        inbox_id=inbox_id,
        message_id=message_id,
        private=private,
        actor_user_id=actor_user_id,
        recipient_user_id=recipient_user_id,
        payload=payload or {},
    )
    work = pending(session)
    if message is not None:
        work.messages[id(event)] = message
    if not_for:
        work.not_for[id(event)] = not_for
    work.events.append(event)
    return event


async def finalize(session: AsyncSession) -> list[Event]:
    """Number and insert the pending events, and write one outbox job per interested consumer into
    the same transaction (so the fan-out survives a broker outage and runs at least once; each
    consumer is idempotent by event id). Call last in the transaction, right before commit."""
    work = pending(session)
    batch, refs, skip = work.events, work.messages, work.not_for
    work.events, work.messages, work.not_for = [], {}, {}
    if not batch:
        return []
    at_commit = dialect_name(session) == "postgresql" and len(batch) <= NUMBERED_AT_COMMIT
    if refs or at_commit:
        # Gives the referenced messages their ids (and, numbered by the COMMIT, writes everything
        # else before the events).
        await session.flush()
        for event in batch:
            if id(event) in refs:
                event.message_id = refs[id(event)].id
    consumers = _consumers(batch, skip)
    if at_commit:
        await _insert_for_commit_to_number(session, batch, consumers)
        work.finalized.extend(batch)
        return batch
    by_account: dict[int, list[Event]] = defaultdict(list)
    for event in batch:
        by_account[event.account_id].append(event)
    for account_id in sorted(by_account):  # a fixed order: no deadlock between two accounts' writers
        events = by_account[account_id]
        result = await session.execute(
            update(Account)
            .where(Account.id == account_id)
            .values(event_seq=Account.event_seq + len(events))
            .returning(Account.event_seq)
        )
        end = result.scalar_one()
        for offset, event in enumerate(events):
            event.position = end - len(events) + 1 + offset
    session.add_all(batch)
    await session.flush()
    for consumer, ords in consumers:
        add_job(session, consumer, event_ids=[batch[n - 1].id for n in ords])
    work.finalized.extend(batch)
    return batch


def _consumers(batch: list[Event], skip: dict[int, frozenset[str]]) -> list[tuple[str, list[int]]]:
    """Each consumer with a job to do, and the events (1-based, in the batch's order) it consumes."""
    found = []
    for consumer, types in CONSUMERS.items():
        ords = [
            n for n, event in enumerate(batch, 1) if event.type in types and consumer not in skip.get(id(event), ())
        ]
        if ords:
            found.append((str(consumer), ords))
    return found


async def _insert_for_commit_to_number(
    session: AsyncSession, batch: list[Event], consumers: list[tuple[str, list[int]]]
) -> None:
    """PostgreSQL: the events inserted without positions, with their consumers' jobs, in one
    statement; the COMMIT numbers them (the deferred trigger of migration 0027). The account row is
    locked only inside the COMMIT, so writers of one account no longer queue behind each other's
    round trips between numbering and committing; their positions stay in commit order. The
    events' `position` stays unset here (the relay's announcements go without it). The session
    has been flushed."""
    now = utcnow()
    jobs = [(consumer, traced({}), ords) for consumer, ords in consumers]
    ids, made = await events_repo.insert_unnumbered(
        session, batch, jobs, now=now, request_id=request_id_var.get(), lease_until=now + RELAY_GRACE
    )
    for event, event_id in zip(batch, ids, strict=True):
        event.id, event.created_at = event_id, now
    for actor_name, _extra, _ords in jobs:
        job_id, kwargs = made[actor_name]
        inserted_job(session, job_id, actor_name, kwargs)


def discard(session: AsyncSession) -> None:
    """Forget what a rolled-back transaction had caused."""
    take(session)


async def commit(session: AsyncSession) -> list[Event]:
    """Finalize and commit, without relaying (for scripts and tests; jobs and requests use
    `domain.events.unit.unit_of_work`). The outbox jobs wait for the sweeper."""
    await finalize(session)
    await session.commit()
    events = take(session).finalized
    unnumbered = [event.id for event in events if event.position is None]
    if unnumbered:  # numbered by the COMMIT (PostgreSQL): read back for the caller
        rows = await session.execute(select(Event.id, Event.position).where(Event.id.in_(unnumbered)))
        positions = {event_id: position for event_id, position in rows}
        await session.commit()
        for event in events:
            if event.position is None:
                event.position = positions[event.id]
    return events
