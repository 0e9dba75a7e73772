"""Making agents' notifications from the event log (the `notifications.fan_out` job), idempotently
per (user, event, type): who is told what when a conversation is created, assigned, mentions
someone or gets a new message. Nobody is told about their own action, and nobody is told about a
conversation they may not see (a private note reaches only agents who may see the conversation)."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta

from sqlalchemy.ext.asyncio import AsyncSession

from db.base import utcnow
from db.models import Contact, Conversation, Event, Inbox, Message
from db.repositories import events as event_repo
from db.repositories import notifications as repo
from domain import events
from domain.enums import MessageType, SenderType
from domain.events.enums import Consumer, EventType, consumed_by
from domain.notification_types import NotificationType as T
from domain.notifications.service import DEFAULTS, preferences_of

CONSUMED = consumed_by(Consumer.NOTIFICATIONS)

TITLES = {
    T.CONVERSATION_CREATION: "A conversation (#{display_id}) has been created in {inbox}",
    T.CONVERSATION_ASSIGNMENT: "A conversation (#{display_id}) has been assigned to you",
    T.CONVERSATION_MENTION: "You have been mentioned in conversation (#{display_id})",
    T.ASSIGNED_CONVERSATION_NEW_MESSAGE: "A new message is created in conversation (#{display_id})",
    T.PARTICIPATING_CONVERSATION_NEW_MESSAGE: "A new message is created in conversation (#{display_id})",
    T.SLA_MISSED_FIRST_RESPONSE: "Conversation (#{display_id}) missed its SLA for first response",
    T.SLA_MISSED_NEXT_RESPONSE: "Conversation (#{display_id}) missed its SLA for next response",
    T.SLA_MISSED_RESOLUTION: "Conversation (#{display_id}) missed its SLA for resolution",
    T.SLA_WARNING: "Conversation (#{display_id}) is close to missing its SLA",
}
SLA_MISSED_TYPES = {
    "first_response": T.SLA_MISSED_FIRST_RESPONSE,
    "next_response": T.SLA_MISSED_NEXT_RESPONSE,
    "resolution": T.SLA_MISSED_RESOLUTION,
}


async def _candidates(
    session: AsyncSession, event: Event, conversation: Conversation
) -> list[tuple[int, T, int | None]]:
    """(user, type, message) pairs an event concerns, before settings and visibility."""
    payload = event.payload or {}
    if event.type == EventType.CONVERSATION_CREATED:
        return [(u, T.CONVERSATION_CREATION, None) for u in await repo.inbox_member_ids(session, conversation.inbox_id)]
    if event.type == EventType.ASSIGNEE_CHANGED:
        change = (payload.get("changed_attributes") or {}).get("assignee_id") or [None, None]
        return [(int(change[1]), T.CONVERSATION_ASSIGNMENT, None)] if change[1] is not None else []
    if event.type == EventType.CONVERSATION_MENTIONED:
        user_id = payload.get("user_id")
        return [(int(user_id), T.CONVERSATION_MENTION, event.message_id)] if user_id is not None else []
    if event.type in (EventType.SLA_MISSED, EventType.SLA_WARNING):
        # Chatwoot: the assignee, the participants and the account's administrators.
        kind = SLA_MISSED_TYPES.get(str(payload.get("target"))) if event.type == EventType.SLA_MISSED else T.SLA_WARNING
        if kind is None:
            return []
        users = {*await repo.participant_ids_at(session, conversation.id, event.created_at)}
        users |= set(await repo.administrator_ids(session, conversation.account_id))
        if conversation.assignee_id is not None:
            users.add(conversation.assignee_id)
        return [(u, kind, None) for u in sorted(users)]
    if event.type == EventType.MESSAGE_CREATED and event.message_id is not None:
        message = await session.get(Message, event.message_id)
        if message is None or message.message_type not in (MessageType.INCOMING, MessageType.OUTGOING):
            return []
        # Chatwoot: a colleague mentioned in this note is told once, by the mention.
        mentioned = {int(u) for u in (message.content_attributes or {}).get("mentioned_user_ids", [])}
        # Who was assigned and taking part when the message came, not when the job runs: a retried
        # or repeated fan-out decides the same.
        assignee = await repo.assignee_before(session, conversation.id, event.id)
        out: list[tuple[int, T, int | None]] = []
        if assignee is not None and assignee not in mentioned:
            out.append((assignee, T.ASSIGNED_CONVERSATION_NEW_MESSAGE, message.id))
        for user_id in await repo.participant_ids_at(session, conversation.id, message.created_at):
            if user_id != assignee and user_id not in mentioned:
                out.append((user_id, T.PARTICIPATING_CONVERSATION_NEW_MESSAGE, message.id))
        if message.sender_type == SenderType.USER:
            out = [c for c in out if c[0] != message.sender_id]
        return out
    return []


async def fan_out(
    session: AsyncSession, event_ids: Sequence[int], *, email_delay: timedelta, now: datetime | None = None
) -> int:
    """Make the notifications these events call for; returns how many were new. Safe to run again
    for the same events: existing (user, event, type) rows are skipped and announced only once."""
    now = now or utcnow()
    evts = await event_repo.events_by_ids(session, event_ids, CONSUMED)
    created = 0
    for event in evts:
        if event.conversation_id is None:
            continue
        conversation = await session.get(Conversation, event.conversation_id)
        if conversation is None or conversation.account_id != event.account_id:
            continue
        candidates = [c for c in await _candidates(session, event, conversation) if c[0] != event.actor_user_id]
        if not candidates:
            continue
        contact = await session.get(Contact, conversation.contact_id)
        if contact is not None and contact.blocked:
            # Chatwoot: nothing about a muted contact's conversation but mentions.
            candidates = [c for c in candidates if c[1] == T.CONVERSATION_MENTION]
        user_ids = sorted({c[0] for c in candidates})
        actors = await repo.member_actors(session, event.account_id, user_ids)
        prefs = {u: preferences_of(s) for u, s in (await repo.settings_of(session, event.account_id, user_ids)).items()}
        inbox = (
            await session.get(Inbox, conversation.inbox_id)
            if any(c[1] == T.CONVERSATION_CREATION for c in candidates)
            else None
        )
        rows = []
        for user_id, kind, message_id in candidates:
            actor = actors.get(user_id)
            if actor is None or not await repo.can_see(session, actor, conversation.id):
                continue
            in_app, email = prefs.get(user_id, DEFAULTS).wants(kind)
            if not in_app and not email:
                continue
            rows.append(
                dict(
                    account_id=event.account_id,
                    user_id=user_id,
                    notification_type=kind,
                    conversation_id=conversation.id,
                    message_id=message_id,
                    actor_user_id=event.actor_user_id,
                    event_id=event.id,
                    title=TITLES[kind].format(display_id=conversation.display_id, inbox=inbox.name if inbox else "")[
                        :500
                    ],
                    in_app=in_app,
                    read_at=None,
                    email_due_at=now + email_delay if email else None,
                    email_done_at=None,
                    created_at=now,
                )
            )
        for notification_id, user_id, in_app in await repo.insert_new(session, rows):
            created += 1
            if in_app:  # email-only ones are not shown in the app
                events.record(
                    session,
                    account_id=event.account_id,
                    type=EventType.NOTIFICATION_CREATED,
                    payload={"user_id": user_id, "notification_id": notification_id},
                )
    await session.flush()
    return created
