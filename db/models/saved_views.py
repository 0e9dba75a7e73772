"""Saved views (Chatwoot's custom filters): a named filter of the conversation or contact list, the
owner's own or (no owner) the whole account's."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import ForeignKey, Index, String, func
from sqlalchemy.orm import Mapped, mapped_column

from db.base import Base, JSONType, UTCDateTime, utcnow
from db.models.accounts import BigID


class SavedView(Base):
    __tablename__ = "saved_views"
    id: Mapped[int] = mapped_column(BigID, primary_key=True)
    account_id: Mapped[int] = mapped_column(ForeignKey("accounts.id", ondelete="CASCADE"))
    owner_user_id: Mapped[int | None] = mapped_column(
        ForeignKey("users.id", ondelete="CASCADE"), nullable=True, index=True
    )
    kind: Mapped[str] = mapped_column(String(16))  # conversation | contact
    name: Mapped[str] = mapped_column(String(100))
    # {"conditions": [{"attribute_key", "filter_operator", "values", "query_operator"}], "tab": str | None}
    payload: Mapped[dict[str, Any]] = mapped_column(JSONType, default=dict)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)


# Names are unique per owner (account-wide views count as owner 0), in any case.
Index(
    "uq_saved_views_owner_name",
    SavedView.account_id,
    SavedView.kind,
    func.coalesce(SavedView.owner_user_id, 0),
    func.lower(SavedView.name),
    unique=True,
)
