"""Queries of attachments, scoped by account and by conversation visibility."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from datetime import datetime

from sqlalchemy import and_, delete, exists, or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from db.models import Attachment, Conversation, Message
from db.models.helpdesk import AttachmentStatus
from db.repositories.helpdesk import visible_conversations
from db.session import dialect_name
from domain.accounts.actor import Actor


async def attachment_visible(session: AsyncSession, actor: Actor, attachment_id: int) -> Attachment | None:
    """An attachment on a message of a conversation the actor may see, or the actor's own pending
    upload; nothing of another account."""
    on_visible_message = exists().where(
        Message.id == Attachment.message_id,
        Conversation.id == Message.conversation_id,
        visible_conversations(actor),
    )
    own_pending = (
        and_(Attachment.message_id.is_(None), Attachment.uploader_user_id == actor.user_id)
        if actor.user_id is not None
        else None
    )
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
        if row.message_id is not None:  # always: selected by message id
            grouped[row.message_id].append(row)
    return grouped


async def attachments_for_update(session: AsyncSession, account_id: int, ids: Sequence[int]) -> dict[int, Attachment]:
    """The account's attachments with these ids, row-locked, by id."""
    rows = await session.scalars(
        select(Attachment).where(Attachment.id.in_(list(ids)), Attachment.account_id == account_id).with_for_update()
    )
    return {a.id: a for a in rows.all()}


async def attachments_of_message(session: AsyncSession, message_id: int) -> Sequence[Attachment]:
    return (
        await session.scalars(select(Attachment).where(Attachment.message_id == message_id).order_by(Attachment.id))
    ).all()


async def stored_keys_of_messages(
    session: AsyncSession, account_id: int, message_ids: Sequence[int]
) -> list[tuple[int, str]]:
    """(id, storage key) of the attachments on these messages of the account."""
    rows = await session.execute(
        select(Attachment.id, Attachment.storage_key).where(
            Attachment.account_id == account_id, Attachment.message_id.in_(list(message_ids))
        )
    )
    return [(r.id, r.storage_key) for r in rows.all()]


async def stored_keys_of_contact(session: AsyncSession, account_id: int, contact_id: int) -> list[tuple[int, str]]:
    """(id, storage key) of the attachments on the contact's conversations and of the contact's own uploads."""
    of_conversations = Attachment.message_id.in_(
        select(Message.id)
        .join(Conversation, Conversation.id == Message.conversation_id)
        .where(Conversation.contact_id == contact_id, Conversation.account_id == account_id)
    )
    rows = await session.execute(
        select(Attachment.id, Attachment.storage_key).where(
            (Attachment.account_id == account_id) & (of_conversations | (Attachment.uploader_contact_id == contact_id))
        )
    )
    return [(r.id, r.storage_key) for r in rows.all()]


async def orphans_before(session: AsyncSession, cutoff: datetime, batch: int) -> Sequence[Attachment]:
    """Up to `batch` uploads created before `cutoff` that are on no message, oldest first; on
    PostgreSQL locked, skipping rows another sweeper holds."""
    stmt = (
        select(Attachment)
        .where(Attachment.message_id.is_(None), Attachment.created_at < cutoff)
        .order_by(Attachment.id)
        .limit(batch)
    )
    if dialect_name(session) == "postgresql":
        stmt = stmt.with_for_update(skip_locked=True)
    return (await session.scalars(stmt)).all()


async def delete_attachments(session: AsyncSession, ids: Sequence[int]) -> None:
    await session.execute(delete(Attachment).where(Attachment.id.in_(list(ids))))
