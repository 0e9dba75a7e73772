"""GraphQL type of a received email's record."""

from __future__ import annotations

from datetime import datetime
from enum import Enum

import strawberry
from strawberry.scalars import JSON

from domain.inbound_email.enums import InboundSource, InboundStatus
from schema.core.ids import encode_id
from schema.helpdesk.errors import HelpdeskError

InboundEmailSourceEnum = strawberry.enum(
    InboundSource,
    name="InboundEmailSource",
    description="The door an email came through: HTTP (POST /mail/inbound), SMTP (`parley mail-in`) or IMAP.",
)
InboundEmailStatusEnum = strawberry.enum(
    InboundStatus,
    name="InboundEmailStatus",
    description="What became of an email: a message (PROCESSED), an auto-reply or bounce kept on its "
    "conversation without reopening it, a duplicate or a loop dropped, or refused (REJECTED, FAILED: see `error`).",
)


def _id(kind: str, pk: int | None) -> strawberry.ID | None:
    return strawberry.ID(encode_id(kind, pk)) if pk is not None else None


@strawberry.type(description="An email the account's inboxes received, with its parse result and error.")
class InboundEmail:
    pk: strawberry.Private[int]
    source: InboundSource = strawberry.field(description="The door it came through.")
    status: InboundStatus = strawberry.field(description="What became of it.")
    message_id_header: str = strawberry.field(description="Its Message-ID header (a stand-in when it had none).")
    from_address: str = strawberry.field(description="The sender's address (From).")
    subject: str = strawberry.field(description="Its subject.")
    byte_size: int = strawberry.field(description="Its size in bytes (raw MIME).")
    error: str = strawberry.field(description="Why it was refused or dropped; empty when it became a message.")
    parse_result: JSON = strawberry.field(
        description="What the parser found: from, to, cc, bcc, in_reply_to, references, has_text, has_html, "
        "attachments (file_name, content_type, bytes) and automatic (auto_reply, bounce or null)."
    )
    received_at: datetime = strawberry.field(description="When it was received.")
    inbox_id: strawberry.ID | None = strawberry.field(description="The inbox that took it.")
    conversation_id: strawberry.ID | None = strawberry.field(description="The conversation it joined or opened.")
    message_id: strawberry.ID | None = strawberry.field(description="The message it became.")

    @strawberry.field(description="Opaque global ID.")
    def id(self) -> strawberry.ID:
        return strawberry.ID(encode_id("InboundEmail", self.pk))

    @classmethod
    def from_row(cls, row) -> InboundEmail:
        return cls(
            pk=row.id,
            source=row.source,
            status=row.status,
            message_id_header=row.rfc_message_id,
            from_address=row.from_address,
            subject=row.subject,
            byte_size=row.byte_size,
            error=row.error,
            parse_result=row.parse_result,
            received_at=row.received_at,
            inbox_id=_id("Inbox", row.inbox_id),
            conversation_id=_id("Conversation", row.conversation_id),
            message_id=_id("Message", row.message_id),
        )


@strawberry.enum(description="Whether an IMAP server pushes new mail (IDLE) to Parley.")
class ImapPush(Enum):
    UNKNOWN = ""
    IDLE = "idle"
    UNSUPPORTED = "unsupported"


@strawberry.type(description="An email inbox's IMAP mailbox, polled for customer mail (the password is never shown).")
class InboxImap:
    inbox_id: strawberry.ID = strawberry.field(description="The inbox.")
    host: str = strawberry.field(description="IMAP server.")
    port: int = strawberry.field(description="Its port.")
    ssl: bool = strawberry.field(description="IMAP over TLS (port 993 style).")
    username: str = strawberry.field(description="The mailbox's user.")
    mailbox: str = strawberry.field(description="The folder read (INBOX by default).")
    enabled: bool = strawberry.field(description="Whether it is polled.")
    last_uid: int = strawberry.field(description="The checkpoint: the last UID received.")
    last_polled_at: datetime | None = strawberry.field(description="When it was last polled.")
    last_error: str = strawberry.field(description="The last poll's error; empty when it went well.")
    push: ImapPush = strawberry.field(
        description="IDLE: new mail is read as soon as the server announces it (polling goes on as the "
        "safety net); UNSUPPORTED: the server has no IDLE, the mailbox is polled; UNKNOWN: not tried yet."
    )

    @classmethod
    def from_row(cls, row) -> InboxImap:
        return cls(
            inbox_id=strawberry.ID(encode_id("Inbox", row.inbox_id)),
            host=row.host,
            port=row.port,
            ssl=row.ssl,
            username=row.username,
            mailbox=row.mailbox,
            enabled=row.enabled,
            last_uid=row.last_uid,
            last_polled_at=row.last_polled_at,
            last_error=row.last_error,
            push=ImapPush(row.push or ""),
        )


@strawberry.input(description="Where an email inbox reads its customer mail over IMAP.")
class InboxImapInput:
    host: str = strawberry.field(description="IMAP server's host name.")
    port: int = strawberry.field(default=993, description="Its port.")
    ssl: bool = strawberry.field(default=True, description="IMAP over TLS.")
    username: str = strawberry.field(description="The mailbox's user.")
    password: str | None = strawberry.field(
        default=None, description="Its password (stored encrypted); omit to keep the stored one."
    )
    mailbox: str = strawberry.field(default="INBOX", description="The folder to read.")
    enabled: bool = strawberry.field(default=True, description="Poll it.")


@strawberry.type(description="Result of inboxImapSet.")
class InboxImapPayload:
    imap: InboxImap | None = strawberry.field(description="The mailbox settings.")
    errors: list[HelpdeskError] = strawberry.field(description="User errors; empty on success.")


@strawberry.enum(description="How Parley talks TLS to an inbox's SMTP server.")
class SmtpTlsMode(Enum):
    NONE = "none"
    STARTTLS = "starttls"
    TLS = "tls"


@strawberry.type(
    description="An email inbox's own outgoing SMTP server, used for its replies instead of the installation's "
    "(the password is never shown)."
)
class InboxSmtp:
    inbox_id: strawberry.ID = strawberry.field(description="The inbox.")
    host: str = strawberry.field(description="SMTP server.")
    port: int = strawberry.field(description="Its port.")
    tls_mode: SmtpTlsMode = strawberry.field(
        description="NONE (plain), STARTTLS (required upgrade, port 587) or TLS (port 465)."
    )
    username: str = strawberry.field(description="The login's user; empty: no login.")
    has_password: bool = strawberry.field(description="Whether a password is stored (encrypted).")
    enabled: bool = strawberry.field(description="Whether the inbox's replies go through it.")
    updated_at: datetime = strawberry.field(description="When it was last set.")

    @classmethod
    def from_row(cls, row) -> InboxSmtp:
        return cls(
            inbox_id=strawberry.ID(encode_id("Inbox", row.inbox_id)),
            host=row.host,
            port=row.port,
            tls_mode=SmtpTlsMode(row.tls_mode),
            username=row.username,
            has_password=bool(row.password_encrypted),
            enabled=row.enabled,
            updated_at=row.updated_at,
        )


@strawberry.input(description="The SMTP server an email inbox sends its replies through.")
class InboxSmtpInput:
    host: str = strawberry.field(description="SMTP server's host name.")
    port: int = strawberry.field(default=587, description="Its port.")
    tls_mode: SmtpTlsMode = strawberry.field(default=SmtpTlsMode.STARTTLS, description="How to use TLS.")
    username: str = strawberry.field(default="", description="The login's user; empty: no login.")
    password: str | None = strawberry.field(
        default=None, description="Its password (stored encrypted); omit to keep the stored one."
    )
    enabled: bool = strawberry.field(default=True, description="Send the inbox's replies through it.")


@strawberry.type(description="Result of inboxSmtpSet.")
class InboxSmtpPayload:
    smtp: InboxSmtp | None = strawberry.field(description="The server settings.")
    errors: list[HelpdeskError] = strawberry.field(description="User errors; empty on success.")
