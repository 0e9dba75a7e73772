"""GraphQL types of notifications and notification settings, and their payloads (inputs and errors beside them)."""

from __future__ import annotations

from datetime import datetime

import strawberry

from domain.notification_types import NotificationType
from schema.accounts.types import User
from schema.core.ids import encode_id
from schema.helpdesk.types import Conversation, Message
from schema.notifications.errors import NotificationError

NotificationTypeEnum = strawberry.enum(
    NotificationType,
    name="NotificationType",
    description="What a notification is about (Chatwoot's types): CONVERSATION_CREATION (a new conversation in an "
    "inbox you work), CONVERSATION_ASSIGNMENT (assigned to you), CONVERSATION_MENTION (a colleague mentioned you in "
    "a private note), ASSIGNED_CONVERSATION_NEW_MESSAGE (a new message in a conversation assigned to you), "
    "PARTICIPATING_CONVERSATION_NEW_MESSAGE (a new message in a conversation you take part in).",
)


@strawberry.type(description="Something you were told about a conversation. Only its recipient ever reads it.")
class Notification:
    pk: strawberry.Private[int]
    row: strawberry.Private[object]
    notification_type: NotificationTypeEnum = strawberry.field(description="What it is about.")
    title: str = strawberry.field(
        description="One line saying what happened, e.g. `A conversation (#12) has been assigned to you`."
    )
    read_at: datetime | None = strawberry.field(description="When you marked it read; null while unread.")
    created_at: datetime = strawberry.field(description="When it was made.")

    @strawberry.field(description="Opaque global ID.")
    def id(self) -> strawberry.ID:
        return strawberry.ID(encode_id("Notification", self.pk))

    @strawberry.field(description="The conversation it is about (lists show only conversations you may still see).")
    async def conversation(self, info: strawberry.Info) -> Conversation:
        return Conversation.from_row(await info.context.loaders.conversation_by_id.load(self.row.conversation_id))

    @strawberry.field(description="The message that caused it (mentions and new messages), unless deleted since.")
    async def message(self, info: strawberry.Info) -> Message | None:
        if self.row.message_id is None:
            return None
        row = await info.context.loaders.message_by_id.load(self.row.message_id)
        return Message.from_row(row) if row else None

    @strawberry.field(description="The agent whose action caused it, when it was an agent.")
    async def actor(self, info: strawberry.Info) -> User | None:
        if self.row.actor_user_id is None:
            return None
        row = await info.context.loaders.user_by_id.load(self.row.actor_user_id)
        return User.from_row(row) if row else None

    @classmethod
    def from_row(cls, row) -> Notification:
        return cls(
            pk=row.id,
            row=row,
            notification_type=row.notification_type,
            title=row.title,
            read_at=row.read_at,
            created_at=row.created_at,
        )


@strawberry.type(description="Whether you are told about one type of notification, in the app and by email.")
class NotificationSetting:
    notification_type: NotificationTypeEnum = strawberry.field(description="The type.")
    in_app: bool = strawberry.field(description="Shown in the app (the notifications list).")
    email: bool = strawberry.field(
        description="Sent by email, a few minutes later and collected per conversation; not sent if read by then."
    )


# --- inputs and payloads ------------------------------------------------------------------------------


@strawberry.type(description="The result of notificationMarkRead.")
class NotificationMarkReadPayload:
    notifications: list[Notification] | None = strawberry.field(
        description="The notifications, now read; null on errors."
    )
    unread_count: int | None = strawberry.field(
        description="Your unread notifications in this account now; null on errors."
    )
    errors: list[NotificationError] = strawberry.field(description="Why nothing changed, if so.")


@strawberry.type(description="The result of notificationMarkAllRead.")
class NotificationMarkAllReadPayload:
    marked_count: int = strawberry.field(description="How many were unread and are read now.")
    unread_count: int = strawberry.field(description="Your unread notifications in this account now (0).")
    errors: list[NotificationError] = strawberry.field(description="Always empty.")


@strawberry.type(description="The result of notificationDelete.")
class NotificationDeletePayload:
    notification: Notification | None = strawberry.field(description="The notification as it was.")
    unread_count: int | None = strawberry.field(description="Your unread notifications in this account now.")
    errors: list[NotificationError] = strawberry.field(description="Why nothing changed, if so.")


@strawberry.type(description="The result of notificationSettingsUpdate.")
class NotificationSettingsUpdatePayload:
    settings: list[NotificationSetting] | None = strawberry.field(description="All your settings now; null on errors.")
    errors: list[NotificationError] = strawberry.field(description="Why nothing changed, if so.")
