"""Scheduled messages: written by an agent, sent by the scheduler at `send_at`, exactly once."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Boolean, ForeignKey, Index, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from db.base import Base, UTCDateTime, utcnow
from db.models.accounts import BigID, enum_column
from domain.scheduling.enums import ScheduledMessageStatus


class ScheduledMessage(Base):
    __tablename__ = "scheduled_messages"
    __table_args__ = (
        # The scheduler's walk: pending rows whose time has come, oldest first.
        Index("ix_scheduled_messages_due", "status", "send_at"),
        Index("ix_scheduled_messages_conversation", "conversation_id", "send_at", "id"),
    )

    id: Mapped[int] = mapped_column(BigID, primary_key=True)
    account_id: Mapped[int] = mapped_column(ForeignKey("accounts.id", ondelete="CASCADE"), index=True)
    conversation_id: Mapped[int] = mapped_column(ForeignKey("conversations.id", ondelete="CASCADE"))
    # Kept when the author leaves: the message still goes out under their name.
    author_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"), nullable=True)
    content: Mapped[str] = mapped_column(Text)
    private: Mapped[bool] = mapped_column(Boolean, default=False)
    send_at: Mapped[datetime] = mapped_column(UTCDateTime)
    status: Mapped[ScheduledMessageStatus] = mapped_column(
        enum_column(ScheduledMessageStatus, "scheduled_message_status"), default=ScheduledMessageStatus.PENDING
    )
    message_id: Mapped[int | None] = mapped_column(ForeignKey("messages.id", ondelete="SET NULL"), nullable=True)
    sent_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    cancelled_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    cancel_reason: Mapped[str | None] = mapped_column(String(64), nullable=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)
