"""A conversation's transcript by email (Chatwoot's `conversations/:id/transcript`): an agent who
sees the conversation sends its public messages (incoming and outgoing; no private notes, no
activity lines, deleted ones left out) with who wrote them and when, to any address, through the
mail job path. An email inbox sends it as itself (its address, its own SMTP server if it has one);
other inboxes as the installation's sender."""

from __future__ import annotations

from email.utils import formataddr

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from db.models import Contact, Conversation, Inbox, Message
from db.repositories import helpdesk as repo
from db.repositories import widget as widget_repo
from domain import audit
from domain.accounts.actor import Actor
from domain.audit import RequestMeta
from domain.email_templates import Safe, html_paragraphs, render
from domain.enums import ChannelType, MessageType, SenderType
from domain.errors import NotFound, ValidationError
from domain.events.outbox import add_job
from domain.validation import is_email

MAX_MESSAGES = 500  # the latest ones; a longer conversation's transcript says how many were left out


def _when(message: Message) -> str:
    return message.created_at.strftime("%Y-%m-%d %H:%M UTC")


async def send_transcript(
    session: AsyncSession, actor: Actor, conversation_id: int, email: str, meta: RequestMeta
) -> Conversation:
    address = (email or "").strip().lower()
    if not is_email(address):
        raise ValidationError.single("email", "INVALID_EMAIL", "Enter a valid email address.")
    conversation = await repo.conversation_visible(session, actor, conversation_id)
    if conversation is None:
        raise NotFound("No such conversation")
    inbox = await session.get_one(Inbox, conversation.inbox_id)
    stmt = (
        select(Message)
        .where(
            Message.conversation_id == conversation.id,
            Message.private.is_(False),
            Message.deleted_at.is_(None),
            Message.message_type.in_([MessageType.INCOMING, MessageType.OUTGOING]),
        )
        .order_by(Message.id.desc())
        .limit(MAX_MESSAGES + 1)
    )
    rows = list((await session.scalars(stmt)).all())
    omitted = len(rows) > MAX_MESSAGES
    rows = rows[:MAX_MESSAGES][::-1]
    if not rows:
        raise ValidationError.single("conversationId", "REQUIRED", "This conversation has no messages to send yet.")
    names = await widget_repo.sender_names(session, rows)  # agents' and bots' names, never their emails
    contact_ids = {m.sender_id for m in rows if m.sender_type == SenderType.CONTACT and m.sender_id}
    contacts = (
        {c.id: c for c in (await session.scalars(select(Contact).where(Contact.id.in_(contact_ids)))).all()}
        if contact_ids
        else {}
    )

    def who(message: Message) -> str:
        if message.sender_type == SenderType.CONTACT:
            contact = contacts.get(message.sender_id or 0)
            return (contact.name or contact.email or "Customer") if contact else "Customer"
        kind = "user" if message.sender_type == SenderType.USER else "bot"
        return names.get((kind, message.sender_id or 0), inbox.name)

    lead = ["(Earlier messages are not included.)"] if omitted else []
    text_items = lead + [f"{who(m)}, {_when(m)}:\n{m.content}" for m in rows]
    html_items = "".join(
        render("conversation_transcript_item.html", who=who(m), when=_when(m), content=html_paragraphs(m.content))
        for m in rows
    )
    inbox_address = (
        str((inbox.channel_config or {}).get("email") or "") if inbox.channel_type == ChannelType.EMAIL else ""
    )
    values = {"display_id": conversation.display_id, "inbox": inbox.name}
    add_job(
        session,
        "email.send",
        to=address,
        subject=f"[#{conversation.display_id}] Conversation transcript",
        text=render("conversation_transcript.txt", items="\n\n".join(text_items), **values),
        html=render(
            "conversation_transcript.html",
            items=Safe(("<p><em>Earlier messages are not included.</em></p>" if omitted else "") + html_items),
            **values,
        ),
        sender=formataddr((inbox.name, inbox_address)) if inbox_address else None,
        smtp_inbox_id=inbox.id if inbox_address else None,
    )
    audit.record(
        session,
        actor,
        "conversation.transcript_send",
        "Conversation",
        conversation.id,
        {"email": address, "messages": len(rows)},
        meta,
    )
    return conversation
