"""Webhook bodies: our event-log types mapped to Chatwoot's webhook event names, and the objects as the
API presents them (camelCase fields, opaque global IDs, enum names) — built once at fan-out time."""

from __future__ import annotations

import json
from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from db.models import (
    Account,
    Bot,
    Contact,
    ContactInbox,
    Conversation,
    Event,
    Inbox,
    Message,
    Team,
    User,
)
from db.repositories import attachments as attachment_repo
from db.repositories import helpdesk as helpdesk_repo
from domain.enums import ChannelType, MessageType, SenderType
from domain.events.enums import WEBHOOK_EVENTS
from domain.webhooks.enums import WebhookEvent
from infra.api_names import camel_case, encode_global_id

# Event-log type -> Chatwoot webhook event, declared beside each type (domain/events/enums.py).
EVENT_MAP: dict[str, WebhookEvent] = {t.value: name for t, name in WEBHOOK_EVENTS.items()}
SOURCE_TYPES = frozenset(EVENT_MAP)
# Chatwoot sends incoming, outgoing and template messages (private notes too, flagged `private`),
# never activity lines (`MessageFilterHelpers#webhook_sendable?`).
SENDABLE_MESSAGES = frozenset({MessageType.INCOMING, MessageType.OUTGOING, MessageType.TEMPLATE})
# Changed attributes that hold primary keys are shown as the related object's global ID.
_ID_ATTRIBUTES = {
    "assignee_id": ("assignee", "User"),
    "team_id": ("team", "Team"),
    "contact_id": ("contact", "Contact"),
    "merged_into_id": ("mergedInto", "Conversation"),
}


def gid(type_name: str, pk: int | None) -> str | None:
    """The API's opaque global ID (`base64url("Type:pk")`, as in the GraphQL schema)."""
    if pk is None:
        return None
    return encode_global_id(type_name, pk)


def iso_time(value: datetime | None) -> str | None:
    """A time as webhook bodies write it: ISO 8601 in UTC with a `Z`."""
    return value.isoformat().replace("+00:00", "Z") if value else None


def _enum(value: Any) -> Any:
    return value.name if hasattr(value, "name") else value


def changed_attributes(event: Event) -> list[dict[str, Any]]:
    """Chatwoot's shape: `[{attribute: {previousValue, currentValue}}]`."""
    changed = (event.payload or {}).get("changed_attributes") or {}
    out = []
    for attribute, values in changed.items():
        previous, current = values if isinstance(values, list) and len(values) == 2 else (None, values)
        if attribute in _ID_ATTRIBUTES:
            name, type_name = _ID_ATTRIBUTES[attribute]
            out.append({name: {"previousValue": gid(type_name, previous), "currentValue": gid(type_name, current)}})
        elif attribute in ("status", "priority"):
            out.append({attribute: {"previousValue": _upper(previous), "currentValue": _upper(current)}})
        else:
            out.append({camel_case(attribute): {"previousValue": previous, "currentValue": current}})
    return out


def _upper(value: Any) -> Any:
    return value.upper() if isinstance(value, str) else value


def account_data(account: Account) -> dict[str, Any]:
    return {"id": gid("Account", account.id), "name": account.name}


def inbox_data(inbox: Inbox) -> dict[str, Any]:
    return {
        "id": gid("Inbox", inbox.id),
        "name": inbox.name,
        "channelType": _enum(inbox.channel_type),
        "greetingEnabled": inbox.greeting_enabled,
        "greetingMessage": inbox.greeting_message,
        "workingHoursEnabled": inbox.working_hours_enabled,
        "timezone": inbox.timezone,
        "enableAutoAssignment": inbox.enable_auto_assignment,
        "createdAt": iso_time(inbox.created_at),
    }


def contact_data(contact: Contact) -> dict[str, Any]:
    return {
        "id": gid("Contact", contact.id),
        "name": contact.name,
        "email": contact.email,
        "phoneNumber": contact.phone_number,
        "identifier": contact.identifier,
        "additionalAttributes": contact.additional_attributes,
        "customAttributes": contact.custom_attributes,
        "contactType": _enum(contact.contact_type),
        "blocked": contact.blocked,
        "lastActivityAt": iso_time(contact.last_activity_at),
        "createdAt": iso_time(contact.created_at),
    }


def user_data(user: User | None) -> dict[str, Any] | None:
    if user is None:
        return None
    return {"id": gid("User", user.id), "name": user.display_name or user.name, "email": user.email, "type": "USER"}


class PayloadBuilder:
    """Builds bodies for a batch of events with one session; caches the rows it reads."""

    def __init__(self, session: AsyncSession) -> None:
        self.session = session
        self._cache: dict[tuple[type, int], Any] = {}

    async def _get(self, model: type[Any], pk: int | None) -> Any:
        if pk is None:
            return None
        key = (model, pk)
        if key not in self._cache:
            self._cache[key] = await self.session.get(model, pk)
        return self._cache[key]

    async def conversation_data(self, conversation: Conversation) -> dict[str, Any]:
        labels = await helpdesk_repo.label_titles_of(self.session, conversation.id)
        inbox = await self._get(Inbox, conversation.inbox_id)
        contact = await self._get(Contact, conversation.contact_id)
        team = await self._get(Team, conversation.team_id)
        # The API channel's contact identifier (Chatwoot's `contact_inbox.source_id`), so a partner's
        # server can answer through the public client API; other channels' source ids stay internal.
        contact_inbox = (
            await self._get(ContactInbox, conversation.contact_inbox_id)
            if inbox is not None and inbox.channel_type == ChannelType.API
            else None
        )
        return {
            "id": gid("Conversation", conversation.id),
            "displayId": conversation.display_id,
            "status": _enum(conversation.status),
            "priority": _enum(conversation.priority),
            "inbox": {"id": gid("Inbox", inbox.id), "name": inbox.name} if inbox else None,
            "contact": contact_data(contact) if contact else None,
            "contactInbox": {"sourceId": contact_inbox.source_id} if contact_inbox else None,
            "assignee": user_data(await self._get(User, conversation.assignee_id)),
            "team": {"id": gid("Team", team.id), "name": team.name} if team else None,
            "labels": list(labels),
            "customAttributes": conversation.custom_attributes,
            "additionalAttributes": conversation.additional_attributes,
            "snoozedUntil": iso_time(conversation.snoozed_until),
            "lastActivityAt": iso_time(conversation.last_activity_at),
            "waitingSince": iso_time(conversation.waiting_since),
            "firstReplyCreatedAt": iso_time(conversation.first_reply_created_at),
            "mergedInto": gid("Conversation", conversation.merged_into_id),
            "createdAt": iso_time(conversation.created_at),
        }

    async def sender_data(self, message: Message) -> dict[str, Any] | None:
        if message.sender_type == SenderType.USER:
            return user_data(await self._get(User, message.sender_id))
        if message.sender_type == SenderType.CONTACT:
            contact = await self._get(Contact, message.sender_id)
            return {**contact_data(contact), "type": "CONTACT"} if contact else None
        if message.sender_type == SenderType.BOT:
            bot = await self._get(Bot, message.sender_id)
            return {"id": gid("Bot", bot.id), "name": bot.name, "type": "BOT"} if bot else None
        return None

    async def message_data(self, message: Message) -> dict[str, Any]:
        attachments = await attachment_repo.attachments_of_message(self.session, message.id)
        return {
            "id": gid("Message", message.id),
            "content": message.content,
            "messageType": _enum(message.message_type),
            "private": message.private,
            "senderType": _enum(message.sender_type),
            "contentAttributes": message.content_attributes,
            "createdAt": iso_time(message.created_at),
            "editedAt": iso_time(message.edited_at),
            "deletedAt": iso_time(message.deleted_at),
            "sender": await self.sender_data(message),
            "attachments": [
                {
                    "id": gid("Attachment", a.id),
                    "fileType": _enum(a.file_type),
                    "fileName": a.file_name,
                    "contentType": a.content_type,
                    "byteSize": a.byte_size,
                }
                for a in attachments
            ],
        }

    async def body(self, event: Event) -> dict[str, Any] | None:
        """The body of this event's webhooks, or None when it sends none (object gone, activity line)."""
        name = EVENT_MAP.get(event.type)
        account = await self._get(Account, event.account_id)
        if name is None or account is None:
            return None
        data: dict[str, Any] = {
            "event": name.value,
            "eventId": gid("Event", event.id),
            "occurredAt": iso_time(event.created_at),
            "account": account_data(account),
        }
        if name in (WebhookEvent.MESSAGE_CREATED, WebhookEvent.MESSAGE_UPDATED):
            message = await self._get(Message, event.message_id)
            if message is None or message.message_type not in SENDABLE_MESSAGES:
                return None
            conversation = await self._get(Conversation, message.conversation_id)
            if conversation is None:
                return None
            data["message"] = await self.message_data(message)
            data["conversation"] = await self.conversation_data(conversation)
        elif name in (WebhookEvent.CONTACT_CREATED, WebhookEvent.CONTACT_UPDATED):
            contact = await self._get(Contact, event.contact_id)
            if contact is None:
                return None
            data["contact"] = contact_data(contact)
        elif name in (WebhookEvent.INBOX_CREATED, WebhookEvent.INBOX_UPDATED):
            inbox = await self._get(Inbox, event.inbox_id)
            if inbox is None:
                return None
            data["inbox"] = inbox_data(inbox)
        else:
            conversation = await self._get(Conversation, event.conversation_id)
            if conversation is None:
                return None
            data["conversation"] = await self.conversation_data(conversation)
            if name == WebhookEvent.CONVERSATION_MERGED:
                merged = await self._get(Conversation, (event.payload or {}).get("merged_conversation_id"))
                data["mergedConversation"] = await self.conversation_data(merged) if merged else None
            if name in (WebhookEvent.SLA_WARNING, WebhookEvent.SLA_MISSED):
                payload = event.payload or {}
                data["sla"] = {
                    "target": payload.get("target"),
                    "slaPolicyId": gid("SlaPolicy", payload.get("sla_policy_id")),
                    "dueAt": payload.get("due_at"),
                }
        if name in (
            WebhookEvent.CONVERSATION_UPDATED,
            WebhookEvent.CONVERSATION_STATUS_CHANGED,
            WebhookEvent.CONTACT_UPDATED,
            WebhookEvent.MESSAGE_UPDATED,
            WebhookEvent.INBOX_UPDATED,
        ):
            data["changedAttributes"] = changed_attributes(event)
        return data


def encode(data: dict[str, Any]) -> str:
    """The exact bytes that are signed and sent."""
    return json.dumps(data, separators=(",", ":"), ensure_ascii=False, default=str)


def ping_body(account: Account, webhook_pk: int, at: datetime) -> str:
    return encode(
        {
            "event": "webhook_test",
            "webhook": {"id": gid("Webhook", webhook_pk)},
            "account": account_data(account),
            "occurredAt": iso_time(at),
        }
    )


def event_names(types: Sequence[str]) -> set[WebhookEvent]:
    return {EVENT_MAP[t] for t in types if t in EVENT_MAP}
