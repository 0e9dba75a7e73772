"""The audit log of administrator actions, and the job outbox."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import Boolean, ForeignKey, Index, Integer, String, UniqueConstraint, false, text
from sqlalchemy.orm import Mapped, mapped_column

from db.base import Base, JSONType, UTCDateTime, utcnow
from db.models.accounts import BigID


class AuditLog(Base):
    __tablename__ = "audit_logs"
    __table_args__ = (Index("ix_audit_logs_account_id_id", "account_id", "id"),)

    id: Mapped[int] = mapped_column(BigID, primary_key=True)
    # None for installation-wide actions of a super admin (settings that concern no one account).
    account_id: Mapped[int | None] = mapped_column(ForeignKey("accounts.id", ondelete="CASCADE"), nullable=True)
    actor_user_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"), nullable=True)
    actor_label: Mapped[str] = mapped_column(String(320))
    action: Mapped[str] = mapped_column(String(64), index=True)
    target_type: Mapped[str] = mapped_column(String(64))
    target_id: Mapped[str | None] = mapped_column(String(64), nullable=True)
    changes: Mapped[dict[str, Any]] = mapped_column(JSONType, default=dict)
    ip: Mapped[str | None] = mapped_column(String(64), nullable=True)
    request_id: Mapped[str | None] = mapped_column(String(128), nullable=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class OutboxJob(Base):
    """A job written in the same transaction as the change that causes it; relayed to the broker after
    commit. The row, not the broker, says whether the work is still to do: it is open until the
    job's actor finishes (or the job dead-letters); the sweeper sends an open job again whenever its
    lease runs out (never relayed, lost with the broker's data, or its worker died)."""

    __tablename__ = "outbox_jobs"
    __table_args__ = (
        Index(
            "ix_outbox_jobs_open",
            "lease_until",
            postgresql_where=text("completed_at IS NULL"),
            sqlite_where=text("completed_at IS NULL"),
        ),
        Index("ix_outbox_jobs_completed", "completed_at"),
    )

    id: Mapped[int] = mapped_column(BigID, primary_key=True)
    actor_name: Mapped[str] = mapped_column(String(100))
    kwargs: Mapped[dict[str, Any]] = mapped_column(JSONType, default=dict)
    request_id: Mapped[str | None] = mapped_column(String(128), nullable=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    relayed_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)  # first sent to the broker
    # Until when the job may be queued or running without news; renewed by the worker running it.
    lease_until: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    sends: Mapped[int] = mapped_column(Integer, default=0, server_default="0")  # times sent to the broker
    completed_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    dead: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false())


class IdempotencyKey(Base):
    """A write mutation's `Idempotency-Key`: written in the same transaction as the write, with what
    the result refers to, so a retry by the same caller gets the first result and writes nothing."""

    __tablename__ = "idempotency_keys"
    __table_args__ = (UniqueConstraint("scope", "key"), Index("ix_idempotency_keys_expires_at", "expires_at"))

    id: Mapped[int] = mapped_column(BigID, primary_key=True)
    account_id: Mapped[int | None] = mapped_column(ForeignKey("accounts.id", ondelete="CASCADE"), nullable=True)
    scope: Mapped[str] = mapped_column(String(128))  # who sent it: account and user, token or contact session
    key: Mapped[str] = mapped_column(String(255))
    operation: Mapped[str] = mapped_column(String(100))
    fingerprint: Mapped[str] = mapped_column(String(64))  # sha256 of the operation and its arguments
    result: Mapped[dict[str, Any]] = mapped_column(JSONType, default=dict)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime)
