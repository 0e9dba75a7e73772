"""Queries of attachments, scoped by account and by conversation visibility."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence

from sqlalchemy import and_, exists, or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from db.models import Attachment, Conversation, Message
from db.models.helpdesk import AttachmentStatus
from db.repositories.helpdesk import visible_conversations
from domain.accounts.actor import Actor


async def attachment_visible(session: AsyncSession, actor: Actor, attachment_id: int) -> Attachment | None:
    """An attachment on a message of a conversation the actor may see, or the actor's own pending
    upload; nothing of another account."""
    on_visible_message = exists().where(
        Message.id == Attachment.message_id,
        Conversation.id == Message.conversation_id,
        visible_conversations(actor),
    )
    own_pending = and_(Attachment.message_id.is_(None), Attachment.uploader_user_id == actor.user_id) \
        if actor.user_id is not None else None
    condition = on_visible_message if own_pending is None else or_(on_visible_message, own_pending)
    return await session.scalar(
        select(Attachment).where(Attachment.id == attachment_id, Attachment.account_id == actor.account_id, condition)
    )


async def attached_by_message(session: AsyncSession, message_ids: Sequence[int]) -> dict[int, list[Attachment]]:
    rows = await session.scalars(
        select(Attachment)
        .where(Attachment.message_id.in_(list(message_ids)), Attachment.status == AttachmentStatus.ATTACHED)
        .order_by(Attachment.id)
    )
    grouped: dict[int, list[Attachment]] = defaultdict(list)
    for row in rows:
        grouped[row.message_id].append(row)
    return grouped
