"""The helpdesk: inboxes, teams, labels, contacts, conversations, messages, attachments, canned
responses, custom attribute definitions and the event log."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Any

from sqlalchemy import Boolean, ForeignKey, Index, Integer, String, Text, UniqueConstraint, false, func
from sqlalchemy.orm import Mapped, MappedColumn, mapped_column

from db.base import Base, JSONType, UTCDateTime, utcnow
from db.models.accounts import BigID, enum_column
from domain.enums import (
    AssignmentPolicy,
    AttributeDisplayType,
    AttributeModel,
    ChannelType,
    ContactType,
    ConversationStatus,
    FileType,
    MessageType,
    Priority,
    SenderType,
)


def _fk(target: str, ondelete: str = "CASCADE", **kw: Any) -> MappedColumn[Any]:
    return mapped_column(ForeignKey(target, ondelete=ondelete), **kw)


class Inbox(Base):
    __tablename__ = "inboxes"

    id: Mapped[int] = mapped_column(BigID, primary_key=True)
    account_id: Mapped[int] = _fk("accounts.id", index=True)
    name: Mapped[str] = mapped_column(String(255))
    channel_type: Mapped[ChannelType] = mapped_column(enum_column(ChannelType, "channel_type"))
    # Channel settings: widget colour, welcome texts, allowed domains, email address, callback URL…
    channel_config: Mapped[dict[str, Any]] = mapped_column(JSONType, default=dict)
    website_token: Mapped[str | None] = mapped_column(String(64), unique=True, nullable=True)
    api_identifier: Mapped[str | None] = mapped_column(String(64), unique=True, nullable=True)
    # The identity-verification secret, encrypted like webhook secrets (domain.crypto): we show it to
    # the account's administrators, so it cannot be a hash.
    hmac_token_encrypted: Mapped[str] = mapped_column(Text)
    hmac_token_key_id: Mapped[str] = mapped_column(String(32))
    hmac_mandatory: Mapped[bool] = mapped_column(Boolean, default=False)
    greeting_enabled: Mapped[bool] = mapped_column(Boolean, default=False)
    greeting_message: Mapped[str] = mapped_column(Text, default="")
    out_of_office_message: Mapped[str] = mapped_column(Text, default="")
    working_hours_enabled: Mapped[bool] = mapped_column(Boolean, default=False)
    # Chatwoot's csat_survey_enabled: a satisfaction survey goes to the contact when a conversation resolves.
    csat_survey_enabled: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false())
    working_hours: Mapped[list[Any]] = mapped_column(JSONType, default=list)
    timezone: Mapped[str] = mapped_column(String(64), default="UTC")
    enable_auto_assignment: Mapped[bool] = mapped_column(Boolean, default=True)
    auto_assignment_policy: Mapped[AssignmentPolicy] = mapped_column(
        enum_column(AssignmentPolicy, "assignment_policy"), default=AssignmentPolicy.ROUND_ROBIN
    )
    # Open conversations an agent may hold in this inbox before auto-assignment passes them by (None: no limit).
    auto_assignment_limit: Mapped[int | None] = mapped_column(Integer, nullable=True)
    # The agent bot that answers first (Chatwoot's agent_bot_inboxes, one bot per inbox): while set,
    # new conversations start pending and the bot's token may act on this inbox's conversations.
    bot_id: Mapped[int | None] = _fk("bots.id", ondelete="SET NULL", nullable=True, index=True)
    # Seconds an agent may stay offline before their open conversations here go back to auto-assignment
    # (None: they stay).
    reassign_offline_after_seconds: Mapped[int | None] = mapped_column(Integer, nullable=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)


class InboxMember(Base):
    __tablename__ = "inbox_members"
    __table_args__ = (UniqueConstraint("inbox_id", "user_id"), Index("ix_inbox_members_user_id", "user_id"))

    id: Mapped[int] = mapped_column(BigID, primary_key=True)
    account_id: Mapped[int] = _fk("accounts.id")
    inbox_id: Mapped[int] = _fk("inboxes.id")
    user_id: Mapped[int] = _fk("users.id")
    # When auto-assignment last gave this agent a conversation of the inbox: the round-robin order.
    last_assigned_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)


class Team(Base):
    __tablename__ = "teams"
    __table_args__ = (UniqueConstraint("account_id", "name"),)

    id: Mapped[int] = mapped_column(BigID, primary_key=True)
    account_id: Mapped[int] = _fk("accounts.id")
    name: Mapped[str] = mapped_column(String(100))
    description: Mapped[str] = mapped_column(Text, default="")
    allow_auto_assign: Mapped[bool] = mapped_column(Boolean, default=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class TeamMember(Base):
    __tablename__ = "team_members"
    __table_args__ = (UniqueConstraint("team_id", "user_id"), Index("ix_team_members_user_id", "user_id"))

    id: Mapped[int] = mapped_column(BigID, primary_key=True)
    account_id: Mapped[int] = _fk("accounts.id")
    team_id: Mapped[int] = _fk("teams.id")
    user_id: Mapped[int] = _fk("users.id")


class Label(Base):
    __tablename__ = "labels"
    __table_args__ = (UniqueConstraint("account_id", "title"),)

    id: Mapped[int] = mapped_column(BigID, primary_key=True)
    account_id: Mapped[int] = _fk("accounts.id")
    title: Mapped[str] = mapped_column(String(100))  # stored lower-case, as Chatwoot does
    description: Mapped[str] = mapped_column(Text, default="")
    color: Mapped[str] = mapped_column(String(7), default="#1f93ff")
    show_on_sidebar: Mapped[bool] = mapped_column(Boolean, default=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class Contact(Base):
    __tablename__ = "contacts"
    __table_args__ = (
        Index("ix_contacts_account_id_id", "account_id", "id"),
        Index("ix_contacts_account_phone", "account_id", "phone_number"),
    )

    id: Mapped[int] = mapped_column(BigID, primary_key=True)
    account_id: Mapped[int] = _fk("accounts.id")
    name: Mapped[str] = mapped_column(String(255), default="")
    email: Mapped[str | None] = mapped_column(String(320), nullable=True)
    phone_number: Mapped[str | None] = mapped_column(String(20), nullable=True)
    identifier: Mapped[str | None] = mapped_column(String(255), nullable=True)
    additional_attributes: Mapped[dict[str, Any]] = mapped_column(JSONType, default=dict)
    custom_attributes: Mapped[dict[str, Any]] = mapped_column(JSONType, default=dict)
    contact_type: Mapped[ContactType] = mapped_column(
        enum_column(ContactType, "contact_type"), default=ContactType.VISITOR
    )
    blocked: Mapped[bool] = mapped_column(Boolean, default=False)
    last_activity_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    # Set when the person was erased: the row stays for the conversations and reports that point at it.
    erased_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)


Index("uq_contacts_account_email", Contact.account_id, func.lower(Contact.email), unique=True)
Index("uq_contacts_account_identifier", Contact.account_id, Contact.identifier, unique=True)


class ContactNote(Base):
    __tablename__ = "contact_notes"
    __table_args__ = (Index("ix_contact_notes_contact_id", "contact_id"),)

    id: Mapped[int] = mapped_column(BigID, primary_key=True)
    account_id: Mapped[int] = _fk("accounts.id")
    contact_id: Mapped[int] = _fk("contacts.id")
    user_id: Mapped[int | None] = _fk("users.id", ondelete="SET NULL", nullable=True)
    content: Mapped[str] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class ContactLabel(Base):
    """A label (one of the account's) on a contact, as a conversation has them."""

    __tablename__ = "contact_labels"
    __table_args__ = (Index("ix_contact_labels_label_id", "label_id"),)

    contact_id: Mapped[int] = mapped_column(ForeignKey("contacts.id", ondelete="CASCADE"), primary_key=True)
    label_id: Mapped[int] = mapped_column(ForeignKey("labels.id", ondelete="CASCADE"), primary_key=True)
    account_id: Mapped[int] = _fk("accounts.id")


class ContactInbox(Base):
    """A contact's identity in one inbox (the widget session's source id, an email address…)."""

    __tablename__ = "contact_inboxes"
    __table_args__ = (UniqueConstraint("inbox_id", "source_id"), Index("ix_contact_inboxes_contact_id", "contact_id"))

    id: Mapped[int] = mapped_column(BigID, primary_key=True)
    account_id: Mapped[int] = _fk("accounts.id")
    contact_id: Mapped[int] = _fk("contacts.id")
    inbox_id: Mapped[int] = _fk("inboxes.id")
    source_id: Mapped[str] = mapped_column(String(255))
    hmac_verified: Mapped[bool] = mapped_column(Boolean, default=False)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class Conversation(Base):
    __tablename__ = "conversations"
    __table_args__ = (
        UniqueConstraint("account_id", "display_id"),
        Index("ix_conversations_list", "account_id", "status", "last_activity_at", "id"),
        Index("ix_conversations_account_assignee", "account_id", "assignee_id", "status"),
        Index("ix_conversations_inbox", "inbox_id", "status", "last_activity_at"),
        Index("ix_conversations_contact", "contact_id"),
        Index("ix_conversations_team", "team_id"),
        Index("ix_conversations_sla_due", "account_id", "sla_due_at"),
    )

    id: Mapped[int] = mapped_column(BigID, primary_key=True)
    account_id: Mapped[int] = _fk("accounts.id")
    display_id: Mapped[int] = mapped_column(Integer)
    inbox_id: Mapped[int] = _fk("inboxes.id")
    contact_id: Mapped[int] = _fk("contacts.id")
    contact_inbox_id: Mapped[int | None] = _fk("contact_inboxes.id", ondelete="SET NULL", nullable=True)
    status: Mapped[ConversationStatus] = mapped_column(
        enum_column(ConversationStatus, "conversation_status"), default=ConversationStatus.OPEN
    )
    priority: Mapped[Priority | None] = mapped_column(enum_column(Priority, "conversation_priority"), nullable=True)
    assignee_id: Mapped[int | None] = _fk("users.id", ondelete="SET NULL", nullable=True)
    team_id: Mapped[int | None] = _fk("teams.id", ondelete="SET NULL", nullable=True)
    snoozed_until: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    last_activity_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    waiting_since: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    first_reply_created_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    agent_last_seen_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    contact_last_seen_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    additional_attributes: Mapped[dict[str, Any]] = mapped_column(JSONType, default=dict)
    custom_attributes: Mapped[dict[str, Any]] = mapped_column(JSONType, default=dict)
    # Set when this conversation was merged into another (it is resolved and its messages moved there).
    merged_into_id: Mapped[int | None] = _fk("conversations.id", ondelete="SET NULL", nullable=True)
    # The applied SLA's policy and its next deadline (domain/sla): kept here so lists filter and sort by it.
    sla_policy_id: Mapped[int | None] = _fk("sla_policies.id", ondelete="SET NULL", nullable=True)
    sla_due_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)


class ConversationLabel(Base):
    __tablename__ = "conversation_labels"
    __table_args__ = (Index("ix_conversation_labels_label_id", "label_id"),)

    conversation_id: Mapped[int] = mapped_column(ForeignKey("conversations.id", ondelete="CASCADE"), primary_key=True)
    label_id: Mapped[int] = mapped_column(ForeignKey("labels.id", ondelete="CASCADE"), primary_key=True)
    account_id: Mapped[int] = _fk("accounts.id")


class ConversationParticipant(Base):
    __tablename__ = "conversation_participants"
    __table_args__ = (Index("ix_conversation_participants_user_id", "user_id"),)

    conversation_id: Mapped[int] = mapped_column(ForeignKey("conversations.id", ondelete="CASCADE"), primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), primary_key=True)
    account_id: Mapped[int] = _fk("accounts.id")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class Mention(Base):
    __tablename__ = "mentions"
    __table_args__ = (UniqueConstraint("conversation_id", "user_id"), Index("ix_mentions_user_id", "user_id"))

    id: Mapped[int] = mapped_column(BigID, primary_key=True)
    account_id: Mapped[int] = _fk("accounts.id")
    conversation_id: Mapped[int] = _fk("conversations.id")
    user_id: Mapped[int] = _fk("users.id")
    message_id: Mapped[int | None] = _fk("messages.id", ondelete="SET NULL", nullable=True)
    mentioned_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class Message(Base):
    __tablename__ = "messages"
    __table_args__ = (
        Index("ix_messages_conversation_id_id", "conversation_id", "id"),
        Index("ix_messages_account_created", "account_id", "created_at"),
        Index("ix_messages_inbox_source", "inbox_id", "source_id"),  # an email's thread by Message-ID
    )

    id: Mapped[int] = mapped_column(BigID, primary_key=True)
    account_id: Mapped[int] = _fk("accounts.id")
    conversation_id: Mapped[int] = _fk("conversations.id")
    inbox_id: Mapped[int] = _fk("inboxes.id")
    message_type: Mapped[MessageType] = mapped_column(enum_column(MessageType, "message_type"))
    content: Mapped[str] = mapped_column(Text, default="")
    private: Mapped[bool] = mapped_column(Boolean, default=False)
    sender_type: Mapped[SenderType] = mapped_column(enum_column(SenderType, "sender_type"))
    sender_id: Mapped[int | None] = mapped_column(BigID, nullable=True)
    content_attributes: Mapped[dict[str, Any]] = mapped_column(JSONType, default=dict)
    source_id: Mapped[str | None] = mapped_column(String(255), nullable=True)
    edited_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    deleted_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class AttachmentStatus(StrEnum):
    PENDING = "pending"  # presigned upload handed out; not verified, on no message yet
    ATTACHED = "attached"  # verified (size and type) and joined to a message


class Attachment(Base):
    """A file on a message. Born `pending` by an upload request; `attached` once the stored object
    was checked. Rows without a message older than a day are orphans, removed with their object."""

    __tablename__ = "attachments"
    __table_args__ = (Index("ix_attachments_message_id", "message_id"),)

    id: Mapped[int] = mapped_column(BigID, primary_key=True)
    account_id: Mapped[int] = _fk("accounts.id")
    message_id: Mapped[int | None] = _fk("messages.id", ondelete="SET NULL", nullable=True)
    file_type: Mapped[FileType] = mapped_column(enum_column(FileType, "file_type"))
    file_name: Mapped[str] = mapped_column(String(255))
    content_type: Mapped[str] = mapped_column(String(255))
    byte_size: Mapped[int] = mapped_column(BigID)
    storage_key: Mapped[str] = mapped_column(String(512))
    width: Mapped[int | None] = mapped_column(Integer, nullable=True)
    height: Mapped[int | None] = mapped_column(Integer, nullable=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    status: Mapped[AttachmentStatus] = mapped_column(
        enum_column(AttachmentStatus, "attachment_status"), default=AttachmentStatus.PENDING, server_default="attached"
    )
    uploader_user_id: Mapped[int | None] = _fk("users.id", ondelete="SET NULL", nullable=True)
    uploader_contact_id: Mapped[int | None] = _fk("contacts.id", ondelete="SET NULL", nullable=True)


class CannedResponse(Base):
    __tablename__ = "canned_responses"
    __table_args__ = (UniqueConstraint("account_id", "short_code"),)

    id: Mapped[int] = mapped_column(BigID, primary_key=True)
    account_id: Mapped[int] = _fk("accounts.id")
    short_code: Mapped[str] = mapped_column(String(100))
    content: Mapped[str] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class CustomAttributeDefinition(Base):
    __tablename__ = "custom_attribute_definitions"
    __table_args__ = (UniqueConstraint("account_id", "attribute_model", "attribute_key"),)

    id: Mapped[int] = mapped_column(BigID, primary_key=True)
    account_id: Mapped[int] = _fk("accounts.id")
    attribute_model: Mapped[AttributeModel] = mapped_column(enum_column(AttributeModel, "attribute_model"))
    attribute_key: Mapped[str] = mapped_column(String(100))
    display_name: Mapped[str] = mapped_column(String(255))
    display_type: Mapped[AttributeDisplayType] = mapped_column(
        enum_column(AttributeDisplayType, "attribute_display_type")
    )
    description: Mapped[str] = mapped_column(Text, default="")
    list_values: Mapped[list[Any]] = mapped_column(JSONType, default=list)
    regex_pattern: Mapped[str | None] = mapped_column(String(255), nullable=True)
    regex_cue: Mapped[str | None] = mapped_column(String(255), nullable=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class Event(Base):
    """The event log and outbox. `position` is a per-account counter taken at the end of the writing
    transaction (from the account row, which serialises writers of one account only for that
    moment), so positions become visible in order: a reader resuming after position N never misses
    an event that commits later with a smaller number."""

    __tablename__ = "events"
    __table_args__ = (
        UniqueConstraint("account_id", "position"),
        Index("ix_events_unrelayed", "relayed_at", "id"),
        Index("ix_events_conversation", "conversation_id", "position"),
        Index("ix_events_recipient", "account_id", "recipient_user_id", "position"),
    )

    id: Mapped[int] = mapped_column(BigID, primary_key=True)
    account_id: Mapped[int] = _fk("accounts.id")
    # Unset only inside the writing transaction on PostgreSQL: its COMMIT numbers it (migration 0027).
    position: Mapped[int] = mapped_column(BigID, nullable=True)
    type: Mapped[str] = mapped_column(String(64))
    conversation_id: Mapped[int | None] = mapped_column(BigID, nullable=True)
    contact_id: Mapped[int | None] = mapped_column(BigID, nullable=True)
    inbox_id: Mapped[int | None] = mapped_column(BigID, nullable=True)
    message_id: Mapped[int | None] = mapped_column(BigID, nullable=True)
    private: Mapped[bool] = mapped_column(Boolean, default=False)
    actor_user_id: Mapped[int | None] = mapped_column(BigID, nullable=True)
    # Set for events meant for one user only (a notification, an export's result): they go to that
    # user's stream, never to the account's.
    recipient_user_id: Mapped[int | None] = mapped_column(BigID, nullable=True)
    payload: Mapped[dict[str, Any]] = mapped_column(JSONType, default=dict)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    relayed_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
