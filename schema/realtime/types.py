"""GraphQL types of the real-time streams, typing indicators and presence."""

from __future__ import annotations

from datetime import datetime

import strawberry
from strawberry.scalars import JSON

from schema.accounts.types import AvailabilityEnum, User
from schema.helpdesk.types import Contact, Conversation, Inbox, Message
from schema.notifications.types import Notification
from schema.realtime.errors import RealtimeError


@strawberry.type(description="Someone typing in a conversation: an agent (a reply, or a private note) or the contact.")
class TypingIndicator:
    user_pk: strawberry.Private[int | None]
    contact_pk: strawberry.Private[int | None]
    on: bool = strawberry.field(description="True while typing; false when stopped (or after a few quiet seconds).")
    private: bool = strawberry.field(description="An agent typing a private note (never shown to the contact).")

    @strawberry.field(description="The agent typing, if it is an agent.")
    async def user(self, info: strawberry.Info) -> User | None:
        if self.user_pk is None:
            return None
        row = await info.context.loaders.user_by_id.load(self.user_pk)
        return User.from_row(row) if row else None

    @strawberry.field(description="The contact typing, if it is the contact.")
    async def contact(self, info: strawberry.Info) -> Contact | None:
        if self.contact_pk is None:
            return None
        row = await info.context.loaders.contact_by_id.load(self.contact_pk)
        return Contact.from_row(row) if row else None


@strawberry.type(description="An agent's presence: the availability they chose, and whether they have Parley open.")
class AgentPresence:
    user_pk: strawberry.Private[int]
    availability: AvailabilityEnum = strawberry.field(description="What the agent chose: online, busy or offline.")
    connected: bool = strawberry.field(
        description="Whether the agent has at least one live connection (any API process)."
    )
    status: AvailabilityEnum = strawberry.field(
        description="What others see: offline without a connection, else the chosen availability."
    )

    @strawberry.field(description="The agent.")
    async def user(self, info: strawberry.Info) -> User:
        return User.from_row(await info.context.loaders.user_by_id.load(self.user_pk))


@strawberry.type(description="An agent's presence changed.")
class PresenceChange:
    user_pk: strawberry.Private[int]
    status: AvailabilityEnum = strawberry.field(description="What others now see: online, busy or offline.")

    @strawberry.field(description="The agent.")
    async def user(self, info: strawberry.Info) -> User | None:
        row = await info.context.loaders.user_by_id.load(self.user_pk)
        return User.from_row(row) if row else None


@strawberry.type(
    description=(
        "Something that happened in the account, for the dashboard. `type` is one of conversation.created, "
        "conversation.updated (attributes, labels, priority…), conversation.status_changed, assignee.changed, "
        "team.changed, message.created, message.updated, message.deleted, contact.created, contact.updated, "
        "contact.deleted, contact.merged, inbox.created, inbox.updated, presence.changed. Resume a stream by "
        "passing the last `cursor` received as `after`."
    )
)
class AccountEvent:
    cursor: str = strawberry.field(description="Where this event sits in the stream; pass it as `after` to resume.")
    type: str = strawberry.field(description="What happened.")
    occurred_at: datetime | None = strawberry.field(description="When it was committed (null for presence).")
    changed_attributes: JSON | None = strawberry.field(description="For updates: `{attribute: [before, after]}`.")
    conversation: Conversation | None = strawberry.field(description="The conversation concerned, as it is now.")
    message: Message | None = strawberry.field(description="The message concerned, as it is now.")
    contact: Contact | None = strawberry.field(description="The contact concerned (contact events).")
    presence: PresenceChange | None = strawberry.field(description="For presence.changed.")
    inbox_pk: strawberry.Private[int | None] = None
    # What a visibility group shares of this event (schema/execution/events.py); None: this socket's own.
    shared: strawberry.Private[dict | None] = None

    @strawberry.field(description="The inbox concerned (inbox events).")
    async def inbox(self, info: strawberry.Info) -> Inbox | None:
        if self.inbox_pk is None or not self.type.startswith("inbox."):
            return None
        row = await info.context.loaders.inbox_by_id.load(self.inbox_pk)
        return Inbox.from_row(row) if row else None


@strawberry.type(
    description=(
        "Something that happened in one conversation: message.created/updated/deleted (private notes included), "
        "conversation.status_changed, conversation.updated, assignee.changed, team.changed, typing.on, typing.off."
    )
)
class ConversationEvent:
    cursor: str = strawberry.field(description="Where this event sits in the stream; pass it as `after` to resume.")
    type: str = strawberry.field(description="What happened.")
    occurred_at: datetime | None = strawberry.field(description="When it was committed (null for typing).")
    changed_attributes: JSON | None = strawberry.field(description="For updates: `{attribute: [before, after]}`.")
    conversation: Conversation | None = strawberry.field(description="The conversation, as it is now.")
    message: Message | None = strawberry.field(description="The message concerned, as it is now.")
    typing: TypingIndicator | None = strawberry.field(description="For typing.on and typing.off.")
    shared: strawberry.Private[dict | None] = None  # as AccountEvent.shared


@strawberry.type(description="Something addressed to the current user: notification.created, report_export.completed…")
class NotificationEvent:
    cursor: str = strawberry.field(description="Where this event sits in the stream; pass it as `after` to resume.")
    type: str = strawberry.field(description="What happened.")
    occurred_at: datetime | None = strawberry.field(description="When it was committed.")
    data: JSON = strawberry.field(description="The event's details (e.g. the notification's ID and type).")

    @strawberry.field(description="For notification.created: the notification, as it is now.")
    async def notification(self, info: strawberry.Info) -> Notification | None:
        notification_id = self.data.get("notification_id") if isinstance(self.data, dict) else None
        if not self.type.startswith("notification.") or not isinstance(notification_id, int):
            return None
        actor = await info.context.actor()
        row = await info.context.loaders.notification_by_id.load(notification_id)
        if row is None or row.user_id != actor.user_id or row.account_id != actor.account_id:
            return None
        return Notification.from_row(row)


@strawberry.type(description="Result of typingSet.")
class TypingSetPayload:
    accepted: bool = strawberry.field(description="Whether the indicator went out.")
    errors: list[RealtimeError] = strawberry.field(description="User errors; empty on success.")


@strawberry.type(description="Result of availabilitySet.")
class AvailabilitySetPayload:
    presence: AgentPresence | None = strawberry.field(description="Your presence afterwards.")
    errors: list[RealtimeError] = strawberry.field(description="User errors; empty on success.")
