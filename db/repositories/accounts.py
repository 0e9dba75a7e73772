"""Queries of accounts, users, memberships, custom roles, bots, tokens and the audit log.

Functions that read account data take the account id of the acting member and filter by it, so an
id from another account is simply not found."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from sqlalchemy import delete, func, select, update
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.sql import ColumnElement

from db.models import (
    Account,
    AccountMembership,
    ApiToken,
    AuditLog,
    Bot,
    CustomRole,
    InboxMember,
    Invitation,
    OneTimeToken,
    RefreshToken,
    TeamMember,
    User,
    UserSession,
)
from domain.enums import AccountStatus, OneTimePurpose, Role


async def user_by_email(session: AsyncSession, email: str) -> User | None:
    return await session.scalar(select(User).where(func.lower(User.email) == email.strip().lower()))


async def user_by_id(session: AsyncSession, user_id: int) -> User | None:
    return await session.get(User, user_id)


async def session_with_user(session: AsyncSession, session_id: str) -> tuple[UserSession, User] | None:
    row = (
        await session.execute(
            select(UserSession, User).join(User, User.id == UserSession.user_id).where(UserSession.id == session_id)
        )
    ).first()
    return (row[0], row[1]) if row else None


async def membership_with_role(
    session: AsyncSession, account_id: int, user_id: int
) -> tuple[AccountMembership, Account, CustomRole | None] | None:
    row = (
        await session.execute(
            select(AccountMembership, Account, CustomRole)
            .join(Account, Account.id == AccountMembership.account_id)
            .outerjoin(CustomRole, CustomRole.id == AccountMembership.custom_role_id)
            .where(AccountMembership.account_id == account_id, AccountMembership.user_id == user_id)
        )
    ).first()
    return (row[0], row[1], row[2]) if row else None


async def memberships_of_user(session: AsyncSession, user_id: int) -> Sequence[tuple[AccountMembership, Account]]:
    rows = await session.execute(
        select(AccountMembership, Account)
        .join(Account, Account.id == AccountMembership.account_id)
        .where(AccountMembership.user_id == user_id)
        .order_by(AccountMembership.id)
    )
    return [(m, a) for m, a in rows]


async def account_by_id(session: AsyncSession, account_id: int) -> Account | None:
    return await session.get(Account, account_id)


async def membership_in_account(
    session: AsyncSession, account_id: int, membership_id: int, *, lock: bool = False
) -> AccountMembership | None:
    stmt = select(AccountMembership).where(
        AccountMembership.id == membership_id, AccountMembership.account_id == account_id
    )
    if lock:
        stmt = stmt.with_for_update()
    return await session.scalar(stmt)


async def memberships_page(
    session: AsyncSession, account_id: int, *, after_id: int | None, limit: int
) -> Sequence[AccountMembership]:
    stmt = select(AccountMembership).where(AccountMembership.account_id == account_id)
    if after_id is not None:
        stmt = stmt.where(AccountMembership.id > after_id)
    return (await session.scalars(stmt.order_by(AccountMembership.id).limit(limit))).all()


async def count_administrators(session: AsyncSession, account_id: int) -> int:
    return (
        await session.scalar(
            select(func.count()).where(
                AccountMembership.account_id == account_id, AccountMembership.role == Role.ADMINISTRATOR
            )
        )
        or 0
    )


async def users_by_ids(session: AsyncSession, ids: Sequence[int]) -> dict[int, User]:
    rows = await session.scalars(select(User).where(User.id.in_(ids)))
    return {u.id: u for u in rows}


async def accounts_by_ids(session: AsyncSession, ids: Sequence[int]) -> dict[int, Account]:
    rows = await session.scalars(select(Account).where(Account.id.in_(ids)))
    return {a.id: a for a in rows}


async def custom_roles_by_ids(session: AsyncSession, account_id: int, ids: Sequence[int]) -> dict[int, CustomRole]:
    rows = await session.scalars(select(CustomRole).where(CustomRole.id.in_(ids), CustomRole.account_id == account_id))
    return {r.id: r for r in rows}


async def custom_role_in_account(session: AsyncSession, account_id: int, role_id: int) -> CustomRole | None:
    return await session.scalar(select(CustomRole).where(CustomRole.id == role_id, CustomRole.account_id == account_id))


async def custom_role_by_name(session: AsyncSession, account_id: int, name: str) -> CustomRole | None:
    return await session.scalar(
        select(CustomRole).where(CustomRole.account_id == account_id, func.lower(CustomRole.name) == name.lower())
    )


async def custom_roles_of_account(session: AsyncSession, account_id: int) -> Sequence[CustomRole]:
    return (
        await session.scalars(select(CustomRole).where(CustomRole.account_id == account_id).order_by(CustomRole.id))
    ).all()


async def bot_in_account(session: AsyncSession, account_id: int, bot_id: int, *, lock: bool = False) -> Bot | None:
    stmt = select(Bot).where(Bot.id == bot_id, Bot.account_id == account_id)
    return await session.scalar(stmt.with_for_update() if lock else stmt)


async def count_bots(session: AsyncSession, account_id: int) -> int:
    return await session.scalar(select(func.count()).select_from(Bot).where(Bot.account_id == account_id)) or 0


async def bots_of_account(session: AsyncSession, account_id: int) -> Sequence[Bot]:
    return (await session.scalars(select(Bot).where(Bot.account_id == account_id).order_by(Bot.id))).all()


async def bots_by_ids(session: AsyncSession, account_id: int, ids: Sequence[int]) -> dict[int, Bot]:
    rows = await session.scalars(select(Bot).where(Bot.id.in_(ids), Bot.account_id == account_id))
    return {b.id: b for b in rows}


async def api_token_by_hash(session: AsyncSession, token_hash: str) -> ApiToken | None:
    return await session.scalar(select(ApiToken).where(ApiToken.token_hash == token_hash))


async def api_token_in_account(session: AsyncSession, account_id: int, token_id: int) -> ApiToken | None:
    return await session.scalar(select(ApiToken).where(ApiToken.id == token_id, ApiToken.account_id == account_id))


async def api_tokens_visible(
    session: AsyncSession, account_id: int, user_id: int, include_bots: bool
) -> Sequence[ApiToken]:
    cond = ApiToken.user_id == user_id
    if include_bots:
        cond = cond | ApiToken.bot_id.is_not(None)
    stmt = select(ApiToken).where(ApiToken.account_id == account_id, cond).order_by(ApiToken.id)
    return (await session.scalars(stmt)).all()


async def touch_api_token(session: AsyncSession, token_id: int, now: datetime) -> None:
    await session.execute(update(ApiToken).where(ApiToken.id == token_id).values(last_used_at=now))


async def refresh_token_by_hash(session: AsyncSession, token_hash: str, *, lock: bool = False) -> RefreshToken | None:
    stmt = select(RefreshToken).where(RefreshToken.token_hash == token_hash)
    if lock:
        stmt = stmt.with_for_update()
    return await session.scalar(stmt)


async def user_session(session: AsyncSession, session_id: str, *, lock: bool = False) -> UserSession | None:
    stmt = select(UserSession).where(UserSession.id == session_id)
    if lock:
        stmt = stmt.with_for_update()
    return await session.scalar(stmt)


async def revoke_sessions(
    session: AsyncSession, user_id: int, now: datetime, reason: str, *, except_id: str | None = None
) -> list[str]:
    stmt = select(UserSession.id).where(UserSession.user_id == user_id, UserSession.revoked_at.is_(None))
    if except_id:
        stmt = stmt.where(UserSession.id != except_id)
    ids = list((await session.scalars(stmt)).all())
    if ids:
        await session.execute(
            update(UserSession).where(UserSession.id.in_(ids)).values(revoked_at=now, revoked_reason=reason)
        )
    return ids


async def one_time_token_by_hash(session: AsyncSession, token_hash: str, *, lock: bool = False) -> OneTimeToken | None:
    stmt = select(OneTimeToken).where(OneTimeToken.token_hash == token_hash)
    if lock:
        stmt = stmt.with_for_update()
    return await session.scalar(stmt)


def _pending(now: datetime) -> tuple[ColumnElement[bool], ...]:
    return (Invitation.accepted_at.is_(None), Invitation.declined_at.is_(None), Invitation.expires_at > now)


async def pending_invitation(
    session: AsyncSession, account_id: int, email: str, now: datetime, *, lock: bool = False
) -> Invitation | None:
    stmt = select(Invitation).where(
        Invitation.account_id == account_id, Invitation.email == email.lower(), *_pending(now)
    )
    if lock:
        stmt = stmt.with_for_update()
    return await session.scalar(stmt.order_by(Invitation.id.desc()).limit(1))


async def invitation_by_token_hash(session: AsyncSession, token_hash: str, *, lock: bool = False) -> Invitation | None:
    stmt = select(Invitation).where(Invitation.token_hash == token_hash)
    if lock:
        stmt = stmt.with_for_update()
    return await session.scalar(stmt)


async def invitation_for_email(
    session: AsyncSession, invitation_id: int, email: str, *, lock: bool = False
) -> Invitation | None:
    """An invitation by id, only if it is addressed to this email (the signed-in user's)."""
    stmt = select(Invitation).where(Invitation.id == invitation_id, Invitation.email == email.strip().lower())
    if lock:
        stmt = stmt.with_for_update()
    return await session.scalar(stmt)


async def pending_invitations_for_email(
    session: AsyncSession, email: str, now: datetime
) -> list[tuple[Invitation, Account, User | None]]:
    from sqlalchemy.orm import aliased

    inviter = aliased(User)
    rows = await session.execute(
        select(Invitation, Account, inviter)
        .join(Account, Account.id == Invitation.account_id)
        .outerjoin(inviter, inviter.id == Invitation.inviter_id)
        .where(Invitation.email == email.strip().lower(), *_pending(now))
        .order_by(Invitation.id)
        .limit(100)
    )
    return [(i, a, u) for i, a, u in rows]


async def invitations_page(
    session: AsyncSession, account_id: int, now: datetime, *, after_id: int | None, limit: int
) -> Sequence[Invitation]:
    """The account's invitations still waiting (declined ones too, until they expire: the account is
    not told whether the person has a login at all)."""
    stmt = select(Invitation).where(
        Invitation.account_id == account_id, Invitation.accepted_at.is_(None), Invitation.expires_at > now
    )
    if after_id is not None:
        stmt = stmt.where(Invitation.id > after_id)
    return (await session.scalars(stmt.order_by(Invitation.id).limit(limit))).all()


async def spend_one_time_tokens(session: AsyncSession, user_id: int, purpose: OneTimePurpose, now: datetime) -> None:
    """Mark every unused token of this purpose used: none of the links out there works any more."""
    await session.execute(
        update(OneTimeToken)
        .where(OneTimeToken.user_id == user_id, OneTimeToken.purpose == purpose, OneTimeToken.used_at.is_(None))
        .values(used_at=now)
    )


async def user_by_verification_hash(session: AsyncSession, token_hash: str, *, lock: bool = False) -> User | None:
    stmt = select(User).where(User.email_verification_hash == token_hash)
    if lock:
        stmt = stmt.with_for_update()
    return await session.scalar(stmt)


async def audit_page(
    session: AsyncSession,
    account_id: int,
    *,
    before_id: int | None,
    limit: int,
    action: str | None,
    actor_user_id: int | None,
) -> Sequence[AuditLog]:
    stmt = select(AuditLog).where(AuditLog.account_id == account_id)
    if action:
        stmt = stmt.where(AuditLog.action == action)
    if actor_user_id is not None:
        stmt = stmt.where(AuditLog.actor_user_id == actor_user_id)
    if before_id is not None:
        stmt = stmt.where(AuditLog.id < before_id)
    return (await session.scalars(stmt.order_by(AuditLog.id.desc()).limit(limit))).all()


async def remove_from_inboxes_and_teams(session: AsyncSession, account_id: int, user_id: int) -> None:
    """The user leaves every inbox and team of the account (a removed member, as in Chatwoot)."""
    for model in (InboxMember, TeamMember):
        await session.execute(delete(model).where(model.account_id == account_id, model.user_id == user_id))


# --- open sockets, re-checked together -------------------------------------------------------------


async def sessions_with_users(session: AsyncSession, session_ids: Sequence[str]) -> dict[str, tuple[UserSession, User]]:
    """Many sessions with their users in one statement (the sockets' periodic re-check)."""
    if not session_ids:
        return {}
    rows = await session.execute(
        select(UserSession, User).join(User, User.id == UserSession.user_id).where(UserSession.id.in_(session_ids))
    )
    return {s.id: (s, u) for s, u in rows}


async def live_memberships(session: AsyncSession, pairs: Sequence[tuple[int, int]]) -> set[tuple[int, int]]:
    """Which (account, user) pairs are still members of an account that is not suspended."""
    if not pairs:
        return set()
    users = sorted({u for _, u in pairs})
    rows = await session.execute(
        select(AccountMembership.account_id, AccountMembership.user_id)
        .join(Account, Account.id == AccountMembership.account_id)
        .where(AccountMembership.user_id.in_(users), Account.status != AccountStatus.SUSPENDED)
    )
    wanted = set(pairs)
    return {(a, u) for a, u in rows if (a, u) in wanted}


async def live_api_tokens(session: AsyncSession, token_ids: Sequence[int]) -> set[int]:
    if not token_ids:
        return set()
    rows = await session.scalars(select(ApiToken.id).where(ApiToken.id.in_(token_ids), ApiToken.revoked_at.is_(None)))
    return set(rows)
