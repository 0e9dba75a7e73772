"""Automation rules (Chatwoot's automation_rules), their runs, and macros (saved action lists)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import Boolean, ForeignKey, Index, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from db.base import Base, JSONType, UTCDateTime, utcnow
from db.models.accounts import BigID


class AutomationRule(Base):
    __tablename__ = "automation_rules"
    id: Mapped[int] = mapped_column(BigID, primary_key=True)
    account_id: Mapped[int] = mapped_column(ForeignKey("accounts.id", ondelete="CASCADE"), index=True)
    name: Mapped[str] = mapped_column(String(100))
    description: Mapped[str] = mapped_column(String(500), default="")
    event_name: Mapped[str] = mapped_column(String(32))  # domain.automation.enums.Trigger
    # [{"attribute_key", "filter_operator", "values", "query_operator"}]
    conditions: Mapped[list[dict[str, Any]]] = mapped_column(JSONType, default=list)
    # [{"action_name", "params": {...}}]
    actions: Mapped[list[dict[str, Any]]] = mapped_column(JSONType, default=list)
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)


class AutomationRun(Base):
    """One rule met with one event: matched or not, what it did or why it failed. One row per rule
    and event, so a retried job does not run a rule twice."""

    __tablename__ = "automation_runs"
    __table_args__ = (UniqueConstraint("rule_id", "event_id", name="uq_automation_runs_rule_event"),)
    id: Mapped[int] = mapped_column(BigID, primary_key=True)
    account_id: Mapped[int] = mapped_column(ForeignKey("accounts.id", ondelete="CASCADE"))
    rule_id: Mapped[int] = mapped_column(ForeignKey("automation_rules.id", ondelete="CASCADE"))
    event_id: Mapped[int] = mapped_column(BigID)
    conversation_id: Mapped[int | None] = mapped_column(BigID, nullable=True)
    outcome: Mapped[str] = mapped_column(String(16))  # domain.automation.enums.RunOutcome
    actions_done: Mapped[list[str]] = mapped_column(JSONType, default=list)
    error: Mapped[str | None] = mapped_column(Text, nullable=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


Index("ix_automation_runs_rule", AutomationRun.rule_id, AutomationRun.id)
Index("ix_automation_runs_conversation", AutomationRun.conversation_id, AutomationRun.created_at)


class Macro(Base):
    """A named list of actions an agent runs on conversations: the owner's, or (no owner) the account's."""

    __tablename__ = "macros"
    id: Mapped[int] = mapped_column(BigID, primary_key=True)
    account_id: Mapped[int] = mapped_column(ForeignKey("accounts.id", ondelete="CASCADE"), index=True)
    owner_user_id: Mapped[int | None] = mapped_column(
        ForeignKey("users.id", ondelete="CASCADE"), nullable=True, index=True
    )
    name: Mapped[str] = mapped_column(String(100))
    actions: Mapped[list[dict[str, Any]]] = mapped_column(JSONType, default=list)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)
