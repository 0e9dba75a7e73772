"""The widget visitor's own conversations: writing (a first message opens the conversation, through
the same service as every channel), uploading files for the next message, and rating a resolved
conversation (CSAT). Every read goes through the widget repository's session predicate
(db/repositories/widget.py)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from sqlalchemy.ext.asyncio import AsyncSession

from db.base import utcnow
from db.models import Attachment, Contact, Conversation, CsatResponse, Inbox, Message
from db.repositories import widget as repo
from domain.accounts.actor import Actor
from domain.enums import ConversationStatus, MessageType
from domain.errors import FieldError, NotAuthenticated, ValidationError
from domain.helpdesk import conversations, opening
from domain.widget.sessions import ContactActor

if TYPE_CHECKING:
    from domain.storage import PresignedUpload


def check_content(content: str, max_chars: int) -> str:
    if len(content) > max_chars:
        raise ValidationError.single("content", "TOO_LONG", f"A message holds at most {max_chars:,} characters.")
    if not content.strip():
        raise ValidationError.single("content", "REQUIRED", "Write a message.")
    return content


async def create_message(
    session: AsyncSession,
    actor: ContactActor,
    conversation_id: int | None,
    content: str,
    *,
    max_chars: int,
    attachment_ids: list[int] | None = None,
    attachment_config: Any = None,
) -> tuple[Conversation, Message, bool]:
    """The visitor writes: into one of its conversations, or (none given) a new one, as Chatwoot's
    widget creates the conversation with its first message. A blocked contact's conversations stay
    resolved (Chatwoot's mute). Attachments are the visitor's own verified uploads."""
    if content or not attachment_ids:  # a message may be its attachments alone
        check_content(content, max_chars)
    files = []
    if attachment_ids:
        from domain import attachments

        files = await attachments.verify(
            session, attachment_config, actor.widget_account_id, attachment_ids, uploader_contact_id=actor.contact_id
        )
    contact = await session.get(Contact, actor.contact_id, with_for_update=True)
    inbox = await session.get(Inbox, actor.inbox_id)
    if contact is None or inbox is None or contact.account_id != actor.widget_account_id:
        raise NotAuthenticated("This widget session no longer exists")
    created = conversation_id is None
    message: Message | None
    if conversation_id is None:
        conversation, message = await opening.open_conversation(
            session,
            actor,
            inbox=inbox,
            contact=contact,
            contact_inbox_id=actor.contact_inbox_id,
            additional_attributes={"source": "widget"},
            first_message=opening.FirstMessage(content, MessageType.INCOMING),
        )
        assert message is not None  # opened with its first message
    else:
        found = await repo.conversation(session, actor, conversation_id, lock=True)
        if found is None:
            raise ValidationError.single("conversationId", "NOT_FOUND", "No such conversation.")
        conversation = found
        message = await conversations.add_message(
            session,
            actor,
            conversation,
            inbox,
            content=content,
            private=False,
            message_type=MessageType.INCOMING,
            content_attributes={},
        )
    if files:
        from domain import attachments

        attachments.link(files, message)
    await session.flush()
    return conversation, message, created


async def create_upload(
    session: AsyncSession, actor: ContactActor, config: Any, *, file_name: str, content_type: str, byte_size: int
) -> tuple[Attachment, PresignedUpload]:
    """A pending upload of the visitor's (domain/attachments.py), to send with their next message."""
    from domain import attachments

    owner = Actor(account_id=actor.widget_account_id, label=actor.label)  # names the account only
    return await attachments.create_upload(
        session,
        config,
        owner,
        file_name=file_name,
        content_type=content_type,
        byte_size=byte_size,
        uploader_contact_id=actor.contact_id,
    )


async def submit_csat(
    session: AsyncSession, actor: ContactActor, conversation_id: int, rating: int, feedback: str
) -> CsatResponse:
    """A rating (1–5) with feedback for a resolved conversation; submitting again updates it."""
    errors: list[FieldError] = []
    if not 1 <= rating <= 5:
        errors.append(FieldError("rating", "INVALID", "Rate from 1 to 5."))
    feedback = (feedback or "").strip()
    if len(feedback) > 5000:
        errors.append(FieldError("feedback", "TOO_LONG", "At most 5,000 characters."))
    if errors:
        raise ValidationError(errors)
    conversation = await repo.conversation(session, actor, conversation_id, lock=True)
    if conversation is None:
        raise ValidationError.single("conversationId", "NOT_FOUND", "No such conversation.")
    if conversation.status != ConversationStatus.RESOLVED:
        raise ValidationError.single("conversationId", "NOT_RESOLVED", "Rate a conversation once it is resolved.")
    response = await repo.csat_response_of(session, conversation.id)
    if response is None:
        response = CsatResponse(
            account_id=conversation.account_id,
            conversation_id=conversation.id,
            contact_id=conversation.contact_id,
            assignee_id=conversation.assignee_id,
            rating=rating,
            feedback=feedback,
            created_at=utcnow(),
        )
        session.add(response)
    else:
        response.rating, response.feedback = rating, feedback
    from domain.automatic_messages.csat_survey import record_on_message

    await record_on_message(session, conversation.id, rating, feedback)
    await session.flush()
    return response


async def csat_of(session: AsyncSession, conversation_ids: list[int]) -> dict[int, CsatResponse]:
    if not conversation_ids:
        return {}
    return {r.conversation_id: r for r in await repo.csat_responses_of(session, conversation_ids)}
