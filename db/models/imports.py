"""What an import from another helpdesk (Chatwoot) has done: per source table a checkpoint (the last
source id read, so a killed run resumes there), a map from every source row to the Parley row made
of it (so a second run makes nothing twice, and a rollback knows what to drop) and the rows left
out with the reason."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import BigInteger, Boolean, ForeignKey, Index, Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from db.base import Base, UTCDateTime, utcnow
from db.models.accounts import BigID


class ImportCheckpoint(Base):
    __tablename__ = "import_checkpoints"

    # `source` names the installation (host/port/database), `scope` the accounts moved ("all" or an id).
    source: Mapped[str] = mapped_column(String(255), primary_key=True)
    scope: Mapped[str] = mapped_column(String(32), primary_key=True)
    source_table: Mapped[str] = mapped_column(String(64), primary_key=True)
    last_source_id: Mapped[int] = mapped_column(BigInteger, default=0)
    rows_read: Mapped[int] = mapped_column(BigID, default=0)
    rows_imported: Mapped[int] = mapped_column(BigID, default=0)
    rows_skipped: Mapped[int] = mapped_column(BigID, default=0)
    finished_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    # The live bridge's watermark (`parley sync chatwoot`): rows updated after this instant, and after
    # `last_source_id` at this very instant, are still to be read.
    updated_after: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class ImportIdMap(Base):
    __tablename__ = "import_id_map"
    __table_args__ = (
        Index("ix_import_id_map_account", "account_id", "source_table"),
        # The reconciliation reads the map backwards (which source row became this Parley row).
        Index("ix_import_id_map_target", "source", "source_table", "target_id"),
    )

    source: Mapped[str] = mapped_column(String(255), primary_key=True)
    source_table: Mapped[str] = mapped_column(String(64), primary_key=True)
    source_id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    target_id: Mapped[int] = mapped_column(BigInteger)
    # The Parley account the row belongs to (null for users, who are global); dropped with it.
    account_id: Mapped[int | None] = mapped_column(
        ForeignKey("accounts.id", ondelete="CASCADE"), nullable=True, index=False
    )
    # False when the source row was matched to a row Parley already had (a user with the same email).
    created: Mapped[bool] = mapped_column(Boolean, default=True)


class ImportSkip(Base):
    __tablename__ = "import_skips"

    source: Mapped[str] = mapped_column(String(255), primary_key=True)
    source_table: Mapped[str] = mapped_column(String(64), primary_key=True)
    source_id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    account_id: Mapped[int | None] = mapped_column(Integer, nullable=True)  # the source account id
    reason: Mapped[str] = mapped_column(String(255))
