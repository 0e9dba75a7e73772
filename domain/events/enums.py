"""The event log's vocabulary: every event type, and beside each one who consumes it, the webhook it
becomes and which streams show it. The consumer sets, the webhook map and the stream filters are
all read from this one table, so a new type is classified in one place (a test checks that every
type is)."""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from domain.webhooks.enums import WebhookEvent


class EventType(StrEnum):
    """Types of the event log (`events.type`)."""

    CONVERSATION_CREATED = "conversation.created"
    CONVERSATION_UPDATED = "conversation.updated"
    CONVERSATION_STATUS_CHANGED = "conversation.status_changed"
    CONVERSATION_MENTIONED = "conversation.mentioned"
    CONVERSATION_MERGED = "conversation.merged"
    CONVERSATION_BOT_HANDOFF = "conversation.bot_handoff"
    ASSIGNEE_CHANGED = "assignee.changed"
    TEAM_CHANGED = "team.changed"
    MESSAGE_CREATED = "message.created"
    MESSAGE_UPDATED = "message.updated"
    FIRST_REPLY_CREATED = "first.reply.created"
    REPLY_CREATED = "reply.created"
    CONTACT_CREATED = "contact.created"
    CONTACT_UPDATED = "contact.updated"
    CONTACT_DELETED = "contact.deleted"
    CONTACT_MERGED = "contact.merged"
    CONTACT_ERASED = "contact.erased"
    INBOX_CREATED = "inbox.created"
    INBOX_UPDATED = "inbox.updated"
    ACCOUNT_UPDATED = "account.updated"
    NOTIFICATION_CREATED = "notification.created"
    NOTIFICATION_UPDATED = "notification.updated"
    REPORT_EXPORT_COMPLETED = "report_export.completed"
    SLA_WARNING = "conversation.sla_warning"
    SLA_MISSED = "conversation.sla_missed"


class LiveType(StrEnum):
    """Names streams give clients that are not event-log types: a deleted message (logged as an
    update that blanks it), and the ephemeral typing and presence signals."""

    MESSAGE_DELETED = "message.deleted"
    TYPING_ON = "typing.on"
    TYPING_OFF = "typing.off"
    PRESENCE_CHANGED = "presence.changed"


class Consumer(StrEnum):
    """Consumers of the event log: the Dramatiq actor names that take `event_ids: list[int]`. Each
    committed batch of events writes one outbox job per interested consumer, in this order."""

    WEBHOOKS = "webhooks.fan_out"  # domain/webhooks: one delivery per matching webhook and event
    NOTIFICATIONS = "notifications.fan_out"  # domain/notifications/fanout.py
    EMAIL_REPLIES = "messages.email_reply"  # domain/email_replies.py: agents' replies in email inboxes
    REPORTS = "reports.record"  # domain/reports/recorder.py: reporting events and roll-ups
    ASSIGNMENT = "assignment.consume"  # domain/helpdesk/assignment.py: auto-assignment after a change
    AUTOMATION = "automation.run"  # domain/automation/engine.py: the account's automation rules


class Stream(StrEnum):
    """Where clients see an event live."""

    ACCOUNT = "account"  # the dashboard's account stream
    CONVERSATION = "conversation"  # one open conversation's stream
    CONTACT = "contact"  # the website widget's stream of its contact's conversations
    USER = "user"  # addressed to one user (`recipient_user_id`, or `payload["user_id"]`)


@dataclass(frozen=True)
class Kind:
    consumers: frozenset[Consumer] = frozenset()
    webhook: WebhookEvent | None = None
    streams: frozenset[Stream] = frozenset()


def _kind(*consumers: Consumer, webhook: WebhookEvent | None = None, streams: tuple[Stream, ...] = ()) -> Kind:
    return Kind(frozenset(consumers), webhook, frozenset(streams))


T, C, S, W = EventType, Consumer, Stream, WebhookEvent
_DESK = (S.ACCOUNT, S.CONVERSATION)  # the dashboard's streams
_ALL = (S.ACCOUNT, S.CONVERSATION, S.CONTACT)  # the dashboard's and the widget's

# Chatwoot reports assignee and team changes as conversation_updated (with the attribute in
# `changed_attributes`). Mentions are a notification's business and reporting markers (first and
# later replies) feed reports only: no stream shows them.
KINDS: dict[EventType, Kind] = {
    T.CONVERSATION_CREATED: _kind(
        C.WEBHOOKS,
        C.NOTIFICATIONS,
        C.REPORTS,
        C.ASSIGNMENT,
        C.AUTOMATION,
        webhook=W.CONVERSATION_CREATED,
        streams=_ALL,
    ),
    T.CONVERSATION_UPDATED: _kind(C.WEBHOOKS, C.AUTOMATION, webhook=W.CONVERSATION_UPDATED, streams=_DESK),
    T.CONVERSATION_STATUS_CHANGED: _kind(
        C.WEBHOOKS, C.REPORTS, C.ASSIGNMENT, C.AUTOMATION, webhook=W.CONVERSATION_STATUS_CHANGED, streams=_ALL
    ),
    T.CONVERSATION_MENTIONED: _kind(C.NOTIFICATIONS),
    # Recorded on the kept conversation; reports ignore it (moved messages stay counted once).
    T.CONVERSATION_MERGED: _kind(C.WEBHOOKS, webhook=W.CONVERSATION_MERGED, streams=_DESK),
    # A bot hands a conversation to people; the status change logged beside it is what webhooks,
    # reports and auto-assignment act on, so this one only marks the moment for the desk.
    T.CONVERSATION_BOT_HANDOFF: _kind(streams=_DESK),
    T.ASSIGNEE_CHANGED: _kind(
        C.WEBHOOKS, C.NOTIFICATIONS, C.ASSIGNMENT, C.AUTOMATION, webhook=W.CONVERSATION_UPDATED, streams=_DESK
    ),
    T.TEAM_CHANGED: _kind(C.WEBHOOKS, C.ASSIGNMENT, C.AUTOMATION, webhook=W.CONVERSATION_UPDATED, streams=_DESK),
    T.MESSAGE_CREATED: _kind(
        C.WEBHOOKS,
        C.NOTIFICATIONS,
        C.EMAIL_REPLIES,
        C.REPORTS,
        C.AUTOMATION,
        webhook=W.MESSAGE_CREATED,
        streams=_ALL,
    ),
    T.MESSAGE_UPDATED: _kind(C.WEBHOOKS, webhook=W.MESSAGE_UPDATED, streams=_ALL),
    T.FIRST_REPLY_CREATED: _kind(C.REPORTS),
    T.REPLY_CREATED: _kind(C.REPORTS),
    T.CONTACT_CREATED: _kind(C.WEBHOOKS, webhook=W.CONTACT_CREATED, streams=(S.ACCOUNT,)),
    T.CONTACT_UPDATED: _kind(C.WEBHOOKS, webhook=W.CONTACT_UPDATED, streams=(S.ACCOUNT,)),
    T.CONTACT_DELETED: _kind(streams=(S.ACCOUNT,)),
    T.CONTACT_MERGED: _kind(streams=(S.ACCOUNT,)),
    T.CONTACT_ERASED: _kind(streams=(S.ACCOUNT,)),
    T.INBOX_CREATED: _kind(C.WEBHOOKS, webhook=W.INBOX_CREATED, streams=(S.ACCOUNT,)),
    T.INBOX_UPDATED: _kind(C.WEBHOOKS, C.ASSIGNMENT, webhook=W.INBOX_UPDATED, streams=(S.ACCOUNT,)),
    # A changed timezone moves the days of the reporting roll-ups: they are rebuilt.
    T.ACCOUNT_UPDATED: _kind(C.REPORTS),
    T.NOTIFICATION_CREATED: _kind(streams=(S.USER,)),
    T.NOTIFICATION_UPDATED: _kind(streams=(S.USER,)),
    T.REPORT_EXPORT_COMPLETED: _kind(streams=(S.USER,)),
    # Recorded once per target and deadline by the SLA pass (domain/sla/tracking.py); the payload
    # names the target, the policy and the deadline.
    T.SLA_WARNING: _kind(C.WEBHOOKS, C.NOTIFICATIONS, webhook=W.SLA_WARNING, streams=_DESK),
    T.SLA_MISSED: _kind(C.WEBHOOKS, C.NOTIFICATIONS, webhook=W.SLA_MISSED, streams=_DESK),
}
del T, C, S, W


def consumed_by(consumer: Consumer) -> frozenset[EventType]:
    return frozenset(t for t, kind in KINDS.items() if consumer in kind.consumers)


def shown_in(stream: Stream) -> frozenset[EventType]:
    return frozenset(t for t, kind in KINDS.items() if stream in kind.streams)


# Each consumer's event types, in the consumers' order (the order their outbox jobs are written).
CONSUMERS: dict[Consumer, frozenset[EventType]] = {consumer: consumed_by(consumer) for consumer in Consumer}
# Event-log type -> Chatwoot webhook event.
WEBHOOK_EVENTS: dict[EventType, WebhookEvent] = {t: kind.webhook for t, kind in KINDS.items() if kind.webhook}
# Events addressed to one user.
PERSONAL_TYPES = shown_in(Stream.USER)
