"""GraphQL types of inboxes, contacts, conversations and messages. Types are thin views filled from
plain rows; relations go through per-request DataLoaders."""

from __future__ import annotations

from datetime import datetime
from enum import Enum
from typing import TYPE_CHECKING, Annotated

import strawberry
from strawberry.scalars import JSON

from db.repositories import helpdesk as repo
from domain.enums import (
    AssignmentPolicy,
    ChannelType,
    ContactType,
    ConversationStatus,
    MessageType,
    Priority,
    SenderType,
)
from domain.errors import BadUserInput
from domain.helpdesk.inboxes import hmac_token_of
from infra.api_names import camel_case
from schema.accounts.types import Bot, User
from schema.core.ids import encode_id
from schema.core.pagination import Connection, build_connection, decode_int_cursor, page_size

if TYPE_CHECKING:
    from schema.attachments.types import Attachment
    from schema.catalog.types import Label, Team
    from schema.sla.types import AppliedSla

ChannelTypeEnum = strawberry.enum(ChannelType, name="ChannelType", description="How customers reach an inbox.")
ConversationStatusEnum = strawberry.enum(
    ConversationStatus, name="ConversationStatus", description="Where a conversation stands."
)
PriorityEnum = strawberry.enum(Priority, name="Priority", description="How urgent a conversation is.")
MessageTypeEnum = strawberry.enum(
    MessageType,
    name="MessageType",
    description="Who a message goes to: incoming from the contact, outgoing to them, activity lines, templates.",
)
AssignmentPolicyEnum = strawberry.enum(
    AssignmentPolicy, name="AssignmentPolicy", description="How auto-assignment chooses among available agents."
)
SenderTypeEnum = strawberry.enum(SenderType, name="SenderType", description="Who wrote a message.")
ContactTypeEnum = strawberry.enum(ContactType, name="ContactType", description="Visitor, lead or customer.")


@strawberry.enum(
    description="How conversation lists are ordered. SLA_DUE: the nearest SLA deadline first, those without one last."
)
class ConversationSort(Enum):
    LAST_ACTIVITY = "LAST_ACTIVITY"
    CREATED = "CREATED"
    WAITING_SINCE = "WAITING_SINCE"
    PRIORITY = "PRIORITY"
    SLA_DUE = "SLA_DUE"


@strawberry.type(description="Opening hours of one weekday.")
class WorkingHours:
    day_of_week: int = strawberry.field(description="0 = Sunday … 6 = Saturday.")
    closed_all_day: bool = strawberry.field(description="Closed that day.")
    open_all_day: bool = strawberry.field(description="Open around the clock that day.")
    open_time: str | None = strawberry.field(description="HH:MM, in the inbox's time zone.")
    close_time: str | None = strawberry.field(description="HH:MM, in the inbox's time zone.")


@strawberry.type(description="A channel customers write to: a website widget, an API channel or an email address.")
class Inbox:
    pk: strawberry.Private[int]
    row: strawberry.Private[object]
    name: str = strawberry.field(description="Display name.")
    channel_type: ChannelTypeEnum = strawberry.field(description="The kind of channel.")

    @strawberry.field(description="Opaque global ID.")
    def id(self) -> strawberry.ID:
        return strawberry.ID(encode_id("Inbox", self.pk))

    @strawberry.field(description="Public token the website widget starts sessions with (web widget inboxes).")
    def website_token(self) -> str | None:
        return self.row.website_token

    @strawberry.field(description="Public identifier of an API channel.")
    def api_identifier(self) -> str | None:
        return self.row.api_identifier

    @strawberry.field(
        description="Channel settings: widgetColor, welcomeTitle, welcomeTagline, replyTime, allowedDomains, websiteUrl, callbackUrl, email."
    )
    def channel_config(self) -> JSON:
        c = self.row.channel_config or {}
        return {camel_case(k): v for k, v in c.items()}

    @strawberry.field(description="The agent bot that answers first (its new conversations start pending); null: none.")
    async def bot(self, info: strawberry.Info) -> Bot | None:
        bot_id = self.row.bot_id
        if bot_id is None:
            return None
        row = await info.context.loaders.bot_by_id.load(bot_id)
        return Bot.from_row(row) if row is not None and row.account_id == self.row.account_id else None

    @strawberry.field(description="Whether widget contacts must prove their identifier with an HMAC.")
    def hmac_mandatory(self) -> bool:
        return self.row.hmac_mandatory

    @strawberry.field(
        description="Secret for identity verification (HMAC-SHA256 of the identifier). Administrators only; null for others."
    )
    async def hmac_token(self, info: strawberry.Info) -> str | None:
        actor = await info.context.actor()
        if not actor.is_administrator:
            return None
        return hmac_token_of(self.row, info.context.settings)

    @strawberry.field(description="Whether a contact who opens a conversation is greeted with the greeting text.")
    def greeting_enabled(self) -> bool:
        return self.row.greeting_enabled

    @strawberry.field(description="The greeting text.")
    def greeting_message(self) -> str:
        return self.row.greeting_message

    @strawberry.field(
        description="Sent (once per stretch of closed hours) to a contact who writes outside working hours."
    )
    def out_of_office_message(self) -> str:
        return self.row.out_of_office_message

    @strawberry.field(
        description="A CSAT survey goes to the contact when a conversation resolves (once per conversation)."
    )
    def csat_survey_enabled(self) -> bool:
        return self.row.csat_survey_enabled

    @strawberry.field(description="Whether working hours apply.")
    def working_hours_enabled(self) -> bool:
        return self.row.working_hours_enabled

    @strawberry.field(description="Opening hours per weekday.")
    def working_hours(self) -> list[WorkingHours]:
        return [WorkingHours(**h) for h in self.row.working_hours or []]

    @strawberry.field(description="IANA time zone of the working hours.")
    def timezone(self) -> str:
        return self.row.timezone

    @strawberry.field(description="New conversations are assigned to an available agent automatically.")
    def enable_auto_assignment(self) -> bool:
        return self.row.enable_auto_assignment

    @strawberry.field(
        description="Round-robin (longest since an automatic assignment) or balanced (fewest open conversations)."
    )
    def auto_assignment_policy(self) -> AssignmentPolicyEnum:  # type: ignore[valid-type]
        return self.row.auto_assignment_policy

    @strawberry.field(
        description="Open conversations of this inbox an agent holds before auto-assignment passes them by; null: no limit."
    )
    def auto_assignment_limit(self) -> int | None:
        return self.row.auto_assignment_limit

    @strawberry.field(
        description="Seconds an agent may be offline before their open conversations here go back to "
        "auto-assignment; null: they stay."
    )
    def reassign_offline_after_seconds(self) -> int | None:
        return self.row.reassign_offline_after_seconds

    @strawberry.field(description="The agents who work this inbox.")
    async def members(self, info: strawberry.Info) -> list[User]:
        users = await info.context.loaders.inbox_members.load(self.pk)
        return [User.from_row(u) for u in users]

    @classmethod
    def from_row(cls, row) -> Inbox:
        return cls(pk=row.id, row=row, name=row.name, channel_type=row.channel_type)


MAX_NOTES_PAGE = 100


@strawberry.type(description="A note an agent wrote about a contact.")
class ContactNote:
    pk: strawberry.Private[int]
    user_pk: strawberry.Private[int | None]
    content: str = strawberry.field(description="The note.")
    created_at: datetime = strawberry.field(description="When it was written.")

    @strawberry.field(description="Opaque global ID.")
    def id(self) -> strawberry.ID:
        return strawberry.ID(encode_id("ContactNote", self.pk))

    @strawberry.field(description="Who wrote it (null once their user is gone).")
    async def author(self, info: strawberry.Info) -> User | None:
        if self.user_pk is None:
            return None
        row = await info.context.loaders.user_by_id.load(self.user_pk)
        return User.from_row(row) if row else None

    @classmethod
    def from_row(cls, row) -> ContactNote:
        return cls(pk=row.id, user_pk=row.user_id, content=row.content, created_at=row.created_at)


@strawberry.type(description="A customer.")
class Contact:
    pk: strawberry.Private[int]
    name: str = strawberry.field(description="Full name (may be empty for anonymous visitors).")
    email: str | None = strawberry.field(description="Unique per account, any case.")
    phone_number: str | None = strawberry.field(description="E.164, e.g. +4930123456.")
    identifier: str | None = strawberry.field(description="Your system's id for this person; unique per account.")
    additional_attributes: JSON = strawberry.field(
        description="company_name, city, country, country_code, description, social_profiles."
    )
    custom_attributes: JSON = strawberry.field(description="Values of the account's contact attribute definitions.")
    contact_type: ContactTypeEnum = strawberry.field(description="Visitor, lead or customer.")
    blocked: bool = strawberry.field(description="Blocked contacts' conversations stay resolved.")
    last_activity_at: datetime | None = strawberry.field(description="Their last message.")
    created_at: datetime = strawberry.field(description="When the contact was created.")

    @strawberry.field(description="Opaque global ID.")
    def id(self) -> strawberry.ID:
        return strawberry.ID(encode_id("Contact", self.pk))

    @strawberry.field(description="Its labels (the account's), by title.")
    async def labels(self, info: strawberry.Info) -> list[Annotated[Label, strawberry.lazy("schema.catalog.types")]]:
        from schema.catalog.types import Label

        return [Label.from_row(r) for r in await info.context.loaders.labels_by_contact.load(self.pk)]

    @strawberry.field(description="Agents' notes on this contact, newest first, with their authors (at most 100).")
    async def notes(self, info: strawberry.Info, first: int = 20) -> list[ContactNote]:
        if not 1 <= first <= MAX_NOTES_PAGE:
            raise BadUserInput(f"Ask for 1 to {MAX_NOTES_PAGE} notes", field="first")
        return [ContactNote.from_row(r) for r in await info.context.loaders.notes_by_contact.load((self.pk, first))]

    @classmethod
    def from_row(cls, row) -> Contact:
        return cls(
            pk=row.id,
            name=row.name,
            email=row.email,
            phone_number=row.phone_number,
            identifier=row.identifier,
            additional_attributes=row.additional_attributes,
            custom_attributes=row.custom_attributes,
            contact_type=row.contact_type,
            blocked=row.blocked,
            last_activity_at=row.last_activity_at,
            created_at=row.created_at,
        )


@strawberry.type(description="A message of a conversation.")
class Message:
    pk: strawberry.Private[int]
    sender_pk: strawberry.Private[int | None]
    content: str = strawberry.field(description="Text (deleted messages say so; the original is kept).")
    message_type: MessageTypeEnum = strawberry.field(description="Incoming, outgoing, activity or template.")
    private: bool = strawberry.field(description="A private note: agents only, never sent to the contact.")
    sender_type: SenderTypeEnum = strawberry.field(description="Who wrote it.")
    content_attributes: JSON = strawberry.field(
        description="in_reply_to, deleted, previous_contents, mentioned_user_ids…"
    )
    created_at: datetime = strawberry.field(description="When it was written.")
    edited_at: datetime | None = strawberry.field(description="When it was last edited.")
    deleted_at: datetime | None = strawberry.field(description="When it was deleted.")

    @strawberry.field(description="Opaque global ID.")
    def id(self) -> strawberry.ID:
        return strawberry.ID(encode_id("Message", self.pk))

    @strawberry.field(description="The agent who wrote it (outgoing messages and notes).")
    async def sender_user(self, info: strawberry.Info) -> User | None:
        if self.sender_type != SenderType.USER or self.sender_pk is None:
            return None
        row = await info.context.loaders.user_by_id.load(self.sender_pk)
        return User.from_row(row) if row else None

    @strawberry.field(description="The contact who wrote it (incoming messages).")
    async def sender_contact(self, info: strawberry.Info) -> Contact | None:
        if self.sender_type != SenderType.CONTACT or self.sender_pk is None:
            return None
        row = await info.context.loaders.contact_by_id.load(self.sender_pk)
        return Contact.from_row(row) if row else None

    @strawberry.field(description="The agent bot that wrote it (senderType BOT).")
    async def sender_bot(self, info: strawberry.Info) -> Bot | None:
        if self.sender_type != SenderType.BOT or self.sender_pk is None:
            return None
        row = await info.context.loaders.bot_by_id.load(self.sender_pk)
        return Bot.from_row(row) if row else None

    @strawberry.field(description="Its files (at most 15), with short-lived download links.")
    async def attachments(
        self, info: strawberry.Info
    ) -> list[Annotated[Attachment, strawberry.lazy("schema.attachments.types")]]:
        from schema.attachments.types import Attachment

        return [Attachment.from_row(r) for r in await info.context.loaders.attachments_by_message.load(self.pk)]

    @classmethod
    def from_row(cls, row) -> Message:
        return cls(
            pk=row.id,
            sender_pk=row.sender_id,
            content=row.content,
            message_type=row.message_type,
            private=row.private,
            sender_type=row.sender_type,
            content_attributes=row.content_attributes,
            created_at=row.created_at,
            edited_at=row.edited_at,
            deleted_at=row.deleted_at,
        )


@strawberry.type(description="A conversation with a contact in one inbox.")
class Conversation:
    pk: strawberry.Private[int]
    row: strawberry.Private[object]
    display_id: int = strawberry.field(description="Number of the conversation within the account (#123).")
    status: ConversationStatusEnum = strawberry.field(description="Open, pending, resolved or snoozed.")
    priority: PriorityEnum | None = strawberry.field(description="Urgency, when set.")
    snoozed_until: datetime | None = strawberry.field(
        description="When a snoozed conversation reopens (null: on the next reply)."
    )
    last_activity_at: datetime = strawberry.field(description="Last message or change.")
    waiting_since: datetime | None = strawberry.field(description="Since when the contact waits for a human reply.")
    first_reply_created_at: datetime | None = strawberry.field(description="The first human reply.")
    agent_last_seen_at: datetime | None = strawberry.field(description="When an agent last read it.")
    custom_attributes: JSON = strawberry.field(
        description="Values of the account's conversation attribute definitions."
    )
    additional_attributes: JSON = strawberry.field(description="browser, referer, mail_subject…")
    created_at: datetime = strawberry.field(description="When it started.")
    sla_due_at: datetime | None = strawberry.field(
        description="The next deadline of its SLA's running targets (null: no SLA, or none runs)."
    )

    @strawberry.field(description="Opaque global ID.")
    def id(self) -> strawberry.ID:
        return strawberry.ID(encode_id("Conversation", self.pk))

    @strawberry.field(description="The SLA applied to it, with its deadlines and misses (null: none).")
    async def sla(self, info: strawberry.Info) -> Annotated[AppliedSla, strawberry.lazy("schema.sla.types")] | None:
        from schema.sla.types import AppliedSla

        if self.row.sla_policy_id is None:
            return None
        row = await info.context.loaders.applied_sla_by_conversation.load(self.pk)
        return AppliedSla.from_row(row) if row else None

    @strawberry.field(description="The inbox it arrived in.")
    async def inbox(self, info: strawberry.Info) -> Inbox:
        return Inbox.from_row(await info.context.loaders.inbox_by_id.load(self.row.inbox_id))

    @strawberry.field(description="The customer.")
    async def contact(self, info: strawberry.Info) -> Contact:
        return Contact.from_row(await info.context.loaders.contact_by_id.load(self.row.contact_id))

    @strawberry.field(description="The agent it is assigned to.")
    async def assignee(self, info: strawberry.Info) -> User | None:
        if self.row.assignee_id is None:
            return None
        row = await info.context.loaders.user_by_id.load(self.row.assignee_id)
        return User.from_row(row) if row else None

    @strawberry.field(description="The team it is assigned to.")
    async def team(self, info: strawberry.Info) -> Annotated[Team, strawberry.lazy("schema.catalog.types")] | None:
        if self.row.team_id is None:
            return None
        from schema.catalog.types import Team

        row = await info.context.loaders.team_by_id.load(self.row.team_id)
        return Team.from_row(row) if row else None

    @strawberry.field(
        description="The conversation this one was merged into (null: not merged, or kept in an inbox the "
        "caller does not work)."
    )
    async def merged_into(self, info: strawberry.Info) -> Conversation | None:
        if self.row.merged_into_id is None:
            return None
        actor = await info.context.actor()
        async with info.context.db() as session:
            row = await repo.conversation_visible(session, actor, self.row.merged_into_id)
        return Conversation.from_row(row) if row else None

    @strawberry.field(description="Its labels, by title.")
    async def labels(self, info: strawberry.Info) -> list[Annotated[Label, strawberry.lazy("schema.catalog.types")]]:
        from schema.catalog.types import Label

        return [Label.from_row(r) for r in await info.context.loaders.labels_by_conversation.load(self.pk)]

    @strawberry.field(description="The newest message visible to agents (activity lines included).")
    async def last_message(self, info: strawberry.Info) -> Message | None:
        row = await info.context.loaders.last_message_by_conversation.load(self.pk)
        return Message.from_row(row) if row else None

    @strawberry.field(description="Messages from the contact since an agent last read the conversation.")
    async def unread_count(self, info: strawberry.Info) -> int:
        return await info.context.loaders.unread_count_by_conversation.load(self.pk)

    @strawberry.field(
        description="Messages, newest first; page backwards with `before` (a cursor). Default 25, at most 100."
    )
    async def messages(
        self, info: strawberry.Info, first: int | None = 25, before: str | None = None
    ) -> Connection[Message]:
        limit = page_size(first)
        async with info.context.db() as session:
            rows = await repo.messages_page(
                session, self.pk, include_private=True, before_id=decode_int_cursor(before), limit=limit + 1
            )
        return build_connection(rows, limit, Message.from_row, lambda r: r.id, before is not None)

    @classmethod
    def from_row(cls, row) -> Conversation:
        return cls(
            pk=row.id,
            row=row,
            display_id=row.display_id,
            status=row.status,
            priority=row.priority,
            snoozed_until=row.snoozed_until,
            last_activity_at=row.last_activity_at,
            waiting_since=row.waiting_since,
            first_reply_created_at=row.first_reply_created_at,
            agent_last_seen_at=row.agent_last_seen_at,
            custom_attributes=row.custom_attributes,
            additional_attributes=row.additional_attributes,
            created_at=row.created_at,
            sla_due_at=row.sla_due_at,
        )


@strawberry.type(description="Conversation counts for the dashboard's sidebar and tabs.")
class ConversationCounts:
    open: int = strawberry.field(description="Open conversations.")
    pending: int = strawberry.field(description="Pending conversations.")
    resolved: int = strawberry.field(description="Resolved conversations.")
    snoozed: int = strawberry.field(description="Snoozed conversations.")
    mine: int = strawberry.field(description="Open and assigned to you.")
    unassigned: int = strawberry.field(description="Open and unassigned.")
    all: int = strawberry.field(description="Open, of any assignee (the ALL tab).")
    mentions: int = strawberry.field(description="Open and you were mentioned in a private note.")
    participating: int = strawberry.field(description="Open and you take part in it.")
    unattended: int = strawberry.field(description="Open with no first reply yet or waiting for an answer.")


@strawberry.type(description="A message found by a search, with the text around the match.")
class MessageHit:
    message: Message = strawberry.field(description="The message.")
    conversation: Conversation = strawberry.field(description="Its conversation.")
    snippet: str = strawberry.field(
        description="Text around the match; matched words are wrapped in <mark>…</mark>, the rest is as written."
    )


@strawberry.type(description="What a search found, by kind; each section holds at most `first` results.")
class SearchResults:
    conversations: list[Conversation] = strawberry.field(
        description='Conversations by displayId ("#123" or "123") or by their contact\'s name, email, phone or identifier; most recently active first.'
    )
    messages: list[MessageHit] = strawberry.field(
        description="Messages by their text (3 characters or more), best match first among the newest matches."
    )
    contacts: list[Contact] = strawberry.field(
        description="Contacts by name, email, phone or identifier (under 3 characters: name and email prefixes, exact phone and identifier)."
    )
    end_cursor: str | None = strawberry.field(description="Pass as `after` for the next page of every section.")
    has_next_page: bool = strawberry.field(description="Whether any section has more results.")
