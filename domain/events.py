"""The event log: every change anyone may want to hear about writes an event in the same transaction.

Events wait in the session until `finalize` (called right before commit) gives them their
per-account positions from the account row; taking the counter last keeps the row lock short and
makes positions visible in commit order."""

from __future__ import annotations

from collections import defaultdict
from typing import Any

from sqlalchemy import update
from sqlalchemy.ext.asyncio import AsyncSession

from db.models import Account, Event
from domain import outbox

PENDING = "pending_events"
MESSAGE_REFS = "pending_event_messages"
FINALIZED = "finalized_events"

# Consumers of the event log: a Dramatiq actor name -> the event types it handles (None: all).
# `finalize` writes one outbox job per interested consumer into the same transaction as the events,
# so the fan-out (webhooks, notifications, reporting) survives a broker outage and runs at least
# once; each consumer is idempotent by event id. Its actor takes `event_ids: list[int]`.
CONSUMERS: dict[str, frozenset[str] | None] = {}
# Account webhooks (domain/webhooks/payloads.py EVENT_MAP): one delivery per matching webhook and event.
CONSUMERS["webhooks.fan_out"] = frozenset({
    "conversation.created", "conversation.updated", "assignee.changed", "team.changed", "conversation.status_changed",
    "message.created", "message.updated", "contact.created", "contact.updated", "inbox.created", "inbox.updated",
})
# Notifications (domain/notifications.py) and email replies of email inboxes (domain/email_replies.py).
CONSUMERS["notifications.fan_out"] = frozenset({"conversation.created", "assignee.changed", "conversation.mentioned", "message.created"})
CONSUMERS["messages.email_reply"] = frozenset({"message.created"})
# The reporting consumer (domain/reports/recorder.py): conversation and message events become reporting events.
CONSUMERS["reports.record"] = frozenset({
    "conversation.created", "message.created", "first.reply.created", "reply.created", "conversation.status_changed",
    "account.updated",
})

# Events addressed to one user; `payload["user_id"]` names them when `recipient_user_id` is not given.
PERSONAL_TYPES = frozenset({"notification.created", "notification.updated", "report_export.completed"})


def record(
    session: AsyncSession,
    *,
    account_id: int,
    type: str,
    conversation_id: int | None = None,
    contact_id: int | None = None,
    inbox_id: int | None = None,
    message_id: int | None = None,
    private: bool = False,
    actor_user_id: int | None = None,
    recipient_user_id: int | None = None,
    payload: dict[str, Any] | None = None,
    message: Any = None,
) -> Event:
    """Log an event in the session's transaction. `message` may be a Message not flushed yet: its id
    is filled in by `finalize`."""
    if recipient_user_id is None and type in PERSONAL_TYPES and payload and payload.get("user_id") is not None:
        recipient_user_id = int(payload["user_id"])
    event = Event(
        account_id=account_id,
        type=type,
        conversation_id=conversation_id,
        contact_id=contact_id,
        inbox_id=inbox_id,
        message_id=message_id,
        private=private,
        actor_user_id=actor_user_id,
        recipient_user_id=recipient_user_id,
        payload=payload or {},
    )
    if message is not None:
        session.info.setdefault(MESSAGE_REFS, {})[id(event)] = message
    session.info.setdefault(PENDING, []).append(event)
    return event


async def finalize(session: AsyncSession) -> list[Event]:
    """Number and insert the pending events. Call last in the transaction, right before commit."""
    pending: list[Event] = session.info.pop(PENDING, [])
    refs: dict[int, Any] = session.info.pop(MESSAGE_REFS, {})
    if not pending:
        return []
    if refs:
        await session.flush()  # gives the referenced messages their ids
        for event in pending:
            if id(event) in refs:
                event.message_id = refs[id(event)].id
    by_account: dict[int, list[Event]] = defaultdict(list)
    for event in pending:
        by_account[event.account_id].append(event)
    for account_id in sorted(by_account):  # a fixed order: no deadlock between two accounts' writers
        events = by_account[account_id]
        end = await session.scalar(
            update(Account)
            .where(Account.id == account_id)
            .values(event_seq=Account.event_seq + len(events))
            .returning(Account.event_seq)
        )
        for offset, event in enumerate(events):
            event.position = end - len(events) + 1 + offset
    session.add_all(pending)
    await session.flush()
    for actor_name, types in CONSUMERS.items():
        ids = [event.id for event in pending if types is None or event.type in types]
        if ids:
            outbox.add_job(session, actor_name, event_ids=ids)
    session.info.setdefault(FINALIZED, []).extend(pending)
    return pending


def discard(session: AsyncSession) -> None:
    session.info.pop(PENDING, None)
    session.info.pop(MESSAGE_REFS, None)
    session.info.pop(FINALIZED, None)


async def commit(session: AsyncSession) -> list[Event]:
    """Finalize and commit (for jobs and scripts that are their own transaction boundary)."""
    events = await finalize(session)
    await session.commit()
    return session.info.pop(FINALIZED, events)
