"""Every email received, whatever became of it (the parse result and error an administrator reads),
and the IMAP mailboxes polled for it."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import BigInteger, Boolean, ForeignKey, Index, Integer, String, Text, text
from sqlalchemy.orm import Mapped, mapped_column

from db.base import Base, JSONType, UTCDateTime, utcnow
from db.models.accounts import BigID, enum_column
from domain.inbound_email.enums import InboundSource, InboundStatus


class InboundEmail(Base):
    __tablename__ = "inbound_emails"
    __table_args__ = (
        Index("ix_inbound_emails_account", "account_id", "id"),
        # One processed email per Message-ID and inbox: a mail delivered twice makes one message.
        Index(
            "uq_inbound_emails_processed",
            "inbox_id",
            "rfc_message_id",
            unique=True,
            postgresql_where=text("status = 'processed'"),
            sqlite_where=text("status = 'processed'"),
        ),
    )

    id: Mapped[int] = mapped_column(BigID, primary_key=True)
    # Null when no inbox took the mail (an unknown recipient): kept for the operator's logs only.
    account_id: Mapped[int | None] = mapped_column(ForeignKey("accounts.id", ondelete="CASCADE"), nullable=True)
    inbox_id: Mapped[int | None] = mapped_column(ForeignKey("inboxes.id", ondelete="CASCADE"), nullable=True)
    conversation_id: Mapped[int | None] = mapped_column(
        ForeignKey("conversations.id", ondelete="SET NULL"), nullable=True
    )
    message_id: Mapped[int | None] = mapped_column(ForeignKey("messages.id", ondelete="SET NULL"), nullable=True)
    source: Mapped[InboundSource] = mapped_column(enum_column(InboundSource, "inbound_source"))
    status: Mapped[InboundStatus] = mapped_column(enum_column(InboundStatus, "inbound_status"))
    rfc_message_id: Mapped[str] = mapped_column(String(998), default="")
    from_address: Mapped[str] = mapped_column(String(320), default="")
    subject: Mapped[str] = mapped_column(Text, default="")
    byte_size: Mapped[int] = mapped_column(BigInteger, default=0)
    error: Mapped[str] = mapped_column(Text, default="")
    # What the parser found: recipients, threading headers, parts and attachments, the auto-reply kind.
    parse_result: Mapped[dict[str, Any]] = mapped_column(JSONType, default=dict)
    received_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class InboxImap(Base):
    """An email inbox's IMAP mailbox, polled for customer mail: where, as whom (the password
    encrypted at rest, domain.crypto), and the checkpoint (UIDVALIDITY and the last UID committed),
    advanced in the same transaction as each email's message, so a restart reads nothing twice and
    skips nothing."""

    __tablename__ = "inbox_imap"

    inbox_id: Mapped[int] = mapped_column(ForeignKey("inboxes.id", ondelete="CASCADE"), primary_key=True)
    account_id: Mapped[int] = mapped_column(ForeignKey("accounts.id", ondelete="CASCADE"), index=True)
    host: Mapped[str] = mapped_column(String(255))
    port: Mapped[int] = mapped_column(Integer)
    ssl: Mapped[bool] = mapped_column(Boolean, default=True)
    username: Mapped[str] = mapped_column(String(320))
    password_encrypted: Mapped[str] = mapped_column(Text)
    password_key_id: Mapped[str] = mapped_column(String(32))
    mailbox: Mapped[str] = mapped_column(String(255), default="INBOX")
    enabled: Mapped[bool] = mapped_column(Boolean, default=True)
    uidvalidity: Mapped[int | None] = mapped_column(BigInteger, nullable=True)
    last_uid: Mapped[int] = mapped_column(BigInteger, default=0)
    polling_until: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)  # a poller's lease
    last_polled_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    last_error: Mapped[str] = mapped_column(Text, default="")
    # IMAP IDLE (domain/inbound_email/imap_idle.py): the lease of the one scheduler watching the
    # mailbox, and what the server said of pushing ("" not tried yet, "idle", "unsupported").
    idle_until: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    push: Mapped[str] = mapped_column(String(16), default="", server_default="")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class InboxSmtp(Base):
    """An email inbox's own outgoing SMTP server, used for its replies instead of the installation's:
    where, how (`tls_mode`: none, starttls or tls), as whom (the password encrypted at rest,
    domain.crypto; empty user and password: no login)."""

    __tablename__ = "inbox_smtp"

    inbox_id: Mapped[int] = mapped_column(ForeignKey("inboxes.id", ondelete="CASCADE"), primary_key=True)
    account_id: Mapped[int] = mapped_column(ForeignKey("accounts.id", ondelete="CASCADE"), index=True)
    host: Mapped[str] = mapped_column(String(255))
    port: Mapped[int] = mapped_column(Integer)
    tls_mode: Mapped[str] = mapped_column(String(16))
    username: Mapped[str] = mapped_column(String(320), default="")
    password_encrypted: Mapped[str] = mapped_column(Text, default="")
    password_key_id: Mapped[str] = mapped_column(String(32), default="")
    enabled: Mapped[bool] = mapped_column(Boolean, default=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)
