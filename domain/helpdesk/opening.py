"""Opening a conversation: one path for every channel, so a conversation an agent starts, one a
widget visitor starts with a first message, and those the API channel and inbound email will open
get the same display id, status, clock fields and `conversation.created` event.

The channel decides who the contact and contact inbox are and checks its own permissions; this
module makes the conversation and, given one, its first message (through the conversations
service, so it reopens, counts replies and notifies exactly as any later message does)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from db.base import utcnow
from db.models import Contact, ContactInbox, Conversation, Inbox, Message
from db.repositories import helpdesk as repo
from domain import events
from domain.accounts.actor import Actor
from domain.enums import ChannelType, ConversationStatus, MessageType
from domain.errors import ValidationError
from domain.events.enums import EventType
from domain.helpdesk import conversations


@dataclass(frozen=True)
class FirstMessage:
    """The message a conversation opens with: OUTGOING when an agent writes first, INCOMING when the
    contact does."""

    content: str
    message_type: MessageType


async def open_conversation(
    session: AsyncSession,
    actor: Actor,
    *,
    inbox: Inbox,
    contact: Contact,
    contact_inbox_id: int,
    additional_attributes: dict[str, Any] | None = None,
    assignee_id: int | None = None,
    first_message: FirstMessage | None = None,
) -> tuple[Conversation, Message | None]:
    """A new conversation of `contact` in `inbox`: the account's next display id, open (resolved for a
    blocked contact, Chatwoot's mute; pending while the inbox has a bot, which answers first), waiting
    since now; then its assignee, if given, and its first
    message, if given. The caller has checked that the actor may open it there."""
    now = utcnow()
    conversation = Conversation(
        account_id=inbox.account_id,
        display_id=await repo.next_display_id(session, inbox.account_id),
        inbox_id=inbox.id,
        contact_id=contact.id,
        contact_inbox_id=contact_inbox_id,
        status=ConversationStatus.RESOLVED
        if contact.blocked
        else (ConversationStatus.PENDING if inbox.bot_id is not None else ConversationStatus.OPEN),
        last_activity_at=now,
        waiting_since=now,
        additional_attributes=additional_attributes or {},
        custom_attributes={},
        created_at=now,
    )
    session.add(conversation)
    await session.flush()
    events.record(
        session,
        account_id=conversation.account_id,
        type=EventType.CONVERSATION_CREATED,
        conversation_id=conversation.id,
        contact_id=conversation.contact_id,
        inbox_id=conversation.inbox_id,
        actor_user_id=actor.user_id,
    )
    if assignee_id is not None:
        await conversations.change_assignee(session, actor, conversation, assignee_id, field="assigneeId")
    message = None
    if first_message is not None:
        message = await conversations.add_message(
            session,
            actor,
            conversation,
            inbox,
            content=first_message.content,
            private=False,
            message_type=first_message.message_type,
            content_attributes={},
        )
        if first_message.message_type == MessageType.INCOMING and not contact.blocked:
            from domain.automatic_messages import service as automatic_messages

            await automatic_messages.after_opened(session, conversation, inbox)
    return conversation, message


async def contact_inbox_for(session: AsyncSession, inbox: Inbox, contact: Contact) -> ContactInbox:
    """The contact's link to the inbox, made on first use: an email inbox addresses the contact by
    email, any other by a stable `contact-<id>`."""
    contact_inbox = await repo.contact_inbox_of(session, contact.id, inbox.id)
    if contact_inbox is None:
        contact_inbox = ContactInbox(
            account_id=inbox.account_id,
            contact_id=contact.id,
            inbox_id=inbox.id,
            source_id=contact.email
            if inbox.channel_type == ChannelType.EMAIL and contact.email
            else f"contact-{contact.id}",
        )
        session.add(contact_inbox)
        await session.flush()
    return contact_inbox


async def create_conversation(
    session: AsyncSession,
    actor: Actor,
    *,
    inbox_id: int,
    contact_id: int,
    content: str | None,
    assignee_id: int | None = None,
    additional_attributes: dict[str, Any] | None = None,
) -> Conversation:
    """An agent starts a conversation with a contact (API and email inboxes, as in Chatwoot); with a
    message it is sent as the first outgoing reply."""
    inbox = await conversations.inbox_for_agent(session, actor, inbox_id)
    contact = await repo.contact_in_account(session, actor.require_account_id(), contact_id)
    if contact is None:
        raise ValidationError.single("contactId", "NOT_FOUND", "No such contact.")
    if content is not None:
        conversations.check_content(content)
    contact_inbox = await contact_inbox_for(session, inbox, contact)
    conversation, _ = await open_conversation(
        session,
        actor,
        inbox=inbox,
        contact=contact,
        contact_inbox_id=contact_inbox.id,
        additional_attributes=additional_attributes,
        assignee_id=assignee_id,
        first_message=FirstMessage(content, MessageType.OUTGOING) if content is not None else None,
    )
    return conversation
