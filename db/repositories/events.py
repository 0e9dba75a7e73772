"""Reading the event log for real-time streams: events after a position, and which of their
conversations an actor may see. Positions are per account and become visible in commit order
(domain/events/log.py), so "everything after N" never skips an event that commits later."""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import func, select, text
from sqlalchemy.ext.asyncio import AsyncSession

from db.models import Account, AccountMembership, Contact, Conversation, Event, InboxMember, Message, User
from db.repositories.helpdesk import visible_conversations
from domain.accounts.actor import Actor


async def current_position(session: AsyncSession, account_id: int) -> int:
    return int(await session.scalar(select(Account.event_seq).where(Account.id == account_id)) or 0)


async def oldest_position(session: AsyncSession, account_id: int) -> int | None:
    """The first position still in the log (older events may have been pruned)."""
    return await session.scalar(select(func.min(Event.position)).where(Event.account_id == account_id))


async def account_events_after(
    session: AsyncSession, account_id: int, after: int, *, types_prefixes: Sequence[str], limit: int
) -> tuple[list[Event], int, int]:
    """Account-wide events (not those addressed to one user) of the given kinds, oldest first, with
    the last position scanned and how many rows were scanned (a full page means: read on)."""
    stmt = (
        select(Event)
        .where(Event.account_id == account_id, Event.position > after, Event.recipient_user_id.is_(None))
        .order_by(Event.position)
        .limit(limit)
    )
    rows = list((await session.scalars(stmt)).all())
    return (
        [e for e in rows if e.type.startswith(tuple(types_prefixes))],
        (rows[-1].position if rows else after),
        len(rows),
    )


async def conversation_events_after(
    session: AsyncSession, account_id: int, conversation_id: int, after: int, *, limit: int
) -> tuple[list[Event], int, int]:
    stmt = (
        select(Event)
        .where(Event.conversation_id == conversation_id, Event.account_id == account_id, Event.position > after)
        .order_by(Event.position)
        .limit(limit)
    )
    rows = list((await session.scalars(stmt)).all())
    return rows, (rows[-1].position if rows else after), len(rows)


async def personal_events_after(
    session: AsyncSession, account_id: int, user_id: int, after: int, *, limit: int
) -> tuple[list[Event], int, int]:
    stmt = (
        select(Event)
        .where(Event.account_id == account_id, Event.recipient_user_id == user_id, Event.position > after)
        .order_by(Event.position)
        .limit(limit)
    )
    rows = list((await session.scalars(stmt)).all())
    return rows, (rows[-1].position if rows else after), len(rows)


async def visible_conversations_by_id(
    session: AsyncSession, actor: Actor, ids: Iterable[int]
) -> dict[int, Conversation]:
    """The conversations among `ids` this actor may see now (membership and role as of this moment)."""
    ids = sorted(set(ids))
    if not ids:
        return {}
    rows = await session.scalars(select(Conversation).where(Conversation.id.in_(ids), visible_conversations(actor)))
    return {c.id: c for c in rows}


async def messages_by_id(session: AsyncSession, account_id: int, ids: Iterable[int]) -> dict[int, Message]:
    ids = sorted(set(ids))
    if not ids:
        return {}
    rows = await session.scalars(select(Message).where(Message.id.in_(ids), Message.account_id == account_id))
    return {m.id: m for m in rows}


async def contacts_by_id(session: AsyncSession, account_id: int, ids: Iterable[int]) -> dict[int, Contact]:
    ids = sorted(set(ids))
    if not ids:
        return {}
    rows = await session.scalars(select(Contact).where(Contact.id.in_(ids), Contact.account_id == account_id))
    return {c.id: c for c in rows}


async def inbox_ids_of_member(session: AsyncSession, user_id: int) -> set[int]:
    return set((await session.scalars(select(InboxMember.inbox_id).where(InboxMember.user_id == user_id))).all())


async def users_of_account(session: AsyncSession, account_id: int) -> list[User]:
    """Every user with a membership in the account (for presence), by id."""
    stmt = (
        select(User)
        .join(AccountMembership, AccountMembership.user_id == User.id)
        .where(AccountMembership.account_id == account_id)
        .order_by(User.id)
    )
    return list((await session.scalars(stmt)).all())


async def events_by_ids(session: AsyncSession, ids: Iterable[int], types: Iterable[str]) -> Sequence[Event]:
    """The events with these ids whose type is one of `types`, oldest first: what a consumer job was
    handed, less what it does not consume."""
    return (
        await session.scalars(
            select(Event).where(Event.id.in_(list(ids)), Event.type.in_(list(types))).order_by(Event.id)
        )
    ).all()


# The end of a writing transaction on PostgreSQL, in one statement (domain/events/log.py `finalize`):
# the events inserted without a position (the deferred trigger of migration 0027 numbers them when
# the transaction commits) and one outbox job per consumer with the ids of the events it consumes.
# The events and the jobs come as JSON records (an event's `ord` counts from 1, its id follows that
# order; a job names the ords it consumes).
_INSERT = text("""
WITH ev AS (
  INSERT INTO events (account_id, type, conversation_id, contact_id, inbox_id, message_id, private,
                      actor_user_id, recipient_user_id, payload, created_at)
  SELECT e.account_id, e.type, e.conversation_id, e.contact_id, e.inbox_id, e.message_id, e.private,
         e.actor_user_id, e.recipient_user_id, e.payload, :now
    FROM jsonb_to_recordset(CAST(:events AS jsonb)) AS e(ord int, account_id bigint, type text,
         conversation_id bigint, contact_id bigint, inbox_id bigint, message_id bigint, private boolean,
         actor_user_id bigint, recipient_user_id bigint, payload jsonb)
   ORDER BY e.ord
  RETURNING id),
numbered AS (SELECT id, row_number() OVER (ORDER BY id) AS ord FROM ev),
jobs AS (
  INSERT INTO outbox_jobs (actor_name, kwargs, request_id, created_at, lease_until, sends, dead)
  SELECT j.actor, j.extra || jsonb_build_object('event_ids',
           (SELECT jsonb_agg(numbered.id ORDER BY numbered.id) FROM numbered WHERE numbered.ord = ANY(j.ords))),
         CAST(:request_id AS varchar), :now, CAST(:lease_until AS timestamptz), 0, false
    FROM jsonb_to_recordset(CAST(:jobs AS jsonb)) AS j(actor text, extra jsonb, ords int[])
  RETURNING id, actor_name, kwargs)
SELECT false AS job, id, NULL AS actor_name, NULL::jsonb AS kwargs FROM ev
UNION ALL SELECT true, id, actor_name, kwargs FROM jobs""")


async def insert_unnumbered(
    session: AsyncSession,
    events: Sequence[Event],
    jobs: Sequence[tuple[str, dict[str, Any], list[int]]],
    *,
    now: datetime,
    request_id: str | None,
    lease_until: datetime,
) -> tuple[list[int], dict[str, tuple[int, dict[str, Any]]]]:
    """Insert events for their commit to number (PostgreSQL; see above) and their consumers' jobs:
    the events' ids in their order, and each job's (id, arguments) by actor. `jobs` are (actor,
    arguments besides the event ids, the 1-based indexes of the events it consumes)."""
    records = [
        {
            "ord": n,
            "account_id": e.account_id,
            "type": e.type,
            "conversation_id": e.conversation_id,
            "contact_id": e.contact_id,
            "inbox_id": e.inbox_id,
            "message_id": e.message_id,
            "private": bool(e.private),
            "actor_user_id": e.actor_user_id,
            "recipient_user_id": e.recipient_user_id,
            "payload": e.payload or {},
        }
        for n, e in enumerate(events, 1)
    ]
    specs = [{"actor": actor, "extra": extra, "ords": ords} for actor, extra, ords in jobs]
    result = await session.execute(
        _INSERT,
        {
            "now": now,
            "events": json.dumps(records),
            "request_id": request_id,
            "lease_until": lease_until,
            "jobs": json.dumps(specs),
        },
    )
    ids: list[int] = []
    made: dict[str, tuple[int, dict[str, Any]]] = {}
    for job, id_, actor_name, kwargs in result.all():
        if job:
            made[actor_name] = (id_, kwargs if isinstance(kwargs, dict) else json.loads(kwargs))
        else:
            ids.append(id_)
    ids.sort()
    return ids, made
