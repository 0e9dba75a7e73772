"""SLA policies and the SLA applied to a conversation, with its running deadlines."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Boolean, ForeignKey, Index, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from db.base import Base, UTCDateTime, utcnow
from db.models.accounts import BigID, enum_column
from domain.sla.enums import SlaStatus


class SlaPolicy(Base):
    __tablename__ = "sla_policies"
    __table_args__ = (UniqueConstraint("account_id", "name"),)

    id: Mapped[int] = mapped_column(BigID, primary_key=True)
    account_id: Mapped[int] = mapped_column(ForeignKey("accounts.id", ondelete="CASCADE"))
    name: Mapped[str] = mapped_column(String(100))
    description: Mapped[str] = mapped_column(Text, default="")
    # Targets in seconds (None: not timed).
    first_response_seconds: Mapped[int | None] = mapped_column(Integer, nullable=True)
    next_response_seconds: Mapped[int | None] = mapped_column(Integer, nullable=True)
    resolution_seconds: Mapped[int | None] = mapped_column(Integer, nullable=True)
    # Count only the inbox's working hours (when the inbox has them enabled).
    business_hours_only: Mapped[bool] = mapped_column(Boolean, default=False)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)


class AppliedSla(Base):
    """One per conversation. Each target has its deadline and warning instant while it runs (both
    None once it was met, missed or stopped), and a sticky missed flag. `check_at` is the earliest
    instant the scheduler has something to do for it."""

    __tablename__ = "applied_slas"
    __table_args__ = (
        UniqueConstraint("conversation_id"),
        Index("ix_applied_slas_check_at", "check_at"),
        Index("ix_applied_slas_policy", "account_id", "sla_policy_id", "created_at"),
    )

    id: Mapped[int] = mapped_column(BigID, primary_key=True)
    account_id: Mapped[int] = mapped_column(ForeignKey("accounts.id", ondelete="CASCADE"))
    sla_policy_id: Mapped[int] = mapped_column(ForeignKey("sla_policies.id", ondelete="CASCADE"))
    conversation_id: Mapped[int] = mapped_column(ForeignKey("conversations.id", ondelete="CASCADE"))
    status: Mapped[SlaStatus] = mapped_column(enum_column(SlaStatus, "sla_status"), default=SlaStatus.ACTIVE)
    first_response_due_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    first_response_warn_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    first_response_missed: Mapped[bool] = mapped_column(Boolean, default=False)
    next_response_due_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    next_response_warn_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    next_response_missed: Mapped[bool] = mapped_column(Boolean, default=False)
    resolution_due_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    resolution_warn_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    resolution_missed: Mapped[bool] = mapped_column(Boolean, default=False)
    check_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)
