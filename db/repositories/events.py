"""Reading the event log for real-time streams: events after a position, and which of their
conversations an actor may see. Positions are per account and become visible in commit order
(domain/events/log.py), so "everything after N" never skips an event that commits later."""

from __future__ import annotations

from collections.abc import Iterable, Sequence

from sqlalchemy import func, select
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
