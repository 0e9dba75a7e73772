"""Types, inputs and payloads of scheduled messages."""

from __future__ import annotations

from datetime import datetime

import strawberry

from domain.scheduling.enums import ScheduledMessageStatus
from schema.accounts.types import User
from schema.core.ids import encode_id
from schema.core.pagination import Connection
from schema.helpdesk.types import Message
from schema.scheduling.errors import ScheduledMessageError

ScheduledMessageStatusEnum = strawberry.enum(
    ScheduledMessageStatus, name="ScheduledMessageStatus", description="Where a scheduled message stands."
)


@strawberry.type(description="A message or private note an agent wrote to be sent later by the scheduler.")
class ScheduledMessage:
    pk: strawberry.Private[int]
    conversation_pk: strawberry.Private[int]
    author_pk: strawberry.Private[int | None]
    message_pk: strawberry.Private[int | None]
    content: str = strawberry.field(description="The text that will be (or was) sent.")
    private: bool = strawberry.field(description="A private note rather than a reply to the contact.")
    send_at: datetime = strawberry.field(description="When the scheduler sends it.")
    status: ScheduledMessageStatusEnum = strawberry.field(description="Pending, sent or cancelled.")  # type: ignore[valid-type]
    sent_at: datetime | None = strawberry.field(description="When it was sent.")
    cancelled_at: datetime | None = strawberry.field(description="When it was cancelled.")
    cancel_reason: str | None = strawberry.field(
        description="cancelled_by_author, cancelled_by_agent, send_failed (it could no longer be sent) or author_deleted."
    )
    created_at: datetime = strawberry.field(description="When it was scheduled.")
    updated_at: datetime = strawberry.field(description="When it last changed.")

    @strawberry.field(description="Opaque global ID.")
    def id(self) -> strawberry.ID:
        return strawberry.ID(encode_id("ScheduledMessage", self.pk))

    @strawberry.field(description="Its conversation's ID.")
    def conversation_id(self) -> strawberry.ID:
        return strawberry.ID(encode_id("Conversation", self.conversation_pk))

    @strawberry.field(description="The agent who scheduled it (null once their user is gone).")
    async def author(self, info: strawberry.Info) -> User | None:
        if self.author_pk is None:
            return None
        row = await info.context.loaders.user_by_id.load(self.author_pk)
        return User.from_row(row) if row else None

    @strawberry.field(description="The message it became, once sent.")
    async def message(self, info: strawberry.Info) -> Message | None:
        if self.message_pk is None:
            return None
        row = await info.context.loaders.message_by_id.load(self.message_pk)
        return Message.from_row(row) if row else None

    @classmethod
    def from_row(cls, row) -> ScheduledMessage:
        return cls(
            pk=row.id,
            conversation_pk=row.conversation_id,
            author_pk=row.author_id,
            message_pk=row.message_id,
            content=row.content,
            private=row.private,
            send_at=row.send_at,
            status=row.status,
            sent_at=row.sent_at,
            cancelled_at=row.cancelled_at,
            cancel_reason=row.cancel_reason,
            created_at=row.created_at,
            updated_at=row.updated_at,
        )


ScheduledMessageConnection = Connection[ScheduledMessage]


@strawberry.input(description="Schedule a message on a conversation.")
class ScheduledMessageCreateInput:
    conversation_id: strawberry.ID = strawberry.field(description="A conversation you may see.")
    content: str = strawberry.field(description="The text (1 to 150,000 characters).")
    send_at: datetime = strawberry.field(description="When to send it: in the future, at most a year ahead.")
    private: bool = strawberry.field(default=False, description="Send it as a private note.")


@strawberry.input(description="Change a pending scheduled message; omitted fields stay as they are.")
class ScheduledMessageUpdateInput:
    content: str | None = strawberry.field(default=None, description="New text.")
    send_at: datetime | None = strawberry.field(default=None, description="A new time (future, within a year).")
    private: bool | None = strawberry.field(default=None, description="Reply or private note.")


@strawberry.type(description="Result of the scheduled-message mutations.")
class ScheduledMessagePayload:
    scheduled_message: ScheduledMessage | None = strawberry.field(description="The scheduled message.")
    errors: list[ScheduledMessageError] = strawberry.field(description="User errors; empty on success.")
