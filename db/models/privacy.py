"""Contact data exports (a person's data as a ZIP) and installation-wide settings."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import ForeignKey, Index, String
from sqlalchemy.orm import Mapped, mapped_column

from db.base import Base, JSONType, UTCDateTime, utcnow
from db.models.accounts import BigID, enum_column
from domain.privacy.enums import DataExportStatus


class ContactDataExport(Base):
    __tablename__ = "contact_data_exports"
    __table_args__ = (Index("ix_contact_data_exports_account_created", "account_id", "created_at"),)

    id: Mapped[int] = mapped_column(BigID, primary_key=True)
    account_id: Mapped[int] = mapped_column(ForeignKey("accounts.id", ondelete="CASCADE"))
    contact_id: Mapped[int | None] = mapped_column(ForeignKey("contacts.id", ondelete="SET NULL"), nullable=True)
    requester_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"), nullable=True)
    status: Mapped[DataExportStatus] = mapped_column(
        enum_column(DataExportStatus, "contact_data_export_status"), default=DataExportStatus.QUEUED
    )
    storage_key: Mapped[str | None] = mapped_column(String(512), nullable=True)
    byte_size: Mapped[int] = mapped_column(BigID, default=0)
    error: Mapped[str | None] = mapped_column(String(255), nullable=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    finished_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)


class InstallationSetting(Base):
    """One installation-wide setting a super admin changed; a key without a row keeps its default."""

    __tablename__ = "installation_settings"

    key: Mapped[str] = mapped_column(String(64), primary_key=True)
    value: Mapped[Any] = mapped_column(JSONType)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)
