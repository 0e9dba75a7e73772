"""Agents' notifications, as in Chatwoot: who is told what when a conversation is created, assigned,
mentions someone or gets a new message; read and unread; per-user settings per type and channel (in
the app, by email); and the email digests that collect a conversation's unread notifications.

Notifications are made from the event log by the `notifications.fan_out` job, idempotently per
(user, event, type). Nobody is told about their own action, and nobody is told about a conversation
they may not see (a private note reaches only agents who may see the conversation)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from db.base import utcnow
from db.models import Contact, Conversation, Event, Inbox, Message
from db.models.notifications import Notification, NotificationSetting
from db.repositories import notifications as repo
from domain import events
from domain.accounts.actor import Actor
from domain.enums import MessageType, SenderType
from domain.errors import NotFound, ValidationError
from domain.notification_types import NotificationType as T

MAX_IDS = 100
KEEP: Any = object()

# Chatwoot's defaults: in the app everything but new conversations (Chatwoot creates those only for
# users subscribed to them); by email only assignments.
DEFAULT_IN_APP = frozenset({T.CONVERSATION_ASSIGNMENT, T.CONVERSATION_MENTION, T.ASSIGNED_CONVERSATION_NEW_MESSAGE,
                            T.PARTICIPATING_CONVERSATION_NEW_MESSAGE})
DEFAULT_EMAIL = frozenset({T.CONVERSATION_ASSIGNMENT})

# The event types the fan-out consumes (domain.events.CONSUMERS).
CONSUMED = frozenset({"conversation.created", "assignee.changed", "conversation.mentioned", "message.created"})

TITLES = {
    T.CONVERSATION_CREATION: "A conversation (#{display_id}) has been created in {inbox}",
    T.CONVERSATION_ASSIGNMENT: "A conversation (#{display_id}) has been assigned to you",
    T.CONVERSATION_MENTION: "You have been mentioned in conversation (#{display_id})",
    T.ASSIGNED_CONVERSATION_NEW_MESSAGE: "A new message is created in conversation (#{display_id})",
    T.PARTICIPATING_CONVERSATION_NEW_MESSAGE: "A new message is created in conversation (#{display_id})",
}


@dataclass(frozen=True)
class Preferences:
    in_app: frozenset[T]
    email: frozenset[T]

    def wants(self, kind: T) -> tuple[bool, bool]:
        return kind in self.in_app, kind in self.email


DEFAULTS = Preferences(DEFAULT_IN_APP, DEFAULT_EMAIL)


def _preferences(row: NotificationSetting | None) -> Preferences:
    if row is None:
        return DEFAULTS
    known = {t.value for t in T}
    return Preferences(frozenset(T(v) for v in row.in_app_types if v in known),
                       frozenset(T(v) for v in row.email_types if v in known))


# --- settings --------------------------------------------------------------------------------------


async def preferences(session: AsyncSession, actor: Actor) -> Preferences:
    return _preferences(await repo.setting_of(session, actor.account_id, actor.user_id))


@dataclass
class SettingChange:
    type: T
    in_app: Any = KEEP  # KEEP, or a bool
    email: Any = KEEP


async def update_preferences(session: AsyncSession, actor: Actor, changes: Sequence[SettingChange]) -> Preferences:
    if len(changes) > len(T):
        raise ValidationError.single("settings", "TOO_MANY", f"At most {len(T)} settings, one per type.")
    seen: set[T] = set()
    for i, change in enumerate(changes):
        if change.type in seen:
            raise ValidationError.single(f"settings.{i}.type", "DUPLICATE", "Give each notification type once.")
        seen.add(change.type)
        for name in ("in_app", "email"):
            value = getattr(change, name)
            if value is not KEEP and not isinstance(value, bool):
                field = "inApp" if name == "in_app" else "email"
                raise ValidationError.single(f"settings.{i}.{field}", "INVALID", "Give true or false, or leave the field out.")
    row = await repo.setting_of(session, actor.account_id, actor.user_id, lock=True)
    current = _preferences(row)
    in_app, email = set(current.in_app), set(current.email)
    for change in changes:
        for chosen, value in ((in_app, change.in_app), (email, change.email)):
            if value is True:
                chosen.add(change.type)
            elif value is False:
                chosen.discard(change.type)
    if row is None:
        row = NotificationSetting(account_id=actor.account_id, user_id=actor.user_id)
        session.add(row)
    order = list(T)
    row.in_app_types = [t.value for t in order if t in in_app]
    row.email_types = [t.value for t in order if t in email]
    row.updated_at = utcnow()
    await session.flush()
    return _preferences(row)


# --- reading and marking ---------------------------------------------------------------------------


async def page(session: AsyncSession, actor: Actor, *, unread_only: bool, before_id: int | None, limit: int) -> Sequence[Notification]:
    return await repo.page(session, actor, unread_only=unread_only, before_id=before_id, limit=limit)


async def unread_count(session: AsyncSession, actor: Actor) -> int:
    return await repo.unread_count(session, actor)


def _check_ids(ids: Sequence[int]) -> list[int]:
    if not ids:
        raise ValidationError.single("ids", "REQUIRED", "Give at least one notification.")
    if len(ids) > MAX_IDS:
        raise ValidationError.single("ids", "TOO_MANY", f"At most {MAX_IDS} notifications at once.")
    return sorted(set(ids))


async def mark_read(session: AsyncSession, actor: Actor, ids: Sequence[int], now: datetime | None = None) -> list[Notification]:
    """Mark these notifications read (those already read keep their time). All of them must be the
    caller's, or nothing changes."""
    wanted = _check_ids(ids)
    found = await repo.of_actor_by_ids(session, actor, wanted, lock=True)
    if len(found) != len(wanted):
        raise ValidationError.single("ids", "NOT_FOUND", "No such notification.")
    now = now or utcnow()
    for row in found:
        if row.read_at is None:
            row.read_at = now
    await session.flush()
    return found


async def mark_all_read(session: AsyncSession, actor: Actor, now: datetime | None = None) -> int:
    count = await repo.mark_read(session, actor, None, now or utcnow())
    await session.flush()
    return count


async def delete(session: AsyncSession, actor: Actor, notification_id: int) -> Notification:
    found = await repo.of_actor_by_ids(session, actor, [notification_id], lock=True)
    if not found:
        raise NotFound("No such notification")
    await repo.delete_by_id(session, actor, notification_id)
    return found[0]


# --- the fan-out ------------------------------------------------------------------------------------


async def _candidates(session: AsyncSession, event: Event, conversation: Conversation) -> list[tuple[int, T, int | None]]:
    """(user, type, message) pairs an event concerns, before settings and visibility."""
    payload = event.payload or {}
    if event.type == "conversation.created":
        return [(u, T.CONVERSATION_CREATION, None) for u in await repo.inbox_member_ids(session, conversation.inbox_id)]
    if event.type == "assignee.changed":
        change = (payload.get("changed_attributes") or {}).get("assignee_id") or [None, None]
        return [(int(change[1]), T.CONVERSATION_ASSIGNMENT, None)] if change[1] is not None else []
    if event.type == "conversation.mentioned":
        user_id = payload.get("user_id")
        return [(int(user_id), T.CONVERSATION_MENTION, event.message_id)] if user_id is not None else []
    if event.type == "message.created" and event.message_id is not None:
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


async def fan_out(session: AsyncSession, event_ids: Sequence[int], *, email_delay: timedelta, now: datetime | None = None) -> int:
    """Make the notifications these events call for; returns how many were new. Safe to run again
    for the same events: existing (user, event, type) rows are skipped and announced only once."""
    now = now or utcnow()
    evts = (await session.scalars(
        select(Event).where(Event.id.in_(list(event_ids)), Event.type.in_(CONSUMED)).order_by(Event.id)
    )).all()
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
        prefs = {u: _preferences(s) for u, s in (await repo.settings_of(session, event.account_id, user_ids)).items()}
        inbox = await session.get(Inbox, conversation.inbox_id) if any(c[1] == T.CONVERSATION_CREATION for c in candidates) else None
        rows = []
        for user_id, kind, message_id in candidates:
            actor = actors.get(user_id)
            if actor is None or not await repo.can_see(session, actor, conversation.id):
                continue
            in_app, email = prefs.get(user_id, DEFAULTS).wants(kind)
            if not in_app and not email:
                continue
            rows.append(dict(
                account_id=event.account_id, user_id=user_id, notification_type=kind, conversation_id=conversation.id,
                message_id=message_id, actor_user_id=event.actor_user_id, event_id=event.id,
                title=TITLES[kind].format(display_id=conversation.display_id, inbox=inbox.name if inbox else "")[:500],
                in_app=in_app, read_at=None, email_due_at=now + email_delay if email else None, email_done_at=None,
                created_at=now,
            ))
        for notification_id, user_id, in_app in await repo.insert_new(session, rows):
            created += 1
            if in_app:  # email-only ones are not shown in the app
                events.record(session, account_id=event.account_id, type="notification.created",
                              payload={"user_id": user_id, "notification_id": notification_id})
    await session.flush()
    return created


# --- email digests ----------------------------------------------------------------------------------

SNIPPET = 300


def _snippet(message: Message | None) -> str:
    if message is None or message.deleted_at is not None:
        return ""
    text = " ".join(message.content.split())
    return text if len(text) <= SNIPPET else text[: SNIPPET - 1] + "…"


async def send_due_email_digests(session: AsyncSession, *, now: datetime | None = None, limit: int = 50) -> int:
    """Email each (user, conversation) whose oldest pending email notification is due: one email with
    all of that conversation's notifications still unread, if the user still wants them by email and
    may still see the conversation. Returns the number of emails queued (`email.send` jobs). A group
    that cannot be composed is logged and given up, so it never blocks the others."""
    from infra.logs import get_logger

    now = now or utcnow()
    queued = 0
    for account_id, user_id, conversation_id in await repo.due_email_groups(session, now, limit):
        try:
            async with session.begin_nested():
                queued += await _email_digest(session, account_id, user_id, conversation_id, now)
        except Exception:  # noqa: BLE001 - one bad group must not stop the sweep for ever
            get_logger("parley.notifications").exception("notifications.digest_failed", user_id=user_id,
                                                         conversation_id=conversation_id)
            await repo.give_up_emails(session, user_id, conversation_id, now)
    await session.flush()
    return queued


async def _email_digest(session: AsyncSession, account_id: int, user_id: int, conversation_id: int, now: datetime) -> int:
    from db.models import Account, User
    from domain.email_templates import Safe, html_paragraphs, render
    from domain.outbox import add_job

    rows = await repo.lock_pending_emails(session, user_id, conversation_id)
    if not rows:
        return 0  # another sweeper has them
    for row in rows:
        row.email_done_at = now
    await session.flush()
    prefs = _preferences(await repo.setting_of(session, account_id, user_id))
    wanted = [r for r in rows if r.read_at is None and r.notification_type in prefs.email]
    if not wanted:
        return 0
    actor = (await repo.member_actors(session, account_id, [user_id])).get(user_id)
    if actor is None or not await repo.can_see(session, actor, conversation_id):
        return 0
    user = await session.get(User, user_id)
    conversation = await session.get(Conversation, conversation_id)
    inbox = await session.get(Inbox, conversation.inbox_id)
    account = await session.get(Account, account_id)
    message_ids = [r.message_id for r in wanted if r.message_id is not None]
    messages = {m.id: m for m in (await session.scalars(select(Message).where(Message.id.in_(message_ids))))} if message_ids else {}
    text_items, html_items = [], []
    for row in wanted:
        snippet = _snippet(messages.get(row.message_id))
        text_items.append(render("notification_digest_item.txt", title=row.title, snippet=f"\n  {snippet}" if snippet else ""))
        html_items.append(render("notification_digest_item.html", title=row.title,
                                 snippet=Safe("<br>" + html_paragraphs(snippet)) if snippet else ""))
    count = len(wanted)
    subject = wanted[0].title if count == 1 else f"{count} new notifications in conversation #{conversation.display_id}"
    intro = "You have a new notification:" if count == 1 else f"You have {count} new notifications:"
    common = dict(name=user.display_name or user.name, intro=intro, display_id=conversation.display_id,
                  inbox=inbox.name, account=account.name)
    text = render("notification_digest.txt", items="".join(text_items), **common)
    html_body = render("notification_digest.html", items=Safe("".join(html_items)), **common)
    add_job(session, "email.send", to=user.email, subject=subject, text=text, html=html_body)
    await session.flush()
    return 1
