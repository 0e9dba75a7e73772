"""Auto-assignment's queries, each scoped to one account."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from sqlalchemy import func, select, text
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.sql import ColumnElement

from db.models import AccountMembership, Conversation, Inbox, InboxMember, Team, TeamMember, User
from db.session import dialect_name
from domain.enums import Availability, ConversationStatus

LOCK_NAMESPACE = 0x41535347  # advisory lock namespace of auto-assignment, one key per account


async def lock_account(session: AsyncSession, account_id: int) -> None:
    """Serialise auto-assignment per account across every process until the transaction ends
    (SQLite serialises writers anyway)."""
    if dialect_name(session) == "postgresql":
        await session.execute(text("SELECT pg_advisory_xact_lock(:ns, :id)"), {"ns": LOCK_NAMESPACE, "id": account_id})


async def waiting(session: AsyncSession, account_id: int, limit: int) -> Sequence[Conversation]:
    """Open, unassigned conversations of the account's auto-assigning inboxes, oldest first."""
    stmt = (
        select(Conversation)
        .join(Inbox, Inbox.id == Conversation.inbox_id)
        .where(
            Conversation.account_id == account_id,
            Conversation.status == ConversationStatus.OPEN,
            Conversation.assignee_id.is_(None),
            Inbox.enable_auto_assignment.is_(True),
        )
        .order_by(Conversation.created_at, Conversation.id)
        .limit(limit)
    )
    if dialect_name(session) == "postgresql":
        stmt = stmt.with_for_update(of=Conversation, skip_locked=True)
    return (await session.scalars(stmt)).all()


async def accounts_waiting(session: AsyncSession, limit: int = 500) -> list[int]:
    stmt = (
        select(Conversation.account_id)
        .join(Inbox, Inbox.id == Conversation.inbox_id)
        .where(
            Conversation.status == ConversationStatus.OPEN,
            Conversation.assignee_id.is_(None),
            Inbox.enable_auto_assignment.is_(True),
        )
        .distinct()
        .limit(limit)
    )
    return list((await session.scalars(stmt)).all())


async def inboxes(session: AsyncSession, account_id: int, ids: set[int]) -> dict[int, Inbox]:
    rows = await session.scalars(select(Inbox).where(Inbox.account_id == account_id, Inbox.id.in_(ids)))
    return {r.id: r for r in rows}


async def inbox_members(session: AsyncSession, account_id: int, inbox_ids: set[int]) -> Sequence[InboxMember]:
    """Members of these inboxes who chose to be online, with the account's membership."""
    stmt = (
        select(InboxMember)
        .join(User, User.id == InboxMember.user_id)
        .join(
            AccountMembership,
            (AccountMembership.user_id == InboxMember.user_id) & (AccountMembership.account_id == account_id),
        )
        .where(
            InboxMember.account_id == account_id,
            InboxMember.inbox_id.in_(inbox_ids),
            User.availability == Availability.ONLINE,
        )
        .order_by(InboxMember.id)
    )
    if dialect_name(session) == "postgresql":
        stmt = stmt.with_for_update(of=InboxMember)
    return (await session.scalars(stmt)).all()


async def account_limits(session: AsyncSession, account_id: int, user_ids: set[int]) -> dict[int, int | None]:
    rows = await session.execute(
        select(AccountMembership.user_id, AccountMembership.max_open_conversations).where(
            AccountMembership.account_id == account_id, AccountMembership.user_id.in_(user_ids)
        )
    )
    return {user_id: limit for user_id, limit in rows}


async def open_counts(session: AsyncSession, account_id: int, user_ids: set[int]) -> dict[tuple[int, int], int]:
    """Open conversations per (agent, inbox)."""
    rows = await session.execute(
        select(Conversation.assignee_id, Conversation.inbox_id, func.count())
        .where(
            Conversation.account_id == account_id,
            Conversation.status == ConversationStatus.OPEN,
            Conversation.assignee_id.in_(user_ids),
        )
        .group_by(Conversation.assignee_id, Conversation.inbox_id)
    )
    return {(user_id, inbox_id): n for user_id, inbox_id, n in rows if user_id is not None}


async def auto_assigning_teams(session: AsyncSession, account_id: int, team_ids: set[int]) -> dict[int, set[int]]:
    """The members of those teams that allow auto-assignment, by team."""
    if not team_ids:
        return {}
    rows = await session.execute(
        select(Team.id, TeamMember.user_id)
        .join(TeamMember, TeamMember.team_id == Team.id, isouter=True)
        .where(Team.account_id == account_id, Team.id.in_(team_ids), Team.allow_auto_assign.is_(True))
    )
    found: dict[int, set[int]] = {}
    for team_id, user_id in rows:
        members = found.setdefault(team_id, set())
        if user_id is not None:
            members.add(user_id)
    return found


def touch(member: InboxMember, now: datetime) -> None:
    member.last_assigned_at = now


def _releasing() -> list[ColumnElement[bool]]:
    return [
        Conversation.status == ConversationStatus.OPEN,
        Conversation.assignee_id.is_not(None),
        Inbox.enable_auto_assignment.is_(True),
        Inbox.reassign_offline_after_seconds.is_not(None),
    ]


async def accounts_releasing(session: AsyncSession, limit: int = 500) -> list[int]:
    """Accounts with open, assigned conversations in inboxes that reassign an offline agent's."""
    stmt = (
        select(Conversation.account_id)
        .join(Inbox, Inbox.id == Conversation.inbox_id)
        .where(*_releasing())
        .distinct()
        .limit(limit)
    )
    return list((await session.scalars(stmt)).all())


async def releasing_assignees(session: AsyncSession, account_id: int) -> set[int]:
    stmt = (
        select(Conversation.assignee_id)
        .join(Inbox, Inbox.id == Conversation.inbox_id)
        .where(Conversation.account_id == account_id, *_releasing())
        .distinct()
    )
    return {u for u in await session.scalars(stmt) if u is not None}


async def to_release(
    session: AsyncSession, account_id: int, offline_for: dict[int, float], limit: int
) -> Sequence[Conversation]:
    """Open conversations of offline agents whose inbox's grace period their absence has passed, locked."""
    if not offline_for:
        return []
    stmt = (
        select(Conversation, Inbox.reassign_offline_after_seconds)
        .join(Inbox, Inbox.id == Conversation.inbox_id)
        .where(
            Conversation.account_id == account_id,
            Conversation.assignee_id.in_(set(offline_for)),
            *_releasing(),
        )
        .order_by(Conversation.created_at, Conversation.id)
        .limit(limit)
    )
    if dialect_name(session) == "postgresql":
        stmt = stmt.with_for_update(of=Conversation, skip_locked=True)
    rows = (await session.execute(stmt)).all()
    return [
        c
        for c, grace in rows
        if c.assignee_id is not None and grace is not None and offline_for[c.assignee_id] >= grace
    ]


async def chose_offline(session: AsyncSession, account_id: int, user_ids: set[int]) -> set[int]:
    """Those of these members who set their availability to offline."""
    if not user_ids:
        return set()
    stmt = (
        select(User.id)
        .join(AccountMembership, AccountMembership.user_id == User.id)
        .where(
            AccountMembership.account_id == account_id,
            User.id.in_(user_ids),
            User.availability == Availability.OFFLINE,
        )
    )
    return set(await session.scalars(stmt))
