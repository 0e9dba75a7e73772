"""Queries of inbound email: the inbox an address names, the message a Message-ID names, and the
account's record of received emails."""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from db.base import utcnow
from db.models import InboundEmail, Inbox, InboxImap, Message
from domain.enums import ChannelType
from domain.inbound_email.enums import InboundStatus


async def email_inboxes_by_address(session: AsyncSession, addresses: Sequence[str]) -> Sequence[Inbox]:
    """Email inboxes (of any account: the door does not know it yet) whose address is one of these."""
    if not addresses:
        return []
    address = func.lower(Inbox.channel_config["email"].as_string())
    stmt = select(Inbox).where(Inbox.channel_type == ChannelType.EMAIL, address.in_([a.lower() for a in addresses]))
    return (await session.scalars(stmt.order_by(Inbox.id))).all()


async def message_by_source_ids(session: AsyncSession, inbox_id: int, source_ids: Sequence[str]) -> Message | None:
    """The latest message of the inbox that was sent or received with one of these Message-IDs."""
    if not source_ids:
        return None
    stmt = (
        select(Message)
        .where(Message.inbox_id == inbox_id, Message.source_id.in_(list(source_ids)))
        .order_by(Message.id.desc())
        .limit(1)
    )
    return await session.scalar(stmt)


async def processed(session: AsyncSession, inbox_id: int, rfc_message_id: str) -> InboundEmail | None:
    stmt = select(InboundEmail).where(
        InboundEmail.inbox_id == inbox_id,
        InboundEmail.rfc_message_id == rfc_message_id,
        InboundEmail.status == InboundStatus.PROCESSED,
    )
    return await session.scalar(stmt)


async def of_account(
    session: AsyncSession, account_id: int, *, limit: int, before_id: int | None = None
) -> Sequence[InboundEmail]:
    """The account's received emails, newest first."""
    stmt = select(InboundEmail).where(InboundEmail.account_id == account_id)
    if before_id is not None:
        stmt = stmt.where(InboundEmail.id < before_id)
    return (await session.scalars(stmt.order_by(InboundEmail.id.desc()).limit(limit))).all()


async def imap_polling_status(session: AsyncSession) -> dict[str, object]:
    """The IMAP mailboxes polled, how many failed their last poll, the stalest poll, and how many a
    scheduler watches in IDLE now (its lease is current)."""
    enabled = InboxImap.enabled.is_(True)
    watched = (InboxImap.push == "idle") & (InboxImap.idle_until > utcnow())
    total, failing, stalest, pushing = (
        await session.execute(
            select(
                func.count(),
                func.count().filter(InboxImap.last_error != ""),
                func.min(InboxImap.last_polled_at),
                func.count().filter(watched),
            ).where(enabled)
        )
    ).one()
    return {
        "mailboxes": total,
        "failing": failing,
        "stalestPollAt": stalest.isoformat() if stalest else None,
        "idle": pushing,
    }
