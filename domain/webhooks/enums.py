"""Enumerations of webhooks, shared by the domain, the models and the schema."""

from enum import StrEnum


class WebhookEvent(StrEnum):
    """Chatwoot's webhook event names (`Webhook::ALLOWED_WEBHOOK_EVENTS`, less the widget trigger),
    `conversation_merged` (one conversation merged into another; the body names both) and the SLA's
    `sla_warning` and `sla_missed` (the body names the target and the policy)."""

    CONVERSATION_CREATED = "conversation_created"
    CONVERSATION_UPDATED = "conversation_updated"
    CONVERSATION_STATUS_CHANGED = "conversation_status_changed"
    CONVERSATION_MERGED = "conversation_merged"
    MESSAGE_CREATED = "message_created"
    MESSAGE_UPDATED = "message_updated"
    CONTACT_CREATED = "contact_created"
    CONTACT_UPDATED = "contact_updated"
    INBOX_CREATED = "inbox_created"
    INBOX_UPDATED = "inbox_updated"
    CONVERSATION_TYPING_ON = "conversation_typing_on"
    CONVERSATION_TYPING_OFF = "conversation_typing_off"
    SLA_WARNING = "sla_warning"
    SLA_MISSED = "sla_missed"


class BotEvent(StrEnum):
    """What an agent bot is sent about the conversations of its inboxes (Chatwoot's `AgentBotListener`):
    a new conversation, an incoming message, and a conversation opened (handed off or reopened).
    Chatwoot's `webwidget_triggered` has no counterpart: the widget does not report being opened."""

    CONVERSATION_CREATED = "conversation_created"
    MESSAGE_CREATED = "message_created"
    CONVERSATION_OPENED = "conversation_opened"


BOT_EVENTS = frozenset(BotEvent)


class WebhookDeliveryStatus(StrEnum):
    PENDING = "pending"
    DELIVERED = "delivered"
    FAILED = "failed"
