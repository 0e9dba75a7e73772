"""Scheduled messages (Chatwoot #9484): an agent writes a reply or a private note now for a later
time; until then its author (or an administrator) may edit or cancel it; the scheduler sends it once.

Sending claims one due row under a lock other schedulers skip and, in the same transaction, writes
the message (through `conversations.add_message`, so it counts as a reply, notifies and emails
exactly as one typed then would), marks the row sent and logs the events: a crash before the commit
leaves it pending for the next pass, a commit leaves it sent.

An author who lost access before the time (removed from the account or the inbox) does not take
the message with them: a promise made to a customer is kept. It goes out under the author's name,
marked in `contentAttributes.author_had_left`, and any agent of the conversation may still cancel
it before then. Only when the author's user was deleted altogether is it cancelled
(`author_deleted`): there is nobody left to send it as."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from contextlib import AbstractAsyncContextManager
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from db.base import utcnow
from db.models import Conversation, Inbox, ScheduledMessage
from db.repositories import accounts as account_repo
from db.repositories import helpdesk as helpdesk_repo
from db.repositories import scheduling as repo
from domain.accounts.actor import Actor, ActorKind
from domain.enums import MessageType, Role
from domain.errors import FieldError, Forbidden, NotFound, ValidationError
from domain.helpdesk import conversations
from domain.scheduling.enums import ScheduledMessageStatus
from infra.logs import get_logger

log = get_logger("parley.scheduling")

MAX_AHEAD = timedelta(days=365)  # further ahead is more likely a typo than a plan
MAX_PENDING = 100  # pending scheduled messages per conversation
SEND_BATCH = 100  # messages one scheduler pass sends at most


def _check(content: str | None, send_at: datetime | None, now: datetime) -> None:
    errors: list[FieldError] = []
    if content is not None:
        try:
            conversations.check_content(content)
        except ValidationError as exc:
            errors.extend(exc.errors)
    if send_at is not None:
        if send_at.tzinfo is None:
            errors.append(FieldError("sendAt", "INVALID", "Give the time with its offset (e.g. 2030-01-31T09:00:00Z)."))
        elif send_at <= now:
            errors.append(FieldError("sendAt", "IN_PAST", "Schedule the message for a time in the future."))
        elif send_at > now + MAX_AHEAD:
            errors.append(FieldError("sendAt", "TOO_FAR_AHEAD", "Schedule the message at most a year ahead."))
    if errors:
        raise ValidationError(errors)


async def create(
    session: AsyncSession,
    actor: Actor,
    conversation_id: int,
    *,
    content: str,
    private: bool,
    send_at: datetime,
    now: datetime | None = None,
) -> ScheduledMessage:
    """Schedule a message on a conversation the agent may see (another account's is not found)."""
    now = now or utcnow()
    conversation = await helpdesk_repo.conversation_visible(session, actor, conversation_id, lock=True)
    if conversation is None:
        raise ValidationError.single("conversationId", "NOT_FOUND", "No such conversation.")
    _check(content, send_at, now)
    if await repo.pending_count(session, conversation.id) >= MAX_PENDING:
        raise ValidationError.single(
            "conversationId", "LIMIT_REACHED", f"A conversation holds at most {MAX_PENDING} pending scheduled messages."
        )
    row = ScheduledMessage(
        account_id=conversation.account_id,
        conversation_id=conversation.id,
        author_id=actor.require_user_id(),
        content=content,
        private=private,
        send_at=send_at,
        status=ScheduledMessageStatus.PENDING,
        created_at=now,
        updated_at=now,
    )
    session.add(row)
    await session.flush()
    return row


async def _pending_own(session: AsyncSession, actor: Actor, scheduled_id: int) -> ScheduledMessage:
    """The pending scheduled message, locked (so a scheduler sending it makes us wait, then refuse)."""
    row = await repo.visible(session, actor, scheduled_id, lock=True)
    if row is None:
        raise ValidationError.single("id", "NOT_FOUND", "No such scheduled message.")
    if row.status == ScheduledMessageStatus.SENT:
        raise ValidationError.single("id", "ALREADY_SENT", "This message was already sent.")
    if row.status == ScheduledMessageStatus.CANCELLED:
        raise ValidationError.single("id", "ALREADY_CANCELLED", "This scheduled message was cancelled.")
    return row


async def update(
    session: AsyncSession,
    actor: Actor,
    scheduled_id: int,
    *,
    content: str | None,
    private: bool | None,
    send_at: datetime | None,
    now: datetime | None = None,
) -> ScheduledMessage:
    """Its author (or an administrator) changes a message before it is sent."""
    now = now or utcnow()
    row = await _pending_own(session, actor, scheduled_id)
    if row.author_id != actor.user_id and not actor.is_administrator:
        raise Forbidden("Only its author or an administrator can change a scheduled message")
    _check(content, send_at, now)
    if content is not None:
        row.content = content
    if private is not None:
        row.private = private
    if send_at is not None:
        row.send_at = send_at
    row.updated_at = now
    await session.flush()
    return row


async def cancel(
    session: AsyncSession, actor: Actor, scheduled_id: int, now: datetime | None = None
) -> ScheduledMessage:
    """Any agent who sees the conversation may cancel a pending message: the author may be away, and
    the conversation may have moved on."""
    now = now or utcnow()
    row = await _pending_own(session, actor, scheduled_id)
    row.status = ScheduledMessageStatus.CANCELLED
    row.cancelled_at = now
    row.cancel_reason = "cancelled_by_author" if row.author_id == actor.user_id else "cancelled_by_agent"
    row.updated_at = now
    await session.flush()
    return row


async def page(
    session: AsyncSession,
    actor: Actor,
    conversation_id: int,
    *,
    status: ScheduledMessageStatus | None,
    after: tuple[datetime, int] | None,
    limit: int,
) -> Sequence[ScheduledMessage]:
    conversation = await helpdesk_repo.conversation_visible(session, actor, conversation_id)
    if conversation is None:
        raise NotFound("No such conversation")
    return await repo.page_of_conversation(
        session, conversation.account_id, conversation.id, status=status, after=after, limit=limit
    )


# --- the scheduler's pass ----------------------------------------------------------------------------


async def _author_still_in(session: AsyncSession, row: ScheduledMessage, conversation: Conversation) -> bool:
    assert row.author_id is not None
    found = await account_repo.membership_with_role(session, row.account_id, row.author_id)
    if found is None:
        return False
    membership = found[0]
    return membership.role == Role.ADMINISTRATOR or await helpdesk_repo.is_inbox_member(
        session, conversation.inbox_id, row.author_id
    )


async def send_one(session: AsyncSession, now: datetime) -> ScheduledMessage | None:
    """Claim the oldest due message and send it in this transaction; None when nothing is due."""
    row = await repo.claim_due(session, now)
    if row is None:
        return None
    if row.author_id is None:
        # The author's user no longer exists anywhere: there is nobody to send it as.
        row.status = ScheduledMessageStatus.CANCELLED
        row.cancel_reason = "author_deleted"
        row.cancelled_at = row.updated_at = now
        await session.flush()
        return row
    conversation = await session.get(Conversation, row.conversation_id, with_for_update=True)
    assert conversation is not None  # the row goes with its conversation (ON DELETE CASCADE)
    inbox = await session.get_one(Inbox, conversation.inbox_id)
    attributes: dict[str, Any] = {"scheduled_message_id": row.id}
    if not await _author_still_in(session, row, conversation):
        attributes["author_had_left"] = True
    author = Actor(kind=ActorKind.user, user_id=row.author_id, account_id=row.account_id, label=f"scheduled:{row.id}")
    try:
        message = await conversations.add_message(
            session,
            author,
            conversation,
            inbox,
            content=row.content,
            private=row.private,
            message_type=MessageType.OUTGOING,
            content_attributes=attributes,
        )
    except ValidationError as exc:
        raise SendFailed(row.id, str(exc)) from exc
    row.status = ScheduledMessageStatus.SENT
    row.message_id = message.id
    row.sent_at = now
    row.updated_at = now
    await session.flush()
    return row


class SendFailed(Exception):
    def __init__(self, scheduled_id: int, reason: str) -> None:
        super().__init__(reason)
        self.scheduled_id = scheduled_id


async def send_due(
    open_unit: Callable[[], AbstractAsyncContextManager[AsyncSession]],
    now: Callable[[], datetime] = utcnow,
) -> int:
    """Send every due message, one per unit of work (`open_unit` gives one), so a failing message
    neither holds back the others nor is retried forever: it is cancelled with the reason."""
    sent = 0
    for _ in range(SEND_BATCH):
        try:
            async with open_unit() as session:
                row = await send_one(session, now())
                if row is None:
                    return sent
        except SendFailed as exc:
            # What was checked when it was scheduled no longer holds: rolled back, then set aside.
            log.warning("scheduled_message.failed", scheduled_message_id=exc.scheduled_id, error=str(exc))
            async with open_unit() as session:
                await _give_up(session, exc.scheduled_id, now())
            continue
        sent += 1
    return sent


async def _give_up(session: AsyncSession, scheduled_id: int, now: datetime) -> None:
    row = await session.get(ScheduledMessage, scheduled_id, with_for_update=True)
    if row is not None and row.status == ScheduledMessageStatus.PENDING:
        row.status = ScheduledMessageStatus.CANCELLED
        row.cancel_reason = "send_failed"
        row.cancelled_at = now
        row.updated_at = now
