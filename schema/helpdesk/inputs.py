"""Inputs and payloads of the helpdesk mutations."""

from __future__ import annotations

from datetime import datetime

import strawberry
from strawberry.scalars import JSON

from domain.enums import MessageType
from domain.filters.enums import ConversationTab
from schema.helpdesk.errors import HelpdeskError
from schema.helpdesk.types import (
    AssignmentPolicyEnum,
    ChannelTypeEnum,
    Contact,
    ContactNote,
    ContactTypeEnum,
    Conversation,
    ConversationStatusEnum,
    Inbox,
    Message,
    MessageTypeEnum,
    PriorityEnum,
)
from schema.sla.types import SlaStatusEnum


@strawberry.input(description="Opening hours of one weekday.")
class WorkingHoursInput:
    day_of_week: int = strawberry.field(description="0 = Sunday … 6 = Saturday.")
    closed_all_day: bool = strawberry.field(default=False, description="Closed that day.")
    open_all_day: bool = strawberry.field(default=False, description="Open around the clock.")
    open_time: str | None = strawberry.field(default=None, description="HH:MM.")
    close_time: str | None = strawberry.field(default=None, description="HH:MM, after openTime.")


@strawberry.input(description="Channel settings; which apply depends on the channel type.")
class ChannelConfigInput:
    widget_color: str | None = strawberry.field(default=None, description="Web widget: #rrggbb.")
    website_url: str | None = strawberry.field(default=None, description="Web widget: the site it runs on.")
    welcome_title: str | None = strawberry.field(default=None, description="Web widget: heading.")
    welcome_tagline: str | None = strawberry.field(default=None, description="Web widget: sub-heading.")
    reply_time: str | None = strawberry.field(
        default=None, description="Web widget: in_a_few_minutes, in_a_few_hours or in_a_day."
    )
    allowed_domains: list[str] | None = strawberry.field(
        default=None, description="Web widget: hosts allowed to embed it (at most 50; none = any)."
    )
    callback_url: str | None = strawberry.field(
        default=None,
        description="API channel: where agents' public replies are posted, signed and retried as webhooks (an empty string removes it).",
    )
    email: str | None = strawberry.field(default=None, description="Email channel: the inbox's address.")


@strawberry.input(description="Inbox settings; omitted fields keep their value.")
class InboxSettingsInput:
    greeting_enabled: bool | None = strawberry.field(default=None, description="Send a greeting to new conversations.")
    greeting_message: str | None = strawberry.field(default=None, description="The greeting.")
    out_of_office_message: str | None = strawberry.field(default=None, description="Shown outside working hours.")
    working_hours_enabled: bool | None = strawberry.field(default=None, description="Apply working hours.")
    csat_survey_enabled: bool | None = strawberry.field(
        default=None, description="Send a CSAT survey when a conversation resolves (widget message; email link)."
    )
    working_hours: list[WorkingHoursInput] | None = strawberry.field(
        default=None, description="At most one entry per weekday."
    )
    timezone: str | None = strawberry.field(default=None, description="IANA time zone of the working hours.")
    enable_auto_assignment: bool | None = strawberry.field(
        default=None, description="Assign new conversations automatically."
    )
    hmac_mandatory: bool | None = strawberry.field(
        default=None, description="Widget contacts must verify their identifier."
    )
    auto_assignment_policy: AssignmentPolicyEnum | None = strawberry.field(  # type: ignore[valid-type]
        default=None, description="Round-robin or balanced."
    )
    auto_assignment_limit: int | None = strawberry.field(
        default=strawberry.UNSET,
        description="Open conversations per agent in this inbox (0 to 100,000); explicit null removes the limit.",
    )
    reassign_offline_after_seconds: int | None = strawberry.field(
        default=strawberry.UNSET,
        description="With auto-assignment on: seconds (1 to 86,400) an agent may be offline before their open "
        "conversations here go back to auto-assignment; explicit null turns it off.",
    )


@strawberry.input(description="Create an inbox.")
class InboxCreateInput:
    name: str = strawberry.field(description="Display name.")
    channel_type: ChannelTypeEnum = strawberry.field(description="Web widget, API or email.")
    channel_config: ChannelConfigInput | None = strawberry.field(default=None, description="Channel settings.")
    settings: InboxSettingsInput | None = strawberry.field(default=None, description="Greeting, hours, assignment.")


@strawberry.input(description="Change an inbox.")
class InboxUpdateInput:
    name: str | None = strawberry.field(default=None, description="Display name.")
    channel_config: ChannelConfigInput | None = strawberry.field(
        default=None, description="Channel settings to change."
    )
    settings: InboxSettingsInput | None = strawberry.field(default=None, description="Settings to change.")


@strawberry.type(description="Result of the inbox mutations.")
class InboxPayload:
    inbox: Inbox | None = strawberry.field(description="The inbox.")
    errors: list[HelpdeskError] = strawberry.field(description="User errors; empty on success.")


@strawberry.input(description="Create a contact.")
class ContactCreateInput:
    name: str = strawberry.field(default="", description="Full name.")
    email: str | None = strawberry.field(default=None, description="Unique per account.")
    phone_number: str | None = strawberry.field(default=None, description="E.164.")
    identifier: str | None = strawberry.field(default=None, description="Your system's id; unique per account.")
    contact_type: ContactTypeEnum | None = strawberry.field(
        default=None, description="Default: lead with an email, else visitor."
    )
    additional_attributes: JSON | None = strawberry.field(
        default=None, description="company_name, city, country, country_code, description, social_profiles."
    )
    custom_attributes: JSON | None = strawberry.field(
        default=None, description="Values for the contact attribute definitions."
    )


@strawberry.input(
    description="Change a contact; omitted fields keep their value, a null inside the attribute objects removes that key."
)
class ContactUpdateInput:
    name: str | None = strawberry.field(default=None, description="Full name.")
    email: str | None = strawberry.field(default=None, description="Unique per account.")
    phone_number: str | None = strawberry.field(default=None, description="E.164.")
    identifier: str | None = strawberry.field(default=None, description="Unique per account.")
    contact_type: ContactTypeEnum | None = strawberry.field(default=None, description="Visitor, lead or customer.")
    blocked: bool | None = strawberry.field(default=None, description="Block or unblock.")
    additional_attributes: JSON | None = strawberry.field(default=None, description="Merged into the current ones.")
    custom_attributes: JSON | None = strawberry.field(default=None, description="Merged into the current ones.")


@strawberry.type(description="Result of the contact mutations.")
class ContactPayload:
    contact: Contact | None = strawberry.field(description="The contact.")
    errors: list[HelpdeskError] = strawberry.field(description="User errors; empty on success.")


@strawberry.type(description="Result of contactNoteCreate.")
class ContactNotePayload:
    note: ContactNote | None = strawberry.field(description="The note.")
    errors: list[HelpdeskError] = strawberry.field(description="User errors; empty on success.")


@strawberry.input(description="Start a conversation with a contact (API and email inboxes).")
class ConversationCreateInput:
    inbox_id: strawberry.ID = strawberry.field(description="An inbox you work.")
    contact_id: strawberry.ID = strawberry.field(description="The contact.")
    message: str | None = strawberry.field(default=None, description="First outgoing message.")
    assignee_id: strawberry.ID | None = strawberry.field(default=None, description="Assign it right away.")


@strawberry.type(description="Result of the conversation mutations.")
class ConversationPayload:
    conversation: Conversation | None = strawberry.field(description="The conversation after the change.")
    errors: list[HelpdeskError] = strawberry.field(description="User errors; empty on success.")


@strawberry.input(description="Write a message or a private note.")
class MessageCreateInput:
    conversation_id: strawberry.ID = strawberry.field(description="The conversation.")
    content: str = strawberry.field(
        description="Up to 150,000 characters. Mention colleagues in notes as @[Name](mention://user/<id>/Name)."
    )
    private: bool = strawberry.field(default=False, description="A private note for agents.")
    message_type: MessageTypeEnum = strawberry.field(
        default=MessageType.OUTGOING, description="OUTGOING, or INCOMING for API inboxes."
    )
    in_reply_to: strawberry.ID | None = strawberry.field(default=None, description="The message this one answers.")
    attachment_ids: list[strawberry.ID] = strawberry.field(
        default_factory=list,
        description="Uploaded files from attachmentUploadCreate (at most 15); each must have the declared size and type. "
        "With attachments the content may be empty.",
    )


@strawberry.type(description="Result of the message mutations.")
class MessagePayload:
    message: Message | None = strawberry.field(description="The message.")
    errors: list[HelpdeskError] = strawberry.field(description="User errors; empty on success.")


@strawberry.input(description="Assign a conversation; omitted fields keep their value, explicit null unassigns.")
class ConversationAssignInput:
    assignee_id: strawberry.ID | None = strawberry.field(
        default=strawberry.UNSET, description="An agent of the inbox, or null."
    )
    team_id: strawberry.ID | None = strawberry.field(default=strawberry.UNSET, description="A team, or null.")


@strawberry.input(description="Change the status.")
class ConversationStatusInput:
    status: ConversationStatusEnum = strawberry.field(description="The new status.")
    snoozed_until: datetime | None = strawberry.field(
        default=None, description="SNOOZED only: when to reopen (future); null = on the next reply."
    )


@strawberry.input(description="Change labels by title: add and remove, or replace all.")
class ConversationLabelsInput:
    add: list[str] = strawberry.field(default_factory=list, description="Titles to add (at most 100).")
    remove: list[str] = strawberry.field(default_factory=list, description="Titles to remove.")
    replace: bool = strawberry.field(default=False, description="Make `add` the complete list.")


@strawberry.input(description="Act on up to 100 conversations at once; all succeed or none.")
class ConversationBulkInput:
    ids: list[strawberry.ID] = strawberry.field(description="1 to 100 conversations.")
    status: ConversationStatusEnum | None = strawberry.field(default=None, description="New status (not SNOOZED).")
    assignee_id: strawberry.ID | None = strawberry.field(
        default=strawberry.UNSET, description="Assign (null unassigns)."
    )
    add_labels: list[str] = strawberry.field(default_factory=list, description="Labels to add.")


@strawberry.type(description="Result of conversationBulkUpdate.")
class ConversationBulkPayload:
    conversations: list[Conversation] = strawberry.field(description="The conversations after the change.")
    errors: list[HelpdeskError] = strawberry.field(description="User errors; empty on success.")


ConversationTabEnum = strawberry.enum(ConversationTab, name="ConversationTab", description="A tab of the list.")


@strawberry.input(description="One filter condition, Chatwoot's shape.")
class FilterConditionInput:
    attribute_key: str = strawberry.field(
        description="A standard attribute (status, assignee_id, labels, created_at, contact_email, …) "
        "or a custom attribute's key."
    )
    filter_operator: str = strawberry.field(
        description="equal_to, not_equal_to, contains, does_not_contain, is_present, is_not_present, "
        "is_greater_than, is_less_than, days_before or starts_with; which apply depends on the attribute's type."
    )
    values: list[str] = strawberry.field(
        default_factory=list,
        description="Values as text: global IDs for assignee/inbox/team/contact, ISO dates, numbers, true/false.",
    )
    query_operator: str | None = strawberry.field(
        default=None,
        description="`and` or `or`, joining this condition to the next; read left to right ((a and b) or c).",
    )


@strawberry.input(description="Which conversations to list.")
class ConversationFilterInput:
    status: ConversationStatusEnum | None = strawberry.field(default=None, description="Only this status.")
    inbox_id: strawberry.ID | None = strawberry.field(default=None, description="Only this inbox.")
    assignee: str | None = strawberry.field(default=None, description="`me`, `unassigned` or `assigned`.")
    assignee_id: strawberry.ID | None = strawberry.field(default=None, description="Only this agent's.")
    team_id: strawberry.ID | None = strawberry.field(default=None, description="Only this team's.")
    label: str | None = strawberry.field(default=None, description="Only with this label (title).")
    priority: PriorityEnum | None = strawberry.field(default=None, description="Only this priority.")
    contact_id: strawberry.ID | None = strawberry.field(default=None, description="Only this contact's.")
    search: str | None = strawberry.field(
        default=None,
        description="DisplayId, contact name, email, phone or identifier, or (3 characters or more) text in the messages; 1 to 200 characters.",
    )
    tab: ConversationTabEnum | None = strawberry.field(
        default=None, description="mine, unassigned, all, mentions, participating or unattended."
    )
    conditions: list[FilterConditionInput] | None = strawberry.field(
        default=None, description="Filter conditions (at most 20), ANDed with the fields above."
    )
    sla_status: SlaStatusEnum | None = strawberry.field(
        default=None, description="Only those whose applied SLA has this status."
    )
    sla_policy_id: strawberry.ID | None = strawberry.field(
        default=None, description="Only those with an SLA of this policy."
    )
    view_id: strawberry.ID | None = strawberry.field(
        default=None,
        description="A saved conversation view (yours or the account's): its conditions are ANDed with "
        "`conditions` and the fields above, and its tab applies unless `tab` is given. Another member's "
        "or another account's view is NOT_FOUND.",
    )
