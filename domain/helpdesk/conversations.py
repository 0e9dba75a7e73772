"""Conversations and messages: Chatwoot's lifecycle (status transitions, snooze and wake-up, reopen on
an incoming message), assignment, labels, priority, mentions, read markers and activity lines.
Every change writes its event; every read and write goes through the visibility predicate. A new
conversation is opened in domain/helpdesk/opening.py, for every channel alike."""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from db.base import utcnow
from db.models import (
    Contact,
    Conversation,
    ConversationLabel,
    Inbox,
    Mention,
    Message,
    User,
)
from db.repositories import accounts as account_repo
from db.repositories import helpdesk as repo
from domain import events
from domain.accounts.actor import Actor, ActorKind
from domain.enums import AttributeModel, ChannelType, ConversationStatus, MessageType, Priority, SenderType
from domain.errors import Forbidden, NotFound, ValidationError
from domain.events.enums import Consumer, EventType
from domain.sla import tracking as sla

MAX_CONTENT = 150_000  # Chatwoot's cap
MAX_BULK = 100
MAX_BULK_MATCHING = 1000  # conversations one filtered bulk action may change
MENTION_RE = re.compile(r"mention://user/(\d+)/")


async def _actor_user(session: AsyncSession, actor: Actor) -> User | None:
    return await account_repo.user_by_id(session, actor.user_id) if actor.user_id else None


def _actor_name(user: User | None, actor: Actor) -> str:
    if user is not None:
        return user.display_name or user.name
    return actor.label.removeprefix("bot:") if actor.kind == ActorKind.bot else "System"


def _activity(session: AsyncSession, conversation: Conversation, text: str) -> Message:
    message = Message(
        account_id=conversation.account_id,
        conversation_id=conversation.id,
        inbox_id=conversation.inbox_id,
        message_type=MessageType.ACTIVITY,
        content=text,
        sender_type=SenderType.SYSTEM,
        created_at=utcnow(),
    )
    session.add(message)
    # Live clients show activity lines as they happen (webhooks, reports and notifications skip them).
    events.record(
        session,
        account_id=conversation.account_id,
        type=EventType.MESSAGE_CREATED,
        conversation_id=conversation.id,
        contact_id=conversation.contact_id,
        inbox_id=conversation.inbox_id,
        message=message,
    )
    return message


_NOT_EMAILED = frozenset({Consumer.EMAIL_REPLIES})


def _event(session: AsyncSession, conversation: Conversation, type: str, actor: Actor, **kw: Any) -> None:
    events.record(
        session,
        account_id=conversation.account_id,
        type=type,
        conversation_id=conversation.id,
        contact_id=conversation.contact_id,
        inbox_id=conversation.inbox_id,
        actor_user_id=actor.user_id,
        **kw,
    )


async def _visible(session: AsyncSession, actor: Actor, conversation_id: int) -> Conversation:
    # Row lock: read-modify-write of a conversation is serialised.
    conversation = await repo.conversation_visible(session, actor, conversation_id, lock=True)
    if conversation is None:
        raise NotFound("No such conversation")
    return conversation


async def visible_for_update(session: AsyncSession, actor: Actor, conversation_id: int) -> Conversation:
    """The conversation the actor may see, locked for a change (NotFound otherwise)."""
    return await _visible(session, actor, conversation_id)


async def inbox_for_agent(session: AsyncSession, actor: Actor, inbox_id: int, field: str = "inboxId") -> Inbox:
    """The account's inbox, when the actor is one of its agents (administrators and account-wide bots:
    any; an agent bot: the inboxes connected to it)."""
    inbox = await repo.inbox_in_account(session, actor.require_account_id(), inbox_id)
    if inbox is None or not (
        actor.is_administrator
        or (actor.kind == ActorKind.bot and (actor.bot_id is None or inbox.bot_id == actor.bot_id))
        or (actor.kind != ActorKind.bot and await repo.is_inbox_member(session, inbox.id, actor.require_user_id()))
    ):
        raise ValidationError.single(field, "NOT_FOUND", "No such inbox, or you are not one of its agents.")
    return inbox


def check_content(content: str, field: str = "content") -> str:
    """An agent's message text: not blank, at most MAX_CONTENT characters."""
    if len(content) > MAX_CONTENT:
        raise ValidationError.single(field, "TOO_LONG", f"A message holds at most {MAX_CONTENT:,} characters.")
    if not content.strip():
        raise ValidationError.single(field, "REQUIRED", "Write a message.")
    return content


# --- messages --------------------------------------------------------------------------------------


async def create_message(
    session: AsyncSession,
    actor: Actor,
    conversation_id: int,
    *,
    content: str,
    private: bool,
    message_type: MessageType,
    in_reply_to: int | None = None,
    attachment_ids: Sequence[int] = (),
    attachment_config: Any = None,  # domain.attachments.AttachmentConfig, needed with attachment_ids
) -> Message:
    if content or not attachment_ids:  # a message may be its attachments alone
        check_content(content)
    files = []
    if attachment_ids:
        from domain import attachments

        files = await attachments.verify(
            session, attachment_config, actor.require_account_id(), attachment_ids, uploader_user_id=actor.user_id
        )
    found = await repo.conversation_and_inbox_visible(session, actor, conversation_id)
    if found is None:
        raise NotFound("No such conversation")
    conversation, inbox, participating = found  # the conversation locked: read-modify-write is serialised
    if message_type not in (MessageType.OUTGOING, MessageType.INCOMING):
        raise ValidationError.single(
            "messageType", "INVALID", "Agents send OUTGOING messages (or INCOMING on API inboxes)."
        )
    if message_type == MessageType.INCOMING:
        if inbox.channel_type != ChannelType.API:
            raise ValidationError.single(
                "messageType", "INVALID", "Only API inboxes take incoming messages from agents' clients."
            )
        if private:
            raise ValidationError.single("private", "INVALID", "An incoming message cannot be a private note.")
    attributes: dict[str, Any] = {}
    if in_reply_to is not None:
        target = await repo.message_id_in_conversation(session, conversation.id, in_reply_to)
        if target is None:
            raise ValidationError.single("inReplyTo", "NOT_FOUND", "No such message in this conversation.")
        attributes["in_reply_to"] = in_reply_to
    message = await add_message(
        session,
        actor,
        conversation,
        inbox,
        content=content,
        private=private,
        message_type=message_type,
        content_attributes=attributes,
        participating=participating,
    )
    if files:
        from domain import attachments

        attachments.link(files, message)
        await session.flush()
    return message


async def add_message(
    session: AsyncSession,
    actor: Actor,
    conversation: Conversation,
    inbox: Inbox,
    *,
    content: str,
    private: bool,
    message_type: MessageType,
    content_attributes: dict[str, Any],
    source_id: str | None = None,
    automatic: bool = False,
    sender_contact_id: int | None = None,
    participating: bool = False,  # the acting user is known to take part already (no insert needed)
) -> Message:
    """Append a message to a conversation whatever wrote it: an incoming one reopens a resolved or
        snoozed conversation (unless the contact is muted, or the message is `automatic`: an email's
        auto-reply or bounce, which neither reopens nor starts the wait; its sender is the conversation's
    contact unless `sender_contact_id` names another, such as a customer's colleague in Cc); an agent's public reply
        ends the wait and counts as the first reply or a later one; an agent joins as a participant;
        mentions in a private note notify. The caller has checked who may write here."""
    now = utcnow()
    incoming = message_type == MessageType.INCOMING
    contact: Contact | None = None
    message = Message(
        account_id=conversation.account_id,
        conversation_id=conversation.id,
        inbox_id=conversation.inbox_id,
        message_type=message_type,
        content=content,
        private=private,
        sender_type=SenderType.CONTACT
        if incoming
        else (SenderType.BOT if actor.kind == ActorKind.bot else SenderType.USER),
        sender_id=(sender_contact_id or conversation.contact_id)
        if incoming
        else (actor.bot_id if actor.kind == ActorKind.bot else actor.user_id),
        content_attributes=content_attributes,
        source_id=source_id,
        edited_at=None,
        deleted_at=None,
        created_at=now,
    )
    await repo.insert_message(session, message)
    conversation.last_activity_at = now
    if incoming and automatic:
        pass
    elif incoming:
        if conversation.waiting_since is None:
            conversation.waiting_since = now
        contact = await session.get_one(Contact, conversation.contact_id)
        contact.last_activity_at = now
        reopened = False
        if conversation.status in (ConversationStatus.RESOLVED, ConversationStatus.SNOOZED) and not contact.blocked:
            previous = conversation.status
            # In an inbox with a bot the bot answers first again (Chatwoot: pending).
            new_status = ConversationStatus.PENDING if inbox.bot_id is not None else ConversationStatus.OPEN
            reopened = previous == ConversationStatus.RESOLVED
            conversation.status = new_status
            conversation.snoozed_until = None
            _event(
                session,
                conversation,
                EventType.CONVERSATION_STATUS_CHANGED,
                actor,
                payload={
                    "changed_attributes": {"status": [previous.value, new_status.value]},
                    "reason": "incoming_message",
                },
            )
        await sla.contact_wrote(session, conversation, now, reopened)
    elif not private and message.sender_type == SenderType.USER:
        first = conversation.first_reply_created_at is None
        if first:
            conversation.first_reply_created_at = now
        waited = conversation.waiting_since
        conversation.waiting_since = None
        await sla.agent_replied(session, conversation)
        _event(
            session,
            conversation,
            EventType.FIRST_REPLY_CREATED if first else EventType.REPLY_CREATED,
            actor,
            message_id=message.id,
            payload={"waiting_since": waited.isoformat() if waited else None},
        )
    if not incoming and actor.user_id is not None and not participating:
        await _participate(session, conversation, actor.user_id)
    if private:
        await _mentions(session, actor, conversation, message)
    _event(
        session,
        conversation,
        EventType.MESSAGE_CREATED,
        actor,
        message_id=message.id,
        private=private,
        payload={"message_type": message_type.value},
        # Only an agent's public reply in an email inbox is emailed (domain/email_replies.py).
        not_for=_NOT_EMAILED if incoming or private or inbox.channel_type != ChannelType.EMAIL else frozenset(),
    )
    if incoming and not automatic and contact is not None and not contact.blocked:
        from domain.automatic_messages import service as automatic_messages

        await automatic_messages.after_incoming(session, conversation, inbox, now=now)
    return message


async def _participate(session: AsyncSession, conversation: Conversation, user_id: int) -> None:
    await repo.add_participant(session, conversation.id, user_id, conversation.account_id)


async def _mentions(session: AsyncSession, actor: Actor, conversation: Conversation, message: Message) -> None:
    """`@[Name](mention://user/ID/Name)` in a private note: the colleague joins the conversation and is
    told (notification jobs consume `conversation.mentioned`)."""
    ids = {int(x) for x in MENTION_RE.findall(message.content)} - {actor.user_id}
    if not ids:
        return
    members = await repo.users_in_account_by_ids(session, conversation.account_id, list(ids))
    for user_id in sorted(members):
        existing = await repo.mention_of(session, conversation.id, user_id)
        if existing is None:
            session.add(
                Mention(
                    account_id=conversation.account_id,
                    conversation_id=conversation.id,
                    user_id=user_id,
                    message_id=message.id,
                    mentioned_at=utcnow(),
                )
            )
        else:
            existing.message_id, existing.mentioned_at = message.id, utcnow()
        await _participate(session, conversation, user_id)
        _event(
            session,
            conversation,
            EventType.CONVERSATION_MENTIONED,
            actor,
            message_id=message.id,
            private=True,
            payload={"user_id": user_id},
        )
    message.content_attributes = {**message.content_attributes, "mentioned_user_ids": sorted(members)}


# --- changing --------------------------------------------------------------------------------------


async def change_assignee(
    session: AsyncSession,
    actor: Actor,
    conversation: Conversation,
    assignee_id: int | None,
    field: str = "assigneeId",
    via: str | None = None,
) -> bool:
    """Assign the conversation (None: unassign) to an agent of its inbox, with its activity line and
    event; False when nothing changed."""
    if assignee_id == conversation.assignee_id:
        return False
    actor_user = await _actor_user(session, actor)
    if assignee_id is not None:
        assignee = (await repo.users_in_account_by_ids(session, conversation.account_id, [assignee_id])).get(
            assignee_id
        )
        if assignee is None or not await repo.is_inbox_member(session, conversation.inbox_id, assignee_id):
            raise ValidationError.single(
                field, "ASSIGNEE_NOT_IN_INBOX", "The assignee must be an agent of this conversation's inbox."
            )
        text = (
            f"Assigned to {assignee.display_name or assignee.name} by {via}"
            if via
            else f"{_actor_name(actor_user, actor)} self-assigned this conversation"
            if assignee_id == actor.user_id
            else f"Assigned to {assignee.display_name or assignee.name} by {_actor_name(actor_user, actor)}"
        )
        await _participate(session, conversation, assignee_id)
    else:
        text = f"Conversation unassigned by {_actor_name(actor_user, actor)}"
    previous = conversation.assignee_id
    conversation.assignee_id = assignee_id
    _activity(session, conversation, text)
    _event(
        session,
        conversation,
        EventType.ASSIGNEE_CHANGED,
        actor,
        payload={"changed_attributes": {"assignee_id": [previous, assignee_id]}},
    )
    return True


async def assign(
    session: AsyncSession,
    actor: Actor,
    conversation_id: int,
    *,
    assignee_id: int | None,
    set_assignee: bool,
    team_id: int | None,
    set_team: bool,
) -> Conversation:
    conversation = await _visible(session, actor, conversation_id)
    if set_team:
        await _set_team(session, actor, conversation, team_id)
    if set_assignee:
        await change_assignee(session, actor, conversation, assignee_id)
    await session.flush()
    return conversation


async def _set_team(session: AsyncSession, actor: Actor, conversation: Conversation, team_id: int | None) -> None:
    if team_id == conversation.team_id:
        return
    from domain.catalog.teams import team_in_account

    actor_user = await _actor_user(session, actor)
    if team_id is not None:
        team = await team_in_account(session, conversation.account_id, team_id)
        if team is None:
            raise ValidationError.single("teamId", "NOT_FOUND", "No such team.")
        text = f"Assigned to {team.name} team by {_actor_name(actor_user, actor)}"
    else:
        text = f"Unassigned from team by {_actor_name(actor_user, actor)}"
    previous = conversation.team_id
    conversation.team_id = team_id
    _activity(session, conversation, text)
    _event(
        session,
        conversation,
        EventType.TEAM_CHANGED,
        actor,
        payload={"changed_attributes": {"team_id": [previous, team_id]}},
    )


STATUS_TEXT = {
    ConversationStatus.OPEN: "Conversation was reopened by {who}",
    ConversationStatus.RESOLVED: "Conversation was marked resolved by {who}",
    ConversationStatus.PENDING: "Conversation was marked pending by {who}",
    ConversationStatus.SNOOZED: "Conversation was snoozed by {who}",
}


async def set_status(
    session: AsyncSession,
    actor: Actor,
    conversation_id: int,
    status: ConversationStatus,
    snoozed_until: datetime | None,
    now: datetime | None = None,
) -> Conversation:
    conversation = await _visible(session, actor, conversation_id)
    await _set_status(session, actor, conversation, status, snoozed_until, now or utcnow())
    await session.flush()
    return conversation


async def _set_status(
    session: AsyncSession,
    actor: Actor,
    conversation: Conversation,
    status: ConversationStatus,
    snoozed_until: datetime | None,
    now: datetime,
    reason: str | None = None,
    activity: str | None = None,
) -> None:
    if status == ConversationStatus.SNOOZED:
        if snoozed_until is not None and snoozed_until <= now:
            raise ValidationError.single("snoozedUntil", "SNOOZE_IN_PAST", "Snooze until a time in the future.")
    elif snoozed_until is not None:
        raise ValidationError.single("snoozedUntil", "INVALID", "Only a snoozed conversation has a wake-up time.")
    if status == conversation.status and snoozed_until == conversation.snoozed_until:
        return
    previous = conversation.status
    conversation.status = status
    conversation.snoozed_until = snoozed_until if status == ConversationStatus.SNOOZED else None
    if status == ConversationStatus.RESOLVED:
        conversation.waiting_since = None
    await sla.status_changed(session, conversation, previous, now)
    if activity is None:
        actor_user = await _actor_user(session, actor)
        activity = STATUS_TEXT[status].format(who=_actor_name(actor_user, actor))
    _activity(session, conversation, activity)
    _event(
        session,
        conversation,
        EventType.CONVERSATION_STATUS_CHANGED,
        actor,
        payload={
            "changed_attributes": {"status": [previous.value, status.value]},
            "snoozed_until": snoozed_until.isoformat() if snoozed_until else None,
            **({"reason": reason} if reason else {}),
        },
    )
    if status == ConversationStatus.RESOLVED:
        from domain.automatic_messages import service as automatic_messages

        await automatic_messages.after_resolved(session, conversation, reason=reason)


async def resolve_automatically(
    session: AsyncSession, actor: Actor, conversation: Conversation, now: datetime, *, activity: str, reason: str
) -> None:
    """Resolve a conversation the caller holds locked, with its own activity line (auto-resolve)."""
    await _set_status(session, actor, conversation, ConversationStatus.RESOLVED, None, now, reason, activity)


async def handoff(session: AsyncSession, actor: Actor, conversation_id: int) -> Conversation:
    """A bot (or an agent) hands a pending conversation to people (Chatwoot's bot handoff): it opens,
    with an activity line, so auto-assignment picks it up. Anything but pending is refused."""
    conversation = await _visible(session, actor, conversation_id)
    if conversation.status != ConversationStatus.PENDING:
        raise ValidationError.single(
            "id", "NOT_PENDING", "Only a pending conversation (one a bot is answering) can be handed off."
        )
    conversation.status = ConversationStatus.OPEN
    actor_user = await _actor_user(session, actor)
    _activity(session, conversation, f"Conversation was handed off to the team by {_actor_name(actor_user, actor)}")
    _event(session, conversation, EventType.CONVERSATION_BOT_HANDOFF, actor)
    _event(
        session,
        conversation,
        EventType.CONVERSATION_STATUS_CHANGED,
        actor,
        payload={"changed_attributes": {"status": ["pending", "open"]}, "snoozed_until": None, "reason": "bot_handoff"},
    )
    await session.flush()
    return conversation


def _earliest(*values: datetime | None) -> datetime | None:
    present = [v for v in values if v is not None]
    return min(present) if present else None


async def merge(session: AsyncSession, actor: Actor, keep_id: int, merge_id: int) -> Conversation:
    """Merge one conversation into another of the same contact, in one transaction: its messages
    (private notes, activity lines and attachments with them) move to the kept conversation, which
    also gains its labels, participants and mentions; both get an activity line; the merged one is
    resolved and points to the kept one. The kept conversation's first reply and waiting time take
    the earlier of the two. Reporting events already recorded stay with the conversation the fact
    happened in, so nothing is counted twice, and the merge's own resolve is not a resolution."""
    found = {c.id: c for c in await repo.conversations_visible(session, actor, sorted({keep_id, merge_id}))}
    keep, merged = found.get(keep_id), found.get(merge_id)
    if keep is None or merged is None:
        raise NotFound("No such conversation")
    if keep.id == merged.id:
        raise ValidationError.single("mergeId", "SAME_CONVERSATION", "A conversation cannot be merged into itself.")
    if merged.merged_into_id is not None:
        raise ValidationError.single("mergeId", "ALREADY_MERGED", "This conversation was already merged.")
    if keep.merged_into_id is not None:
        raise ValidationError.single(
            "keepId", "ALREADY_MERGED", "This conversation was merged into another: merge into that one."
        )
    if keep.contact_id != merged.contact_id:
        raise ValidationError.single(
            "mergeId", "DIFFERENT_CONTACT", "Only conversations with the same contact can be merged."
        )
    now = utcnow()
    labels_before = await repo.label_titles_of(session, keep.id)
    moved = await repo.move_conversation_records(session, merged.id, keep.id, keep.account_id)
    labels_after = await repo.label_titles_of(session, keep.id)
    changed: dict[str, Any] = {}
    if labels_after != labels_before:
        changed["labels"] = [labels_before, labels_after]
    first_reply = _earliest(keep.first_reply_created_at, merged.first_reply_created_at)
    if first_reply != keep.first_reply_created_at:
        previous_reply = keep.first_reply_created_at
        changed["first_reply_created_at"] = [
            previous_reply.isoformat() if previous_reply else None,
            first_reply.isoformat() if first_reply else None,
        ]
        keep.first_reply_created_at = first_reply
    if keep.status != ConversationStatus.RESOLVED:
        waiting = _earliest(keep.waiting_since, merged.waiting_since)
        if waiting != keep.waiting_since:
            changed["waiting_since"] = [
                keep.waiting_since.isoformat() if keep.waiting_since else None,
                waiting.isoformat() if waiting else None,
            ]
            keep.waiting_since = waiting
    if merged.contact_last_seen_at and (
        keep.contact_last_seen_at is None or merged.contact_last_seen_at > keep.contact_last_seen_at
    ):
        keep.contact_last_seen_at = merged.contact_last_seen_at
    keep.last_activity_at = max(now, keep.last_activity_at, merged.last_activity_at)
    merged.merged_into_id = keep.id
    merged.last_activity_at = now
    who = _actor_name(await _actor_user(session, actor), actor)
    _activity(session, keep, f"#{merged.display_id} was merged into this conversation by {who}")
    _activity(session, merged, f"Merged #{merged.display_id} into #{keep.display_id} by {who}")
    if merged.status != ConversationStatus.RESOLVED:
        await _set_status(session, actor, merged, ConversationStatus.RESOLVED, None, now, reason="merged")
    _event(
        session,
        merged,
        EventType.CONVERSATION_UPDATED,
        actor,
        payload={"changed_attributes": {"merged_into_id": [None, keep.id]}},
    )
    _event(session, keep, EventType.CONVERSATION_UPDATED, actor, payload={"changed_attributes": changed})
    _event(
        session,
        keep,
        EventType.CONVERSATION_MERGED,
        actor,
        payload={
            "merged_conversation_id": merged.id,
            "merged_display_id": merged.display_id,
            "messages_moved": moved,
        },
    )
    await session.flush()
    return keep


async def set_priority(
    session: AsyncSession, actor: Actor, conversation_id: int, priority: Priority | None
) -> Conversation:
    conversation = await _visible(session, actor, conversation_id)
    _set_priority(session, actor, conversation, priority)
    await session.flush()
    return conversation


def _set_priority(session: AsyncSession, actor: Actor, conversation: Conversation, priority: Priority | None) -> None:
    if conversation.priority != priority:
        previous = conversation.priority
        conversation.priority = priority
        _event(
            session,
            conversation,
            EventType.CONVERSATION_UPDATED,
            actor,
            payload={
                "changed_attributes": {
                    "priority": [previous.value if previous else None, priority.value if priority else None]
                }
            },
        )


async def _set_labels(
    session: AsyncSession,
    actor: Actor,
    conversation: Conversation,
    add: Sequence[str],
    remove: Sequence[str],
    replace: bool,
) -> None:
    from domain.catalog.labels import labels_by_titles

    if len(add) + len(remove) > MAX_BULK:
        raise ValidationError.single("labels", "TOO_MANY", f"At most {MAX_BULK} labels at once.")
    found, missing = await labels_by_titles(session, conversation.account_id, list(add))
    if missing:
        raise ValidationError.single("labels", "UNKNOWN_LABEL", f"No such label: {', '.join(missing)}.")
    removing, _ = await labels_by_titles(session, conversation.account_id, list(remove))
    current = await repo.label_ids_of(session, conversation.id)
    wanted = (
        {label.id for label in found}
        if replace
        else (current | {label.id for label in found}) - {label.id for label in removing}
    )
    added, dropped = wanted - current, current - wanted
    if not added and not dropped:
        return
    session.add_all(
        ConversationLabel(conversation_id=conversation.id, label_id=i, account_id=conversation.account_id)
        for i in sorted(added)
    )
    if dropped:
        await repo.remove_conversation_labels(session, conversation.id, dropped)
    titles = {label.id: label.title for label in [*found, *removing]}
    if dropped - set(titles):
        titles.update(
            {
                i: label.title
                for i, label in (await repo.labels_of_account(session, conversation.account_id, list(dropped))).items()
            }
        )
    actor_name = _actor_name(await _actor_user(session, actor), actor)
    if added:
        _activity(session, conversation, f"{actor_name} added {', '.join(sorted(titles[i] for i in added))}")
    if dropped:
        _activity(session, conversation, f"{actor_name} removed {', '.join(sorted(titles[i] for i in dropped))}")
    _event(
        session,
        conversation,
        EventType.CONVERSATION_UPDATED,
        actor,
        payload={
            "changed_attributes": {
                "labels": [
                    sorted(titles.get(i, str(i)) for i in current),
                    sorted(titles.get(i, str(i)) for i in wanted),
                ]
            }
        },
    )


async def update_labels(
    session: AsyncSession,
    actor: Actor,
    conversation_id: int,
    *,
    add: Sequence[str],
    remove: Sequence[str],
    replace: bool,
) -> Conversation:
    conversation = await _visible(session, actor, conversation_id)
    await _set_labels(session, actor, conversation, add, remove, replace)
    await session.flush()
    return conversation


async def update_custom_attributes(
    session: AsyncSession, actor: Actor, conversation_id: int, values: dict[str, Any]
) -> Conversation:
    from domain.catalog.custom_attributes import validate_custom_attributes

    conversation = await _visible(session, actor, conversation_id)
    errors = await validate_custom_attributes(
        session,
        actor.require_account_id(),
        AttributeModel.CONVERSATION,
        {k: v for k, v in values.items() if v is not None},
    )
    if errors:
        raise ValidationError(errors)
    merged = {k: v for k, v in {**conversation.custom_attributes, **values}.items() if v is not None}
    if merged != conversation.custom_attributes:
        _event(
            session,
            conversation,
            EventType.CONVERSATION_UPDATED,
            actor,
            payload={"changed_attributes": {"custom_attributes": [conversation.custom_attributes, merged]}},
        )
        conversation.custom_attributes = merged
    await session.flush()
    return conversation


async def mark_read(session: AsyncSession, actor: Actor, conversation_id: int) -> Conversation:
    conversation = await _visible(session, actor, conversation_id)
    conversation.agent_last_seen_at = utcnow()
    await session.flush()
    return conversation


async def mute(session: AsyncSession, actor: Actor, conversation_id: int, muted: bool) -> Conversation:
    """Chatwoot: muting blocks the contact; their new messages no longer reopen the conversation."""
    conversation = await _visible(session, actor, conversation_id)
    contact = await session.get_one(Contact, conversation.contact_id, with_for_update=True)
    if contact.blocked != muted:
        contact.blocked = muted
        actor_name = _actor_name(await _actor_user(session, actor), actor)
        _activity(session, conversation, f"{actor_name} {'muted' if muted else 'unmuted'} the conversation")
        if muted and conversation.status != ConversationStatus.RESOLVED:
            await _set_status(session, actor, conversation, ConversationStatus.RESOLVED, None, utcnow())
        events.record(
            session,
            account_id=conversation.account_id,
            type=EventType.CONTACT_UPDATED,
            contact_id=contact.id,
            actor_user_id=actor.user_id,
            payload={"changed_attributes": {"blocked": [not muted, muted]}},
        )
    await session.flush()
    return conversation


async def bulk(
    session: AsyncSession,
    actor: Actor,
    ids: Sequence[int],
    *,
    status: ConversationStatus | None,
    assignee_id: int | None,
    set_assignee: bool,
    add_labels: Sequence[str],
) -> list[Conversation]:
    """Assign, change status or label up to 100 conversations in one transaction: all or nothing."""
    if not ids or len(ids) > MAX_BULK:
        raise ValidationError.single("ids", "INVALID", f"Give 1 to {MAX_BULK} conversations.")
    conversations = await repo.conversations_visible(session, actor, sorted(set(ids)))
    if len(conversations) != len(set(ids)):
        raise NotFound("Some conversations do not exist or are not visible to you")
    change = BulkChange(status=status, assignee_id=assignee_id, set_assignee=set_assignee, add_labels=add_labels)
    await _apply_bulk(session, actor, conversations, change)
    return conversations


@dataclass(frozen=True)
class BulkChange:
    """What a bulk action does to each conversation; unset parts leave it as it is."""

    status: ConversationStatus | None = None
    assignee_id: int | None = None
    set_assignee: bool = False
    priority: Priority | None = None
    set_priority: bool = False
    add_labels: Sequence[str] = ()


async def _apply_bulk(
    session: AsyncSession, actor: Actor, conversations: Sequence[Conversation], change: BulkChange
) -> int:
    """Apply `change` to each conversation through the one-conversation paths (their activity lines
    and events included); the number of conversations that changed."""
    if change.status == ConversationStatus.SNOOZED:
        raise ValidationError.single("status", "INVALID", "Snooze conversations one at a time.")
    now = utcnow()
    changed = 0
    for conversation in conversations:
        before = (conversation.status, conversation.assignee_id, conversation.priority)
        labels_before = await repo.label_ids_of(session, conversation.id) if change.add_labels else set()
        if change.set_assignee:
            await change_assignee(session, actor, conversation, change.assignee_id)
        if change.status is not None:
            await _set_status(session, actor, conversation, change.status, None, now)
        if change.set_priority:
            _set_priority(session, actor, conversation, change.priority)
        if change.add_labels:
            await _set_labels(session, actor, conversation, change.add_labels, (), replace=False)
            await session.flush()
        after = (conversation.status, conversation.assignee_id, conversation.priority)
        labels_after = await repo.label_ids_of(session, conversation.id) if change.add_labels else set()
        changed += before != after or labels_before != labels_after
    await session.flush()
    return changed


async def bulk_matching(
    session: AsyncSession, actor: Actor, f: repo.ConversationFilter, change: BulkChange
) -> tuple[int, int]:
    """Apply `change` to every conversation the actor may see that matches the list filter `f`, up to
    MAX_BULK_MATCHING in one transaction (TOO_MANY above it, nothing changed): (matched, changed)."""
    if not (change.set_assignee or change.status or change.set_priority or change.add_labels):
        raise ValidationError.single(None, "REQUIRED", "Give a change: status, assignee, priority or labels.")
    conversations = await repo.matching_conversations(session, actor, f, limit=MAX_BULK_MATCHING + 1)
    if len(conversations) > MAX_BULK_MATCHING:
        raise ValidationError.single(
            "filter", "TOO_MANY", f"More than {MAX_BULK_MATCHING} conversations match; narrow the filter."
        )
    return len(conversations), await _apply_bulk(session, actor, conversations, change)


async def edit_message(session: AsyncSession, actor: Actor, message_id: int, content: str) -> Message:
    check_content(content)
    message, conversation = await _own_message(session, actor, message_id)
    history = list(message.content_attributes.get("previous_contents", []))
    history.append({"content": message.content, "edited_at": utcnow().isoformat()})
    message.content_attributes = {**message.content_attributes, "previous_contents": history[-20:]}
    message.content = content
    message.edited_at = utcnow()
    _event(
        session,
        conversation,
        EventType.MESSAGE_UPDATED,
        actor,
        message_id=message.id,
        private=message.private,
        payload={"changed_attributes": {"content": True}},
    )
    await session.flush()
    return message


async def delete_message(session: AsyncSession, actor: Actor, message_id: int) -> Message:
    message, conversation = await _own_message(session, actor, message_id)
    if message.deleted_at is None:
        message.content_attributes = {
            **message.content_attributes,
            "deleted": True,
            "original_content": message.content,
        }
        message.content = "This message was deleted"
        message.deleted_at = utcnow()
        from domain import attachments

        await attachments.remove_for_messages(session, message.account_id, [message.id])
        _event(
            session,
            conversation,
            EventType.MESSAGE_UPDATED,
            actor,
            message_id=message.id,
            private=message.private,
            payload={"changed_attributes": {"deleted": [False, True]}},
        )
    await session.flush()
    return message


async def _own_message(session: AsyncSession, actor: Actor, message_id: int) -> tuple[Message, Conversation]:
    found = await repo.message_visible(session, actor, message_id)
    if found is None:
        raise NotFound("No such message")
    message, conversation = found
    own = message.sender_type == SenderType.USER and message.sender_id == actor.user_id
    if message.message_type == MessageType.ACTIVITY or not (own or actor.is_administrator):
        raise Forbidden("You can change only your own messages")
    return message, conversation


async def wake_snoozed(session: AsyncSession, now: datetime | None = None) -> int:
    """Reopen snoozed conversations whose time has come (periodic job)."""
    now = now or utcnow()
    due = await repo.snoozed_due(session, now)
    system = Actor(label="system")
    for conversation in due:
        conversation.status = ConversationStatus.OPEN
        conversation.snoozed_until = None
        _activity(session, conversation, "Conversation was reopened after its snooze ended")
        _event(
            session,
            conversation,
            EventType.CONVERSATION_STATUS_CHANGED,
            system,
            payload={"changed_attributes": {"status": ["snoozed", "open"]}, "reason": "snooze_ended"},
        )
    return len(due)
