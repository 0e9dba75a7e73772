"""Queries of the website widget. Everything a contact session reads goes through two predicates:
the session's conversations (its own contact inbox; a verified session: every verified contact inbox
of its contact in this inbox) and the messages a contact may see (not private, not activity)."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Protocol

from sqlalchemy import and_, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.sql import ColumnElement

from db.models import Bot, ContactInbox, Conversation, CsatResponse, Event, Inbox, Message, User
from domain.enums import ChannelType, MessageType, SenderType

CONTACT_MESSAGE_TYPES = (MessageType.INCOMING, MessageType.OUTGOING, MessageType.TEMPLATE)


class Session(Protocol):
    @property
    def contact_id(self) -> int: ...
    @property
    def contact_inbox_id(self) -> int: ...
    @property
    def inbox_id(self) -> int: ...
    @property
    def widget_account_id(self) -> int: ...
    @property
    def verified(self) -> bool: ...


def session_conversations(s: Session) -> ColumnElement[bool]:
    scope = and_(
        Conversation.account_id == s.widget_account_id,
        Conversation.inbox_id == s.inbox_id,
        Conversation.contact_id == s.contact_id,
    )
    if not s.verified:
        return and_(scope, Conversation.contact_inbox_id == s.contact_inbox_id)
    verified_inboxes = select(ContactInbox.id).where(
        ContactInbox.contact_id == s.contact_id,
        ContactInbox.inbox_id == s.inbox_id,
        ContactInbox.hmac_verified.is_(True),
    )
    return and_(scope, Conversation.contact_inbox_id.in_(verified_inboxes))


def contact_visible_messages() -> ColumnElement[bool]:
    return and_(Message.private.is_(False), Message.message_type.in_(CONTACT_MESSAGE_TYPES))


async def widget_inbox(session: AsyncSession, website_token: str) -> Inbox | None:
    return await session.scalar(
        select(Inbox).where(Inbox.website_token == website_token, Inbox.channel_type == ChannelType.WEB_WIDGET)
    )


async def contact_inbox(
    session: AsyncSession, contact_inbox_id: int, inbox_id: int, account_id: int, source_id: str
) -> ContactInbox | None:
    return await session.scalar(
        select(ContactInbox).where(
            ContactInbox.id == contact_inbox_id,
            ContactInbox.inbox_id == inbox_id,
            ContactInbox.account_id == account_id,
            ContactInbox.source_id == source_id,
        )
    )


async def conversations(session: AsyncSession, s: Session, limit: int = 100) -> list[Conversation]:
    stmt = select(Conversation).where(session_conversations(s)).order_by(Conversation.id.desc()).limit(limit)
    return list((await session.scalars(stmt)).all())


async def conversation(
    session: AsyncSession, s: Session, conversation_id: int, *, lock: bool = False
) -> Conversation | None:
    stmt = select(Conversation).where(Conversation.id == conversation_id, session_conversations(s))
    if lock:
        stmt = stmt.with_for_update()
    return await session.scalar(stmt)


async def conversation_ids(session: AsyncSession, s: Session) -> set[int]:
    return set((await session.scalars(select(Conversation.id).where(session_conversations(s)))).all())


async def messages(
    session: AsyncSession, s: Session, conversation_id: int, *, before: int | None, after: int | None, limit: int
) -> list[Message]:
    """A page of a conversation's contact-visible messages, oldest first: the latest `limit` (or those
    before / after a message id)."""
    stmt = (
        select(Message)
        .join(Conversation, Conversation.id == Message.conversation_id)
        .where(Message.conversation_id == conversation_id, session_conversations(s), contact_visible_messages())
    )
    if after is not None:
        rows = await session.scalars(stmt.where(Message.id > after).order_by(Message.id).limit(limit))
        return list(rows.all())
    if before is not None:
        stmt = stmt.where(Message.id < before)
    page = list((await session.scalars(stmt.order_by(Message.id.desc()).limit(limit))).all())
    page.reverse()
    return page


async def visible_messages_by_id(session: AsyncSession, s: Session, ids: Iterable[int]) -> dict[int, Message]:
    ids = sorted(set(ids))
    if not ids:
        return {}
    stmt = (
        select(Message)
        .join(Conversation, Conversation.id == Message.conversation_id)
        .where(Message.id.in_(ids), session_conversations(s), contact_visible_messages())
    )
    return {m.id: m for m in (await session.scalars(stmt)).all()}


async def conversations_by_id(session: AsyncSession, s: Session, ids: Iterable[int]) -> dict[int, Conversation]:
    ids = sorted(set(ids))
    if not ids:
        return {}
    rows = await session.scalars(select(Conversation).where(Conversation.id.in_(ids), session_conversations(s)))
    return {c.id: c for c in rows}


async def events_after(
    session: AsyncSession, s: Session, after: int, *, types: Sequence[str], limit: int
) -> tuple[list[Event], int, int]:
    """The account's shared events after a position (a page), keeping those of the session's
    conversations of the given types; with the last position scanned and how many rows were scanned."""
    stmt = (
        select(Event)
        .where(Event.account_id == s.widget_account_id, Event.position > after, Event.recipient_user_id.is_(None))
        .order_by(Event.position)
        .limit(limit)
    )
    rows = list((await session.scalars(stmt)).all())
    last = rows[-1].position if rows else after
    candidates = [
        e
        for e in rows
        if e.type in types and e.private is False and e.contact_id == s.contact_id and e.conversation_id is not None
    ]
    return candidates, last, len(rows)


async def sender_names(session: AsyncSession, messages: Iterable[Message]) -> dict[tuple[str, int], str]:
    """Agents' and bots' names (never their emails) for the outgoing messages given."""
    users = {m.sender_id for m in messages if m.sender_type == SenderType.USER and m.sender_id}
    bots = {m.sender_id for m in messages if m.sender_type == SenderType.BOT and m.sender_id}
    names: dict[tuple[str, int], str] = {}
    if users:
        for uid, display, name in (
            await session.execute(select(User.id, User.display_name, User.name).where(User.id.in_(users)))
        ).all():
            names[("user", uid)] = display or name
    if bots:
        for bid, name in (await session.execute(select(Bot.id, Bot.name).where(Bot.id.in_(bots)))).all():
            names[("bot", bid)] = name
    return names


async def user_name(session: AsyncSession, user_id: int) -> str | None:
    row = (await session.execute(select(User.display_name, User.name).where(User.id == user_id))).first()
    return (row[0] or row[1]) if row else None


async def csat_response_of(session: AsyncSession, conversation_id: int) -> CsatResponse | None:
    """The conversation's rating, if it has one (one a conversation)."""
    return await session.scalar(select(CsatResponse).where(CsatResponse.conversation_id == conversation_id))


async def csat_responses_of(session: AsyncSession, conversation_ids: Sequence[int]) -> Sequence[CsatResponse]:
    return (await session.scalars(select(CsatResponse).where(CsatResponse.conversation_id.in_(conversation_ids)))).all()
