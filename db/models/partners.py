"""Partner apps (third-party integrations of one account), their API tokens and their versioned
manifests of trusted operations. Only hashes of token secrets are stored."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import ForeignKey, Index, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from db.base import Base, UTCDateTime, utcnow
from db.models.accounts import BigID, enum_column
from domain.partners.enums import ManifestFormat, OperationKind


class PartnerApp(Base):
    __tablename__ = "partner_apps"

    id: Mapped[int] = mapped_column(BigID, primary_key=True)
    account_id: Mapped[int] = mapped_column(ForeignKey("accounts.id", ondelete="CASCADE"), index=True)
    name: Mapped[str] = mapped_column(String(255))
    description: Mapped[str] = mapped_column(Text, default="")
    # The manifest version its tokens may run; null until the first upload.
    current_version: Mapped[int | None] = mapped_column(Integer, nullable=True)
    created_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"), nullable=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    disabled_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)


class PartnerToken(Base):
    __tablename__ = "partner_tokens"

    id: Mapped[int] = mapped_column(BigID, primary_key=True)
    account_id: Mapped[int] = mapped_column(ForeignKey("accounts.id", ondelete="CASCADE"), index=True)
    partner_app_id: Mapped[int] = mapped_column(ForeignKey("partner_apps.id", ondelete="CASCADE"), index=True)
    name: Mapped[str] = mapped_column(String(100))
    token_prefix: Mapped[str] = mapped_column(String(16))
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    created_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"), nullable=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    last_used_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    revoked_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)


class PartnerManifest(Base):
    """One uploaded version of an app's operations; never changed once stored."""

    __tablename__ = "partner_manifests"
    __table_args__ = (UniqueConstraint("partner_app_id", "version"),)

    id: Mapped[int] = mapped_column(BigID, primary_key=True)
    account_id: Mapped[int] = mapped_column(ForeignKey("accounts.id", ondelete="CASCADE"), index=True)
    partner_app_id: Mapped[int] = mapped_column(ForeignKey("partner_apps.id", ondelete="CASCADE"))
    version: Mapped[int] = mapped_column(Integer)
    format: Mapped[ManifestFormat] = mapped_column(enum_column(ManifestFormat, "partner_manifest_format"))
    operation_count: Mapped[int] = mapped_column(Integer, default=0)
    created_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"), nullable=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class PartnerOperation(Base):
    __tablename__ = "partner_operations"
    __table_args__ = (
        UniqueConstraint("manifest_id", "document_id"),
        Index("ix_partner_operations_manifest_id_sha256", "manifest_id", "sha256"),
    )

    id: Mapped[int] = mapped_column(BigID, primary_key=True)
    manifest_id: Mapped[int] = mapped_column(ForeignKey("partner_manifests.id", ondelete="CASCADE"))
    document_id: Mapped[str] = mapped_column(String(200))
    sha256: Mapped[str] = mapped_column(String(64))
    name: Mapped[str | None] = mapped_column(String(200), nullable=True)
    kind: Mapped[OperationKind] = mapped_column(enum_column(OperationKind, "partner_operation_kind"))
    body: Mapped[str] = mapped_column(Text)
