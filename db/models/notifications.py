"""In-app notifications of agents (Chatwoot's types) and each user's notification settings per account."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import Boolean, Enum, ForeignKey, Index, String, UniqueConstraint, text
from sqlalchemy.orm import Mapped, mapped_column

from db.base import Base, JSONType, UTCDateTime, utcnow
from db.models.accounts import BigID
from domain.notification_types import NotificationType


class Notification(Base):
    """One thing a user is told about. `event_id` is the event-log row that caused it: with the type it
    makes the fan-out idempotent. `email_due_at` is set when the user wants it by email too; the email
    digest of its (user, conversation) goes out when the oldest due one is due, and marks them
    `email_done_at` (sent, or skipped because read by then)."""

    __tablename__ = "notifications"
    __table_args__ = (
        UniqueConstraint("user_id", "event_id", "notification_type"),
        Index("ix_notifications_user_account_id", "user_id", "account_id", "id"),
        Index("ix_notifications_conversation_id", "conversation_id"),
        Index(
            "ix_notifications_email_pending",
            "email_due_at",
            postgresql_where=text("email_done_at IS NULL AND email_due_at IS NOT NULL"),
            sqlite_where=text("email_done_at IS NULL AND email_due_at IS NOT NULL"),
        ),
    )

    id: Mapped[int] = mapped_column(BigID, primary_key=True)
    account_id: Mapped[int] = mapped_column(ForeignKey("accounts.id", ondelete="CASCADE"))
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    # VARCHAR + CHECK like db.models.accounts.enum_column, wider for Chatwoot's longest type name.
    notification_type: Mapped[NotificationType] = mapped_column(
        Enum(
            NotificationType,
            name="notification_type",
            native_enum=False,
            create_constraint=True,
            length=48,
            values_callable=lambda e: [m.value for m in e],
        )
    )
    conversation_id: Mapped[int] = mapped_column(ForeignKey("conversations.id", ondelete="CASCADE"))
    message_id: Mapped[int | None] = mapped_column(ForeignKey("messages.id", ondelete="SET NULL"), nullable=True)
    actor_user_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"), nullable=True)
    event_id: Mapped[int] = mapped_column(BigID)
    title: Mapped[str] = mapped_column(String(500))
    in_app: Mapped[bool] = mapped_column(Boolean, default=True)
    read_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    email_due_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    email_done_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class NotificationSetting(Base):
    """Which notification types a user wants in the app and by email, per account. No row: the
    defaults (domain.notifications.DEFAULTS)."""

    __tablename__ = "notification_settings"
    __table_args__ = (UniqueConstraint("account_id", "user_id"),)

    id: Mapped[int] = mapped_column(BigID, primary_key=True)
    account_id: Mapped[int] = mapped_column(ForeignKey("accounts.id", ondelete="CASCADE"))
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    in_app_types: Mapped[list[Any]] = mapped_column(JSONType, default=list)
    email_types: Mapped[list[Any]] = mapped_column(JSONType, default=list)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)
