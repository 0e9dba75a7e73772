"""Root fields of real-time: the dashboard's event streams, typing indicators and presence."""

from __future__ import annotations

from collections.abc import AsyncGenerator

import strawberry

from domain.accounts.policy import Rule
from resolvers import realtime as rt
from schema.core.access import field, mutation, subscription
from schema.helpdesk.types import Contact, Conversation, Message
from schema.realtime import types as t


def _common(d: rt.Delivery) -> dict:
    event = d.event
    return {
        "cursor": rt.encode_cursor(d.position),
        "type": d.type,
        "occurred_at": event.created_at if event is not None else None,
        "changed_attributes": (event.payload or {}).get("changed_attributes") if event is not None else None,
    }


def _typing(d: rt.Delivery) -> t.TypingIndicator | None:
    if d.typing is None:
        return None
    return t.TypingIndicator(
        user_pk=d.typing.user_id, contact_pk=d.typing.contact_id, on=d.typing.on, private=d.typing.private
    )


@strawberry.type
class RealtimeQuery:
    event_cursor: str = field(
        rt.event_cursor,
        Rule.member,
        "The account's current position in its event stream. Read it before loading the dashboard's data, then "
        "subscribe with `after` set to it: nothing that happens in between is missed.",
    )
    agent_presence: list[t.AgentPresence] = field(
        rt.agent_presence,
        Rule.member,
        "Every member of the account with their chosen availability and whether they are connected now.",
    )


@strawberry.type
class RealtimeMutation:
    typing_set: t.TypingSetPayload = mutation(
        rt.typing_set_mutation,
        Rule.agent,
        "Show (or stop showing) that you are typing in a conversation. Ephemeral: sent to the conversation's "
        "subscribers only, never stored; it turns itself off after a few seconds unless repeated.",
    )
    availability_set: t.AvailabilitySetPayload = mutation(
        rt.availability_set,
        Rule.agent,
        "Choose your availability (online, busy, offline), shown to your colleagues.",
    )


@strawberry.type
class RealtimeSubscription:
    @subscription(
        Rule.member,
        (
            "The account's events as they happen, for the dashboard: conversations, messages, contacts, inboxes and "
            "presence, each only if you may see it (inbox membership, role, custom-role permissions). With `after`, "
            "first every event you missed since that cursor, then live ones, with no gap and no duplicate."
        ),
    )
    async def account_events(
        self, info: strawberry.Info, after: str | None = None
    ) -> AsyncGenerator[t.AccountEvent, None]:
        async for d in rt.account_events(info, after):
            event = d.shared.get(t.AccountEvent) if d.shared is not None else None
            if event is None:
                event = t.AccountEvent(
                    **_common(d),
                    conversation=Conversation.from_row(d.conversation) if d.conversation is not None else None,
                    message=Message.from_row(d.message) if d.message is not None else None,
                    contact=Contact.from_row(d.contact) if d.contact is not None else None,
                    presence=t.PresenceChange(user_pk=d.presence[0], status=d.presence[1]) if d.presence else None,
                    inbox_pk=d.event.inbox_id if d.event is not None else None,
                    shared=d.shared,
                )
                if d.shared is not None:
                    d.shared[t.AccountEvent] = event  # the group's sockets share the object and its result
            yield event

    @subscription(
        Rule.member,
        (
            "One conversation's events (messages including private notes, status, assignee, typing), for an agent "
            "who may see it. With `after`, replays what was missed since that cursor, then continues live."
        ),
    )
    async def conversation_events(
        self, info: strawberry.Info, id: strawberry.ID, after: str | None = None
    ) -> AsyncGenerator[t.ConversationEvent, None]:
        async for d in rt.conversation_events(info, str(id), after):
            event = d.shared.get(t.ConversationEvent) if d.shared is not None else None
            if event is None:
                event = t.ConversationEvent(
                    **_common(d),
                    conversation=Conversation.from_row(d.conversation) if d.conversation is not None else None,
                    message=Message.from_row(d.message) if d.message is not None else None,
                    typing=_typing(d),
                    shared=d.shared,
                )
                if d.shared is not None:
                    d.shared[t.ConversationEvent] = event
            yield event

    @subscription(
        Rule.agent,
        (
            "Events addressed to you in this account (new notifications, finished exports). With `after`, replays "
            "what was missed since that cursor, then continues live."
        ),
    )
    async def notification_events(
        self, info: strawberry.Info, after: str | None = None
    ) -> AsyncGenerator[t.NotificationEvent, None]:
        async for d in rt.notification_events(info, after):
            yield t.NotificationEvent(
                **{k: v for k, v in _common(d).items() if k != "changed_attributes"}, data=dict(d.event.payload or {})
            )
