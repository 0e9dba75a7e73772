"""Agents' replies in an email inbox go to the contact by email, threaded: a Message-ID that is the
same however often the job runs, In-Reply-To the message answered (or the conversation's latest
one), and References the conversation's earlier emails. The Message-ID is kept on the message
(`source_id` and `contentAttributes.email`) for the replies that follow.

Incoming emails (domain/inbound_email/) carry their own Message-ID in `contentAttributes.email.message_id`
and `source_id`. A reply's Reply-To is the conversation's own reply address, so the customer's answer
finds the conversation even without threading headers or with the address in Cc; it copies (Cc) the
other people the customer's latest email was addressed to, and carries `X-Parley-Loop`, so that it
is dropped should it ever come back. Sending uses the inbox's own SMTP server when it has one
(domain/inbox_smtp.py), else the installation's."""

from __future__ import annotations

import re
from collections.abc import Sequence
from email.utils import formataddr
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from db.models import Contact, Conversation, Inbox, Message, User
from db.repositories import attachments as attachment_repo
from db.repositories import events as event_repo
from db.repositories import helpdesk as helpdesk_repo
from domain.email_templates import html_paragraphs, render
from domain.enums import ChannelType, MessageType, SenderType
from domain.events.enums import EventType
from domain.events.outbox import add_job
from domain.inbound_email.reply_address import conversation_of, reply_address
from infra.settings import Settings

MESSAGE_ID_RE = re.compile(r"^<[^<>\s@]+@[^<>\s@]+>$")
MAX_REFERENCES = 20
MAX_ATTACHED_BYTES = 10 * 1024 * 1024  # larger files stay in the conversation, not in the email
SENT_BY = (SenderType.USER, SenderType.BOT)


def stable_message_id(message: Message, domain: str) -> str:
    return f"<conversation.{message.conversation_id}.message.{message.id}@{domain}>"


def _domain(address: str) -> str:
    return address.rpartition("@")[2] or "parley.invalid"


def _emailed(message: Message) -> bool:
    return (
        message.message_type == MessageType.OUTGOING
        and not message.private
        and message.sender_type in SENT_BY
        and message.deleted_at is None
    )


def message_id_of(message: Message, domain: str) -> str | None:
    """The Message-ID a message of the thread has or will have: stored for emails received and
    replies sent, predictable for replies whose email is still on its way."""
    stored = ((message.content_attributes or {}).get("email") or {}).get("message_id")
    if isinstance(stored, str) and MESSAGE_ID_RE.match(stored):
        return stored
    if message.message_type == MessageType.INCOMING and message.source_id and MESSAGE_ID_RE.match(message.source_id):
        return message.source_id
    if _emailed(message):
        return stable_message_id(message, domain)
    return None


def _subject(conversation: Conversation) -> str:
    subject = str((conversation.additional_attributes or {}).get("mail_subject") or "").strip()
    if subject:
        return subject if subject.lower().startswith("re:") else f"Re: {subject}"
    return f"[#{conversation.display_id}] New messages on this conversation"


def _copied(earlier: Sequence[Message], address: str, contact_email: str, settings: Settings) -> list[str]:
    """Whom the customer's latest email also addressed (To and Cc), less us and the customer."""
    latest = next((m for m in reversed(earlier) if m.message_type == MessageType.INCOMING), None)
    mail = ((latest.content_attributes or {}).get("email") or {}) if latest else {}
    others = [str(a).lower() for a in [*(mail.get("to") or []), *(mail.get("cc") or [])]]
    ours = {address.lower(), contact_email.lower()}
    return list(dict.fromkeys(a for a in others if a not in ours and conversation_of(a, settings) is None))[:20]


async def queue_replies(session: AsyncSession, event_ids: Sequence[int], *, settings: Settings) -> int:
    """Queue the email of each agent reply these `message.created` events name; returns how many.
    A reply whose email was queued before (it has its Message-ID) is skipped."""
    evts = await event_repo.events_by_ids(session, event_ids, [EventType.MESSAGE_CREATED])
    queued = 0
    for event in evts:
        if event.message_id is None or event.private:
            continue
        message = await helpdesk_repo.message_for_update(session, event.message_id)
        if message is None or message.account_id != event.account_id:
            continue
        inbox = await session.get(Inbox, message.inbox_id)
        address = str((inbox.channel_config or {}).get("email") or "") if inbox else ""
        if inbox is None or inbox.channel_type != ChannelType.EMAIL or not address:
            continue
        if not _emailed(message):
            continue
        if ((message.content_attributes or {}).get("email") or {}).get("message_id"):
            continue  # already queued: at least once, but never twice
        conversation = await session.get_one(Conversation, message.conversation_id)
        contact = await session.get(Contact, conversation.contact_id)
        if contact is None or not contact.email:
            continue
        domain = _domain(address)
        earlier = await helpdesk_repo.public_messages_before(session, conversation.id, message.id)
        thread = [(m.id, mid) for m in earlier if (mid := message_id_of(m, domain))]
        answered = (message.content_attributes or {}).get("in_reply_to")
        in_reply_to = next((mid for i, mid in thread if i == answered), None) or (thread[-1][1] if thread else None)
        references = [mid for _, mid in thread]
        if len(references) > MAX_REFERENCES:  # RFC 5322: keep the first and the most recent
            references = references[:1] + references[-(MAX_REFERENCES - 1) :]
        message_id = stable_message_id(message, domain)
        agent = (
            await session.get(User, message.sender_id)
            if message.sender_type == SenderType.USER and message.sender_id
            else None
        )
        display = f"{agent.display_name or agent.name} from {inbox.name}" if agent else inbox.name
        headers: dict[str, Any] = {
            "Reply-To": reply_address(conversation.id, address, settings),
            "X-Parley-Loop": address,
        }
        copied = _copied(earlier, address, contact.email, settings)
        if copied:
            headers["Cc"] = ", ".join(copied)
        if in_reply_to:
            headers["In-Reply-To"] = in_reply_to
            headers["References"] = " ".join(references)
        attached = list(await attachment_repo.attachments_of_message(session, message.id))
        while attached and sum(a.byte_size for a in attached) > MAX_ATTACHED_BYTES:
            attached.pop()
        files: list[dict[str, Any]] = [
            {"key": a.storage_key, "file_name": a.file_name, "content_type": a.content_type, "byte_size": a.byte_size}
            for a in attached
        ]
        if not message.content.strip() and not files:
            continue
        add_job(
            session,
            "email.send",
            attachments=files or None,
            to=contact.email,
            subject=_subject(conversation),
            text=render("conversation_reply.txt", content=message.content),
            html=render("conversation_reply.html", content=html_paragraphs(message.content)),
            sender=formataddr((display, address)),
            message_id=message_id,
            headers=headers,
            smtp_inbox_id=inbox.id,
        )
        message.source_id = message_id
        message.content_attributes = {
            **(message.content_attributes or {}),
            "email": {
                "message_id": message_id,
                "in_reply_to": in_reply_to,
                "references": references,
                "to": [contact.email],
                "cc": copied,
            },
        }
        queued += 1
    await session.flush()
    return queued
