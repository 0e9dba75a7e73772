"""Root fields of real-time: the dashboard's event streams, typing indicators and presence."""

from __future__ import annotations

from collections.abc import AsyncGenerator
from typing import Any

import strawberry

from domain.accounts.policy import Rule
from resolvers import realtime as rt
from resolvers.hub import DIRECT_SINK
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


def _account_event(d: rt.Delivery) -> t.AccountEvent:
    return _shared(
        d,
        t.AccountEvent,
        lambda: t.AccountEvent(
            **_rows(d),
            contact=Contact.from_row(d.contact) if d.contact is not None else None,
            presence=t.PresenceChange(user_pk=d.presence[0], status=d.presence[1]) if d.presence else None,
            inbox_pk=d.event.inbox_id if d.event is not None else None,
        ),
    )


def _conversation_event(d: rt.Delivery) -> t.ConversationEvent:
    return _shared(
        d,
        t.ConversationEvent,
        lambda: t.ConversationEvent(**_rows(d), typing=_typing(d)),
    )


def _rows(d: rt.Delivery) -> dict[str, Any]:
    """What an account's and a conversation's event have in common: the event's fields, its
    conversation and message, and the group's shared results."""
    return {
        **_common(d),
        "conversation": Conversation.from_row(d.conversation) if d.conversation is not None else None,
        "message": Message.from_row(d.message) if d.message is not None else None,
        "shared": d.shared,
    }


def _shared(d: rt.Delivery, kind: type, make: Any) -> Any:
    """The event object of a delivery; one per group when the group shares the delivery (its
    sockets then share the object and its result)."""
    if d.shared is None:
        return make()
    event = d.shared.get(kind)
    if event is None:
        event = d.shared[kind] = make()
    return event


def _direct(to_root: Any) -> None:
    """The operation's direct sink (schema/execution/events.py), if its transport made one, turns
    what the hub delivers into the subscription's root value as this field's stream does."""
    sink = DIRECT_SINK.get()
    if sink is not None:
        sink.to_root = to_root


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
        _direct(_account_event)
        async for d in rt.account_events(info, after):
            yield _account_event(d)

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
        _direct(_conversation_event)
        async for d in rt.conversation_events(info, str(id), after):
            yield _conversation_event(d)

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
