"""GraphQL types of the website widget's public API. Plain types filled from rows, showing a website
visitor only what is theirs: no private notes, no activity lines, agents by name only."""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING, Annotated

import strawberry
from strawberry.scalars import JSON

from schema.core.ids import encode_id
from schema.core.pagination import Connection
from schema.helpdesk.types import ConversationStatusEnum, MessageTypeEnum
from schema.widget.errors import WidgetError

if TYPE_CHECKING:
    from schema.attachments.types import Attachment


@strawberry.type(description="What a website widget needs to show itself: the inbox's public settings.")
class WidgetConfig:
    name: str = strawberry.field(description="The inbox's name.")
    widget_color: str = strawberry.field(description="The widget's colour, e.g. #1f93ff.")
    welcome_title: str = strawberry.field(description="Headline of the chat panel.")
    welcome_tagline: str = strawberry.field(description="Text under the headline.")
    reply_time: str = strawberry.field(
        description="Reply-time expectation: in_a_few_minutes, in_a_few_hours, in_a_day."
    )
    greeting_enabled: bool = strawberry.field(description="Whether to greet new visitors.")
    greeting_message: str = strawberry.field(description="The greeting.")
    working_hours_enabled: bool = strawberry.field(description="Whether working hours apply.")
    working_hours: JSON = strawberry.field(description="Working hours per day (day_of_week 0 = Sunday).")
    timezone: str = strawberry.field(description="The working hours' time zone.")
    out_of_office_message: str = strawberry.field(description="Shown outside working hours.")
    open_now: bool = strawberry.field(description="Within working hours now (always true without working hours).")
    agents_online: bool = strawberry.field(description="Whether an agent of this inbox is online now.")
    hmac_mandatory: bool = strawberry.field(description="Whether visitors must be identified with an identifierHash.")


@strawberry.type(description="The visitor as the widget knows them.")
class WidgetContact:
    name: str = strawberry.field(description="Their name (from the pre-chat form or identification).")
    email: str | None = strawberry.field(description="Their email, if they gave it.")
    verified: bool = strawberry.field(description="Identified with a valid identifierHash.")


@strawberry.type(description="One of the visitor's conversations.")
class WidgetConversation:
    pk: strawberry.Private[int]
    display_id: int = strawberry.field(description="The conversation's number.")
    status: ConversationStatusEnum = strawberry.field(description="Open, pending, resolved or snoozed.")
    created_at: datetime = strawberry.field(description="When it started.")
    last_activity_at: datetime = strawberry.field(description="Last message or change.")
    csat_rating: int | None = strawberry.field(description="The visitor's rating (1–5), if given.")

    @strawberry.field(description="Opaque global ID.")
    def id(self) -> strawberry.ID:
        return strawberry.ID(encode_id("Conversation", self.pk))

    @classmethod
    def from_row(cls, row, csat: int | None = None) -> WidgetConversation:
        return cls(
            pk=row.id,
            display_id=row.display_id,
            status=row.status,
            created_at=row.created_at,
            last_activity_at=row.last_activity_at,
            csat_rating=csat,
        )


@strawberry.type(description="A message as the visitor sees it.")
class WidgetMessage:
    pk: strawberry.Private[int]
    conversation_pk: strawberry.Private[int]
    content: str = strawberry.field(description="Text.")
    message_type: MessageTypeEnum = strawberry.field(
        description="INCOMING (the visitor's), OUTGOING (a reply) or TEMPLATE."
    )
    from_contact: bool = strawberry.field(description="Written by the visitor.")
    sender_name: str | None = strawberry.field(description="The agent's (or bot's) name on replies; never an email.")
    created_at: datetime = strawberry.field(description="When it was written.")
    deleted: bool = strawberry.field(description="Deleted by its author.")
    content_type: str = strawberry.field(
        description="text, or input_csat: the satisfaction survey, answered with widgetCsatSubmit."
    )

    @strawberry.field(description="Opaque global ID.")
    def id(self) -> strawberry.ID:
        return strawberry.ID(encode_id("Message", self.pk))

    @strawberry.field(description="Its conversation's ID.")
    def conversation_id(self) -> strawberry.ID:
        return strawberry.ID(encode_id("Conversation", self.conversation_pk))

    @strawberry.field(description="Its files, with short-lived download links.")
    async def attachments(
        self, info: strawberry.Info
    ) -> list[Annotated[Attachment, strawberry.lazy("schema.attachments.types")]]:
        from schema.attachments.types import Attachment

        return [Attachment.from_row(r) for r in await info.context.loaders.attachments_by_message.load(self.pk)]

    @classmethod
    def from_row(cls, row, names: dict) -> WidgetMessage:
        from domain.enums import SenderType

        name = None
        if row.sender_type == SenderType.USER and row.sender_id:
            name = names.get(("user", row.sender_id))
        elif row.sender_type == SenderType.BOT and row.sender_id:
            name = names.get(("bot", row.sender_id))
        return cls(
            pk=row.id,
            conversation_pk=row.conversation_id,
            content=row.content,
            message_type=row.message_type,
            from_contact=row.sender_type == SenderType.CONTACT,
            sender_name=name,
            created_at=row.created_at,
            deleted=row.deleted_at is not None,
            content_type=str((row.content_attributes or {}).get("content_type") or "text"),
        )


WidgetMessageConnection = Connection[WidgetMessage]


@strawberry.type(description="An agent typing a reply in one of the visitor's conversations.")
class WidgetTyping:
    pk: strawberry.Private[int]
    on: bool = strawberry.field(description="True while typing.")
    agent_name: str | None = strawberry.field(description="The agent's name.")

    @strawberry.field(description="The conversation.")
    def conversation_id(self) -> strawberry.ID:
        return strawberry.ID(encode_id("Conversation", self.pk))


@strawberry.type(description="Something happened in one of the visitor's conversations.")
class WidgetEvent:
    cursor: str = strawberry.field(description="Resume after this event with widgetEvents(after:).")
    type: str = strawberry.field(
        description="message.created, message.updated, conversation.created, "
        "conversation.status_changed, typing.on, typing.off."
    )
    occurred_at: datetime | None = strawberry.field(description="When it happened (logged events).")
    conversation: WidgetConversation | None = strawberry.field(description="The conversation, as it is now.")
    message: WidgetMessage | None = strawberry.field(description="The message (message events).")
    typing: WidgetTyping | None = strawberry.field(description="The typing indicator (typing events).")


# --- inputs and payloads ----------------------------------------------------------------------------------


@strawberry.type
class WidgetSessionStartPayload:
    token: str | None = strawberry.field(description="The contact-session token: send it as `Authorization: Bearer`.")
    contact: WidgetContact | None = strawberry.field(description="The visitor.")
    errors: list[WidgetError] = strawberry.field(description="User errors; empty on success.")


@strawberry.type
class WidgetMessageCreatePayload:
    message: WidgetMessage | None = strawberry.field(description="The message written.")
    conversation: WidgetConversation | None = strawberry.field(description="Its conversation.")
    errors: list[WidgetError] = strawberry.field(description="User errors; empty on success.")


@strawberry.type
class WidgetContactUpdatePayload:
    contact: WidgetContact | None = strawberry.field(description="The visitor.")
    errors: list[WidgetError] = strawberry.field(description="User errors; empty on success.")


@strawberry.type
class WidgetTypingSetPayload:
    accepted: bool = strawberry.field(description="Whether the indicator went out.")
    errors: list[WidgetError] = strawberry.field(description="User errors; empty on success.")


@strawberry.type
class WidgetCsatSubmitPayload:
    conversation: WidgetConversation | None = strawberry.field(description="The conversation with its rating.")
    errors: list[WidgetError] = strawberry.field(description="User errors; empty on success.")
