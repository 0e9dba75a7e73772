"""Contact CSV imports: one row per uploaded file, its progress counts and the rows it refused."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import Boolean, ForeignKey, Index, Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from db.base import Base, JSONType, UTCDateTime, utcnow
from db.models.accounts import BigID, enum_column
from domain.enums import ContactImportStatus


class ContactImport(Base):
    """`processed` counts data rows read so far; every row read is exactly one of created, updated,
    unchanged or failed. `errors` holds the first refused rows as {row, field, code, message}."""

    __tablename__ = "contact_imports"
    __table_args__ = (Index("ix_contact_imports_account_created", "account_id", "created_at"),)

    id: Mapped[int] = mapped_column(BigID, primary_key=True)
    account_id: Mapped[int] = mapped_column(ForeignKey("accounts.id", ondelete="CASCADE"))
    user_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"), nullable=True)
    status: Mapped[ContactImportStatus] = mapped_column(
        enum_column(ContactImportStatus, "contact_import_status"), default=ContactImportStatus.QUEUED
    )
    dry_run: Mapped[bool] = mapped_column(Boolean, default=False)
    file_key: Mapped[str | None] = mapped_column(String(512), nullable=True)
    total: Mapped[int] = mapped_column(Integer, default=0)
    processed: Mapped[int] = mapped_column(Integer, default=0)
    created: Mapped[int] = mapped_column(Integer, default=0)
    updated: Mapped[int] = mapped_column(Integer, default=0)
    unchanged: Mapped[int] = mapped_column(Integer, default=0)
    failed: Mapped[int] = mapped_column(Integer, default=0)
    errors: Mapped[list[Any]] = mapped_column(JSONType, default=list)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    started_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    finished_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
