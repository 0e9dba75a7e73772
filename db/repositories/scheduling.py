"""Queries of scheduled messages. Reads by agents go through the conversation visibility predicate;
the scheduler's claim takes one due row under a lock other schedulers skip."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from sqlalchemy import func, select, tuple_
from sqlalchemy.ext.asyncio import AsyncSession

from db.models import Conversation, ScheduledMessage
from db.repositories.helpdesk import visible_conversations
from domain.accounts.actor import Actor
from domain.scheduling.enums import ScheduledMessageStatus


async def visible(
    session: AsyncSession, actor: Actor, scheduled_id: int, *, lock: bool = False
) -> ScheduledMessage | None:
    """A scheduled message of a conversation the actor may see (None otherwise, whatever the account)."""
    stmt = (
        select(ScheduledMessage)
        .join(Conversation, Conversation.id == ScheduledMessage.conversation_id)
        .where(
            ScheduledMessage.id == scheduled_id,
            ScheduledMessage.account_id == actor.require_account_id(),
            visible_conversations(actor),
        )
    )
    if lock:
        stmt = stmt.with_for_update(of=ScheduledMessage).execution_options(populate_existing=True)
    return await session.scalar(stmt)


async def page_of_conversation(
    session: AsyncSession,
    account_id: int,
    conversation_id: int,
    *,
    status: ScheduledMessageStatus | None,
    after: tuple[datetime, int] | None,
    limit: int,
) -> Sequence[ScheduledMessage]:
    """One conversation's scheduled messages by send time (the caller checked it may see it)."""
    stmt = select(ScheduledMessage).where(
        ScheduledMessage.account_id == account_id, ScheduledMessage.conversation_id == conversation_id
    )
    if status is not None:
        stmt = stmt.where(ScheduledMessage.status == status)
    if after is not None:
        stmt = stmt.where(tuple_(ScheduledMessage.send_at, ScheduledMessage.id) > tuple_(*after))
    stmt = stmt.order_by(ScheduledMessage.send_at, ScheduledMessage.id).limit(limit)
    return (await session.scalars(stmt)).all()


async def pending_count(session: AsyncSession, conversation_id: int) -> int:
    count = await session.scalar(
        select(func.count()).where(
            ScheduledMessage.conversation_id == conversation_id,
            ScheduledMessage.status == ScheduledMessageStatus.PENDING,
        )
    )
    return int(count or 0)


async def claim_due(session: AsyncSession, now: datetime) -> ScheduledMessage | None:
    """The oldest due pending message, locked; rows another scheduler holds are skipped, so two
    schedulers never take the same one (SQLite has one writer and ignores the lock)."""
    stmt = (
        select(ScheduledMessage)
        .where(ScheduledMessage.status == ScheduledMessageStatus.PENDING, ScheduledMessage.send_at <= now)
        .order_by(ScheduledMessage.send_at, ScheduledMessage.id)
        .limit(1)
        .with_for_update(skip_locked=True)
    )
    return await session.scalar(stmt)
