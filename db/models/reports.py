"""Reports: raw reporting events (one per measured fact, written by the reporting consumer of the event
log), their daily roll-ups, CSAT responses and report exports."""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

from sqlalchemy import Date, Float, ForeignKey, Index, Integer, SmallInteger, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from db.base import Base, JSONType, UTCDateTime, utcnow
from db.models.accounts import BigID, enum_column
from domain.reports.enums import ExportStatus


class ReportingEvent(Base):
    """One measured fact: `value` and `value_in_business_hours` in seconds between `event_start_time`
    and `event_end_time`. Unique per source event and name, so the consumer may run twice."""

    __tablename__ = "reporting_events"
    __table_args__ = (
        UniqueConstraint("source_event_id", "name"),
        # Range scans of one metric of one account; INCLUDE makes the median an index-only scan on PostgreSQL.
        Index(
            "ix_reporting_events_account_name_end",
            "account_id",
            "name",
            "event_end_time",
            postgresql_include=["value", "value_in_business_hours", "user_id", "inbox_id", "team_id"],
        ),
        Index("ix_reporting_events_conversation", "conversation_id"),
    )

    id: Mapped[int] = mapped_column(BigID, primary_key=True)
    account_id: Mapped[int] = mapped_column(ForeignKey("accounts.id", ondelete="CASCADE"))
    source_event_id: Mapped[int] = mapped_column(BigID)
    name: Mapped[str] = mapped_column(String(40))
    value: Mapped[float] = mapped_column(Float, default=0.0)
    value_in_business_hours: Mapped[float] = mapped_column(Float, default=0.0)
    conversation_id: Mapped[int | None] = mapped_column(BigID, nullable=True)
    inbox_id: Mapped[int | None] = mapped_column(BigID, nullable=True)
    user_id: Mapped[int | None] = mapped_column(BigID, nullable=True)
    team_id: Mapped[int | None] = mapped_column(BigID, nullable=True)
    event_start_time: Mapped[datetime] = mapped_column(UTCDateTime)
    event_end_time: Mapped[datetime] = mapped_column(UTCDateTime)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class ReportingRollup(Base):
    """Per account, day (in the account's time zone), dimension and metric: how many events and the
    sums of their values, so averages over a year read a few hundred rows."""

    __tablename__ = "reporting_rollups"
    __table_args__ = (UniqueConstraint("account_id", "dimension_type", "dimension_id", "name", "day"),)

    id: Mapped[int] = mapped_column(BigID, primary_key=True)
    account_id: Mapped[int] = mapped_column(ForeignKey("accounts.id", ondelete="CASCADE"))
    day: Mapped[date] = mapped_column(Date)
    dimension_type: Mapped[str] = mapped_column(String(16))  # account, inbox, agent, team
    dimension_id: Mapped[int] = mapped_column(BigID)
    name: Mapped[str] = mapped_column(String(40))
    count: Mapped[int] = mapped_column(BigID, default=0)
    sum_value: Mapped[float] = mapped_column(Float, default=0.0)
    sum_value_business_hours: Mapped[float] = mapped_column(Float, default=0.0)


class CsatResponse(Base):
    __tablename__ = "csat_responses"
    __table_args__ = (
        Index("ix_csat_responses_account_created", "account_id", "created_at"),
        Index("ix_csat_responses_conversation", "conversation_id"),
    )

    id: Mapped[int] = mapped_column(BigID, primary_key=True)
    account_id: Mapped[int] = mapped_column(ForeignKey("accounts.id", ondelete="CASCADE"))
    conversation_id: Mapped[int] = mapped_column(ForeignKey("conversations.id", ondelete="CASCADE"))
    contact_id: Mapped[int | None] = mapped_column(ForeignKey("contacts.id", ondelete="SET NULL"), nullable=True)
    assignee_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"), nullable=True)
    rating: Mapped[int] = mapped_column(SmallInteger)
    feedback: Mapped[str] = mapped_column(Text, default="")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class ReportExport(Base):
    __tablename__ = "report_exports"
    __table_args__ = (Index("ix_report_exports_account_created", "account_id", "created_at"),)

    id: Mapped[int] = mapped_column(BigID, primary_key=True)
    account_id: Mapped[int] = mapped_column(ForeignKey("accounts.id", ondelete="CASCADE"))
    requester_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"), nullable=True)
    kind: Mapped[str] = mapped_column(String(32))
    format: Mapped[str] = mapped_column(String(8), default="csv")
    params: Mapped[dict[str, Any]] = mapped_column(JSONType, default=dict)
    status: Mapped[ExportStatus] = mapped_column(
        enum_column(ExportStatus, "report_export_status"), default=ExportStatus.PENDING
    )
    row_count: Mapped[int] = mapped_column(Integer, default=0)
    storage_key: Mapped[str | None] = mapped_column(String(512), nullable=True)
    error: Mapped[str | None] = mapped_column(String(255), nullable=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    finished_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
