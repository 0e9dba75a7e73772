"""The event log: every change anyone may want to hear about writes an event in the same transaction.

Events wait in the session until `finalize` (called right before commit) gives them their
per-account positions from the account row; taking the counter last keeps the row lock short and
makes positions visible in commit order."""

from __future__ import annotations

from collections import defaultdict
from typing import Any

from sqlalchemy import update
from sqlalchemy.ext.asyncio import AsyncSession

from db.models import Account, Event
from domain.events.enums import CONSUMERS, PERSONAL_TYPES, EventType
from domain.events.outbox import add_job
from domain.events.pending import pending, take


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
) -> Event:
    """Log an event in the session's transaction. `message` may be a Message not flushed yet: its id
    is filled in by `finalize`. Events addressed to one user name them in `payload["user_id"]` when
    `recipient_user_id` is not given."""
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
    work.events.append(event)
    return event


async def finalize(session: AsyncSession) -> list[Event]:
    """Number and insert the pending events, and write one outbox job per interested consumer into
    the same transaction (so the fan-out survives a broker outage and runs at least once; each
    consumer is idempotent by event id). Call last in the transaction, right before commit."""
    work = pending(session)
    batch, refs = work.events, work.messages
    work.events, work.messages = [], {}
    if not batch:
        return []
    if refs:
        await session.flush()  # gives the referenced messages their ids
        for event in batch:
            if id(event) in refs:
                event.message_id = refs[id(event)].id
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
    for consumer, types in CONSUMERS.items():
        ids = [event.id for event in batch if event.type in types]
        if ids:
            add_job(session, consumer, event_ids=ids)
    work.finalized.extend(batch)
    return batch


def discard(session: AsyncSession) -> None:
    """Forget what a rolled-back transaction had caused."""
    take(session)


async def commit(session: AsyncSession) -> list[Event]:
    """Finalize and commit, without relaying (for scripts and tests; jobs and requests use
    `domain.events.unit.unit_of_work`). The outbox jobs wait for the sweeper."""
    await finalize(session)
    await session.commit()
    return take(session).finalized
