"""Queries of the privacy duties: everything held about one contact (for its export and its erasure),
contact data exports, and the rows retention policies remove. Every query is scoped to one account."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import delete, or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from db.models import (
    Account,
    Attachment,
    AuditLog,
    Contact,
    ContactDataExport,
    ContactInbox,
    ContactLabel,
    ContactNote,
    Conversation,
    CsatResponse,
    Event,
    InboundEmail,
    Inbox,
    Label,
    Message,
)
from domain.enums import SenderType


async def export_in_account(
    session: AsyncSession, account_id: int, export_id: int, *, lock: bool = False
) -> ContactDataExport | None:
    stmt = select(ContactDataExport).where(
        ContactDataExport.id == export_id, ContactDataExport.account_id == account_id
    )
    if lock:
        stmt = stmt.with_for_update()
    return await session.scalar(stmt)


async def export_by_id(session: AsyncSession, export_id: int, *, lock: bool = False) -> ContactDataExport | None:
    stmt = select(ContactDataExport).where(ContactDataExport.id == export_id)
    if lock:
        stmt = stmt.with_for_update()
    return await session.scalar(stmt)


# --- what is held about a contact -------------------------------------------------------------------


def _of_contact(account_id: int, contact_id: int) -> Any:
    return select(Conversation.id).where(Conversation.account_id == account_id, Conversation.contact_id == contact_id)


async def conversations_of(
    session: AsyncSession, account_id: int, contact_id: int
) -> Sequence[tuple[Conversation, str]]:
    rows = await session.execute(
        select(Conversation, Inbox.name)
        .join(Inbox, Inbox.id == Conversation.inbox_id)
        .where(Conversation.account_id == account_id, Conversation.contact_id == contact_id)
        .order_by(Conversation.id)
    )
    return [(c, name) for c, name in rows]


async def messages_of(session: AsyncSession, account_id: int, contact_id: int) -> Sequence[Message]:
    """Every message of the contact's conversations, private notes included (the administrator's
    export is the account's whole record of the person)."""
    stmt = (
        select(Message)
        .where(Message.account_id == account_id, Message.conversation_id.in_(_of_contact(account_id, contact_id)))
        .order_by(Message.conversation_id, Message.id)
    )
    return (await session.scalars(stmt)).all()


async def attachments_of(session: AsyncSession, account_id: int, contact_id: int) -> Sequence[Attachment]:
    of_conversations = Attachment.message_id.in_(
        select(Message.id).where(
            Message.account_id == account_id, Message.conversation_id.in_(_of_contact(account_id, contact_id))
        )
    )
    stmt = (
        select(Attachment)
        .where(Attachment.account_id == account_id, of_conversations | (Attachment.uploader_contact_id == contact_id))
        .order_by(Attachment.id)
    )
    return (await session.scalars(stmt)).all()


async def notes_of(session: AsyncSession, account_id: int, contact_id: int) -> Sequence[ContactNote]:
    stmt = (
        select(ContactNote)
        .where(ContactNote.account_id == account_id, ContactNote.contact_id == contact_id)
        .order_by(ContactNote.id)
    )
    return (await session.scalars(stmt)).all()


async def labels_of(session: AsyncSession, account_id: int, contact_id: int) -> list[str]:
    rows = await session.scalars(
        select(Label.title)
        .join(ContactLabel, ContactLabel.label_id == Label.id)
        .where(Label.account_id == account_id, ContactLabel.contact_id == contact_id)
        .order_by(Label.title)
    )
    return list(rows)


async def csat_of(session: AsyncSession, account_id: int, contact_id: int) -> Sequence[CsatResponse]:
    stmt = (
        select(CsatResponse)
        .where(
            CsatResponse.account_id == account_id,
            or_(
                CsatResponse.contact_id == contact_id,
                CsatResponse.conversation_id.in_(_of_contact(account_id, contact_id)),
            ),
        )
        .order_by(CsatResponse.id)
    )
    return (await session.scalars(stmt)).all()


async def identities_of(session: AsyncSession, account_id: int, contact_id: int) -> Sequence[ContactInbox]:
    stmt = (
        select(ContactInbox)
        .where(ContactInbox.account_id == account_id, ContactInbox.contact_id == contact_id)
        .order_by(ContactInbox.id)
    )
    return (await session.scalars(stmt)).all()


async def audit_of_contact(session: AsyncSession, account_id: int, contact_id: int) -> Sequence[AuditLog]:
    stmt = (
        select(AuditLog)
        .where(
            AuditLog.account_id == account_id, AuditLog.target_type == "Contact", AuditLog.target_id == str(contact_id)
        )
        .order_by(AuditLog.id)
    )
    return (await session.scalars(stmt)).all()


# --- erasure -----------------------------------------------------------------------------------------


async def erase_rows(session: AsyncSession, account_id: int, contact_id: int, now: datetime) -> dict[str, int]:
    """Remove the person from every row that keeps them, keeping the rows reports count: the contact's
    own messages lose their content and attributes; notes and labels about them go; their inbox
    identities, conversations' browser data, inbound emails' headers and CSAT comments are blanked."""
    conversations = _of_contact(account_id, contact_id)
    messages = await session.execute(
        update(Message)
        .where(
            Message.account_id == account_id,
            Message.conversation_id.in_(conversations),
            Message.sender_type == SenderType.CONTACT,
        )
        .values(content="", content_attributes={"erased": True}, source_id=None, deleted_at=now)
        .execution_options(synchronize_session=False)
    )
    await session.execute(
        update(Conversation)
        .where(Conversation.account_id == account_id, Conversation.contact_id == contact_id)
        .values(additional_attributes={})
        .execution_options(synchronize_session=False)
    )
    identities = await session.scalars(
        select(ContactInbox).where(ContactInbox.account_id == account_id, ContactInbox.contact_id == contact_id)
    )
    for identity in identities:
        identity.source_id = f"erased-{identity.id}"  # unique per inbox, says nothing of the person
        identity.hmac_verified = False
    emails = await session.execute(
        update(InboundEmail)
        .where(InboundEmail.account_id == account_id, InboundEmail.conversation_id.in_(conversations))
        .values(from_address="", subject="", parse_result={}, rfc_message_id="")
        .execution_options(synchronize_session=False)
    )
    csat = await session.execute(
        update(CsatResponse)
        .where(
            CsatResponse.account_id == account_id,
            or_(CsatResponse.contact_id == contact_id, CsatResponse.conversation_id.in_(conversations)),
        )
        .values(feedback="")
        .execution_options(synchronize_session=False)
    )
    notes = await session.execute(
        delete(ContactNote).where(ContactNote.account_id == account_id, ContactNote.contact_id == contact_id)
    )
    await session.execute(delete(ContactLabel).where(ContactLabel.contact_id == contact_id))
    # The contact's own events carried their name and changed attributes; conversation events carry ids.
    await session.execute(
        update(Event)
        .where(Event.account_id == account_id, Event.contact_id == contact_id, Event.type.startswith("contact."))
        .values(payload={"erased": True})
        .execution_options(synchronize_session=False)
    )
    return {
        "messages": messages.rowcount or 0,  # type: ignore[attr-defined]
        "inboundEmails": emails.rowcount or 0,  # type: ignore[attr-defined]
        "csatResponses": csat.rowcount or 0,  # type: ignore[attr-defined]
        "notes": notes.rowcount or 0,  # type: ignore[attr-defined]
    }


async def remove_exports_of_contact(session: AsyncSession, account_id: int, contact_id: int) -> list[str]:
    """Delete the contact's earlier data exports; the storage keys of their ZIPs."""
    rows = await session.execute(
        delete(ContactDataExport)
        .where(ContactDataExport.account_id == account_id, ContactDataExport.contact_id == contact_id)
        .returning(ContactDataExport.storage_key)
    )
    return [key for (key,) in rows if key]


async def contact_for_erasure(session: AsyncSession, account_id: int, contact_id: int) -> Contact | None:
    stmt = select(Contact).where(Contact.id == contact_id, Contact.account_id == account_id).with_for_update()
    return await session.scalar(stmt)


# --- retention ---------------------------------------------------------------------------------------


async def accounts_with_retention(session: AsyncSession) -> Sequence[Account]:
    stmt = select(Account).where(
        or_(Account.retention_message_days.is_not(None), Account.retention_attachment_days.is_not(None))
    )
    return (await session.scalars(stmt.order_by(Account.id))).all()


async def old_message_ids(session: AsyncSession, account_id: int, cutoff: datetime, limit: int) -> list[int]:
    """Messages created before `cutoff` whose content is still there, oldest first."""
    stmt = (
        select(Message.id)
        .where(
            Message.account_id == account_id,
            Message.created_at < cutoff,
            or_(Message.deleted_at.is_(None), Message.content != ""),
        )
        .order_by(Message.id)
        .limit(limit)
    )
    return list(await session.scalars(stmt))


async def redact_messages(session: AsyncSession, account_id: int, ids: Sequence[int], now: datetime) -> int:
    result = await session.execute(
        update(Message)
        .where(Message.account_id == account_id, Message.id.in_(list(ids)))
        .values(content="", content_attributes={"retention": True}, deleted_at=now)
        .execution_options(synchronize_session=False)
    )
    return result.rowcount or 0  # type: ignore[attr-defined]


async def old_attachments(
    session: AsyncSession, account_id: int, cutoff: datetime, limit: int
) -> list[tuple[int, str]]:
    """(id, storage key) of files created before `cutoff`, oldest first."""
    rows = await session.execute(
        select(Attachment.id, Attachment.storage_key)
        .where(Attachment.account_id == account_id, Attachment.created_at < cutoff)
        .order_by(Attachment.id)
        .limit(limit)
    )
    return [(r.id, r.storage_key) for r in rows]
