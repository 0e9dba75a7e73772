"""Accounts (tenants), users (global identities), memberships, custom roles and bots."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Any

from sqlalchemy import BigInteger, Boolean, Enum, ForeignKey, Index, Integer, String, Text, UniqueConstraint, func
from sqlalchemy.orm import Mapped, mapped_column

from db.base import Base, JSONType, UTCDateTime, utcnow
from domain.enums import AccountStatus, Availability, Role

BigID = BigInteger().with_variant(Integer(), "sqlite")


def enum_column(enum_cls: type[StrEnum], name: str) -> Enum:
    # VARCHAR + CHECK instead of a native PostgreSQL ENUM: ports to SQLite and downgrades cleanly.
    return Enum(
        enum_cls,
        name=name,
        native_enum=False,
        create_constraint=True,
        length=32,
        values_callable=lambda e: [m.value for m in e],
    )


class Account(Base):
    __tablename__ = "accounts"

    id: Mapped[int] = mapped_column(BigID, primary_key=True)
    name: Mapped[str] = mapped_column(String(255))
    locale: Mapped[str] = mapped_column(String(16), default="en")
    timezone: Mapped[str] = mapped_column(String(64), default="UTC")
    status: Mapped[AccountStatus] = mapped_column(
        enum_column(AccountStatus, "account_status"), default=AccountStatus.ACTIVE
    )
    settings: Mapped[dict[str, Any]] = mapped_column(JSONType, default=dict)
    # Per-account counters: conversation display ids and event-log positions.
    conversation_seq: Mapped[int] = mapped_column(BigID, default=0, server_default="0")
    event_seq: Mapped[int] = mapped_column(BigID, default=0, server_default="0")
    # Feature limits a super admin sets (None: no limit) and retention an administrator sets (None: keep).
    max_agents: Mapped[int | None] = mapped_column(Integer, nullable=True)
    max_inboxes: Mapped[int | None] = mapped_column(Integer, nullable=True)
    retention_message_days: Mapped[int | None] = mapped_column(Integer, nullable=True)
    retention_attachment_days: Mapped[int | None] = mapped_column(Integer, nullable=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)


class User(Base):
    __tablename__ = "users"

    id: Mapped[int] = mapped_column(BigID, primary_key=True)
    name: Mapped[str] = mapped_column(String(255))
    display_name: Mapped[str | None] = mapped_column(String(255), nullable=True)
    email: Mapped[str] = mapped_column(String(320))
    password_hash: Mapped[str | None] = mapped_column(String(100), nullable=True)
    availability: Mapped[Availability] = mapped_column(
        enum_column(Availability, "availability"), default=Availability.ONLINE
    )
    is_super_admin: Mapped[bool] = mapped_column(Boolean, default=False)
    # Verified unless the user signed up through the public accountCreate and has not yet opened the
    # emailed link; users made by the CLI, the demo or an accepted invitation own their address.
    email_verified: Mapped[bool] = mapped_column(Boolean, default=True, server_default="1")
    email_verification_hash: Mapped[str | None] = mapped_column(String(64), nullable=True)
    email_verification_expires_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    # Access tokens issued before this instant are refused (password change, logout everywhere).
    sessions_valid_after: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)


# Emails are unique whatever their case.
Index("uq_users_email_lower", func.lower(User.email), unique=True)
Index("uq_users_email_verification_hash", User.email_verification_hash, unique=True)


class CustomRole(Base):
    __tablename__ = "custom_roles"
    __table_args__ = (UniqueConstraint("account_id", "name"),)

    id: Mapped[int] = mapped_column(BigID, primary_key=True)
    account_id: Mapped[int] = mapped_column(ForeignKey("accounts.id", ondelete="CASCADE"), index=True)
    name: Mapped[str] = mapped_column(String(100))
    description: Mapped[str] = mapped_column(Text, default="")
    permissions: Mapped[list[Any]] = mapped_column(JSONType, default=list)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)


class AccountMembership(Base):
    __tablename__ = "account_memberships"
    __table_args__ = (UniqueConstraint("account_id", "user_id"),)

    id: Mapped[int] = mapped_column(BigID, primary_key=True)
    account_id: Mapped[int] = mapped_column(ForeignKey("accounts.id", ondelete="CASCADE"), index=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    role: Mapped[Role] = mapped_column(enum_column(Role, "membership_role"), default=Role.AGENT)
    custom_role_id: Mapped[int | None] = mapped_column(
        ForeignKey("custom_roles.id", ondelete="SET NULL"), nullable=True, index=True
    )
    inviter_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"), nullable=True)
    # Open conversations auto-assignment gives this member across the account's inboxes (None: no limit).
    max_open_conversations: Mapped[int | None] = mapped_column(Integer, nullable=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class Invitation(Base):
    """An invitation to join an account, pending until its recipient accepts it: nobody becomes a
    member (or shows up with their name or presence) before saying yes."""

    __tablename__ = "invitations"
    __table_args__ = (Index("ix_invitations_account_email", "account_id", "email"),)

    id: Mapped[int] = mapped_column(BigID, primary_key=True)
    account_id: Mapped[int] = mapped_column(ForeignKey("accounts.id", ondelete="CASCADE"))
    email: Mapped[str] = mapped_column(String(320), index=True)  # stored lower-case
    name: Mapped[str] = mapped_column(String(255))  # the inviter's spelling, used for a new user only
    role: Mapped[Role] = mapped_column(enum_column(Role, "invitation_role"), default=Role.AGENT)
    custom_role_id: Mapped[int | None] = mapped_column(
        ForeignKey("custom_roles.id", ondelete="SET NULL"), nullable=True
    )
    inviter_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"), nullable=True)
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime)
    accepted_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    declined_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)


class Bot(Base):
    """An agent bot: acts on the conversations of the inboxes connected to it (`inboxes.bot_id`)
    through its API tokens, and hears about them at its outgoing URL (a webhook row of its own,
    `webhooks.bot_id`, which keeps the encrypted signing secret)."""

    __tablename__ = "bots"

    id: Mapped[int] = mapped_column(BigID, primary_key=True)
    account_id: Mapped[int] = mapped_column(ForeignKey("accounts.id", ondelete="CASCADE"), index=True)
    name: Mapped[str] = mapped_column(String(255))
    description: Mapped[str] = mapped_column(Text, default="")
    outgoing_url: Mapped[str | None] = mapped_column(String(2048), nullable=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
