"""Queries of the installation: accounts across tenants with their usage, feature-limit counts and
installation-wide settings. Only super-admin services call the cross-account ones."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from db.models import (
    Account,
    AccountMembership,
    Attachment,
    AuditLog,
    Conversation,
    Inbox,
    InstallationSetting,
    Invitation,
    Message,
    User,
)
from domain.enums import AccountStatus


@dataclass(frozen=True)
class AccountUsage:
    account: Account
    members: int
    conversations: int
    messages: int
    storage_bytes: int


def _count(model: Any, column: Any = None) -> Any:
    return (
        select(func.count() if column is None else func.coalesce(func.sum(column), 0))
        .where(model.account_id == Account.id)
        .correlate(Account)
        .scalar_subquery()
    )


async def accounts_page(
    session: AsyncSession,
    *,
    after_id: int | None,
    limit: int,
    status: AccountStatus | None = None,
    search: str | None = None,
) -> list[AccountUsage]:
    """A page of accounts by id with their usage, in one statement (a correlated count per measure)."""
    stmt = select(
        Account,
        _count(AccountMembership).label("members"),
        _count(Conversation).label("conversations"),
        _count(Message).label("messages"),
        _count(Attachment, Attachment.byte_size).label("storage_bytes"),
    )
    if after_id is not None:
        stmt = stmt.where(Account.id > after_id)
    if status is not None:
        stmt = stmt.where(Account.status == status)
    if search:
        stmt = stmt.where(func.lower(Account.name).contains(search.lower(), autoescape=True))
    rows = await session.execute(stmt.order_by(Account.id).limit(limit))
    return [AccountUsage(a, int(m), int(c), int(n), int(b)) for a, m, c, n, b in rows]


async def account(session: AsyncSession, account_id: int, *, lock: bool = False) -> Account | None:
    stmt = select(Account).where(Account.id == account_id)
    if lock:
        stmt = stmt.with_for_update()
    return (await session.scalars(stmt)).first()


async def count_agents(session: AsyncSession, account_id: int) -> int:
    """Members (agents and administrators) and invitations still waiting for an answer."""
    members = select(func.count()).select_from(AccountMembership).where(AccountMembership.account_id == account_id)
    return int((await session.execute(members)).scalar_one())


async def count_pending_invitations(session: AsyncSession, account_id: int, now: Any) -> int:
    stmt = (
        select(func.count())
        .select_from(Invitation)
        .where(
            Invitation.account_id == account_id,
            Invitation.accepted_at.is_(None),
            Invitation.declined_at.is_(None),
            Invitation.expires_at > now,
        )
    )
    return int((await session.execute(stmt)).scalar_one())


async def count_inboxes(session: AsyncSession, account_id: int) -> int:
    stmt = select(func.count()).select_from(Inbox).where(Inbox.account_id == account_id)
    return int((await session.execute(stmt)).scalar_one())


async def settings(session: AsyncSession) -> dict[str, Any]:
    rows = await session.scalars(select(InstallationSetting))
    return {row.key: row.value for row in rows}


async def setting(session: AsyncSession, key: str) -> InstallationSetting | None:
    return await session.get(InstallationSetting, key)


async def user_by_email(session: AsyncSession, email: str) -> User | None:
    return (await session.scalars(select(User).where(func.lower(User.email) == email.strip().lower()))).first()


async def installation_audit_page(session: AsyncSession, *, before_id: int | None, limit: int) -> Sequence[AuditLog]:
    """Super-admin actions, newest first: `installation.*` rows of every account and of none."""
    stmt = select(AuditLog).where(AuditLog.action.startswith("installation."))
    if before_id is not None:
        stmt = stmt.where(AuditLog.id < before_id)
    return (await session.scalars(stmt.order_by(AuditLog.id.desc()).limit(limit))).all()
