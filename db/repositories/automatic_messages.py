"""Queries of automatic messages and auto-resolve."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from db.models import Account, Conversation, Message
from domain.enums import ConversationStatus, MessageType, SenderType

RECENT_TEMPLATES = 50  # automatic messages of a conversation looked through for the last of a kind


async def last_automatic(session: AsyncSession, conversation_id: int, kind: str) -> Message | None:
    """The conversation's latest automatic message of this kind (`contentAttributes.automatic`)."""
    rows = await session.scalars(
        select(Message)
        .where(
            Message.conversation_id == conversation_id,
            Message.message_type == MessageType.TEMPLATE,
            Message.sender_type == SenderType.SYSTEM,
        )
        .order_by(Message.id.desc())
        .limit(RECENT_TEMPLATES)
    )
    return next((m for m in rows if (m.content_attributes or {}).get("automatic") == kind), None)


async def accounts_with_auto_resolve(session: AsyncSession) -> Sequence[Account]:
    stmt = select(Account).where(Account.settings["auto_resolve_after"].as_integer() > 0).order_by(Account.id)
    return (await session.scalars(stmt)).all()


async def idle_open_conversations(
    session: AsyncSession, account_id: int, idle_since: datetime, limit: int
) -> Sequence[Conversation]:
    """Open conversations of the account with no activity since `idle_since`, locked; those another
    scheduler (or a request) holds are skipped and wait for the next pass."""
    stmt = (
        select(Conversation)
        .where(
            Conversation.account_id == account_id,
            Conversation.status == ConversationStatus.OPEN,
            Conversation.last_activity_at < idle_since,
        )
        .order_by(Conversation.last_activity_at, Conversation.id)
        .limit(max(limit, 0))
        .with_for_update(skip_locked=True)
    )
    return (await session.scalars(stmt)).all()
