"""SLA policies and applied SLAs: every query scoped to one account, but the scheduler's claim."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import case, delete, func, select
from sqlalchemy.ext.asyncio import AsyncSession

from db.models import AppliedSla, Conversation, Inbox, SlaPolicy
from db.session import dialect_name
from domain.sla.enums import SlaStatus


async def policies(session: AsyncSession, account_id: int) -> Sequence[SlaPolicy]:
    return (
        await session.scalars(
            select(SlaPolicy)
            .where(SlaPolicy.account_id == account_id)
            .order_by(func.lower(SlaPolicy.name), SlaPolicy.id)
        )
    ).all()


async def policy(session: AsyncSession, account_id: int, policy_id: int, *, lock: bool = False) -> SlaPolicy | None:
    stmt = select(SlaPolicy).where(SlaPolicy.account_id == account_id, SlaPolicy.id == policy_id)
    if lock and dialect_name(session) == "postgresql":
        stmt = stmt.with_for_update()
    return await session.scalar(stmt)


async def policy_count(session: AsyncSession, account_id: int) -> int:
    return int(await session.scalar(select(func.count()).where(SlaPolicy.account_id == account_id)) or 0)


async def name_taken(session: AsyncSession, account_id: int, name: str, except_id: int | None = None) -> bool:
    stmt = select(SlaPolicy.id).where(SlaPolicy.account_id == account_id, func.lower(SlaPolicy.name) == name.lower())
    if except_id is not None:
        stmt = stmt.where(SlaPolicy.id != except_id)
    return await session.scalar(stmt.limit(1)) is not None


async def policies_by_ids(session: AsyncSession, account_ids: set[int], ids: Iterable[int]) -> dict[int, SlaPolicy]:
    rows = await session.scalars(
        select(SlaPolicy).where(SlaPolicy.id.in_(set(ids)), SlaPolicy.account_id.in_(account_ids))
    )
    return {r.id: r for r in rows}


async def applied_of(session: AsyncSession, conversation: Conversation, *, lock: bool = True) -> AppliedSla | None:
    stmt = select(AppliedSla).where(
        AppliedSla.account_id == conversation.account_id, AppliedSla.conversation_id == conversation.id
    )
    if lock and dialect_name(session) == "postgresql":
        stmt = stmt.with_for_update()
    return await session.scalar(stmt)


async def applied_by_conversations(
    session: AsyncSession, account_id: int, conversation_ids: Sequence[int]
) -> dict[int, AppliedSla]:
    rows = await session.scalars(
        select(AppliedSla).where(AppliedSla.account_id == account_id, AppliedSla.conversation_id.in_(conversation_ids))
    )
    return {r.conversation_id: r for r in rows}


async def remove_applied(session: AsyncSession, conversation: Conversation) -> None:
    await session.execute(
        delete(AppliedSla).where(
            AppliedSla.account_id == conversation.account_id, AppliedSla.conversation_id == conversation.id
        )
    )


async def claim_due(session: AsyncSession, now: datetime, limit: int) -> Sequence[AppliedSla]:
    """Applied SLAs with something due by `now`, locked; rows another pass holds are skipped, so two
    schedulers never act on one row (PostgreSQL rechecks `check_at` on the row it locks)."""
    stmt = (
        select(AppliedSla).where(AppliedSla.check_at <= now).order_by(AppliedSla.check_at, AppliedSla.id).limit(limit)
    )
    if dialect_name(session) == "postgresql":
        stmt = stmt.with_for_update(skip_locked=True)
    return (await session.scalars(stmt)).all()


async def conversations_by_ids(session: AsyncSession, ids: set[int]) -> dict[int, Conversation]:
    """The claimed SLAs' conversations, locked; one a request holds (a reply locks the conversation,
    then its SLA) is skipped rather than waited for, so the two never deadlock: the next pass takes it."""
    stmt = select(Conversation).where(Conversation.id.in_(ids))
    if dialect_name(session) == "postgresql":
        stmt = stmt.with_for_update(skip_locked=True)
    return {r.id: r for r in await session.scalars(stmt)}


async def inboxes_by_ids(session: AsyncSession, ids: set[int]) -> dict[int, Inbox]:
    return {r.id: r for r in await session.scalars(select(Inbox).where(Inbox.id.in_(ids)))}


async def hit_rates(
    session: AsyncSession, account_id: int, since: datetime, until: datetime
) -> list[tuple[int, int, int, int]]:
    """(policy, applied, hit, missed) for the SLAs applied in [since, until): hit counts the resolved
    ones with every target met, missed every one with a target missed (resolved or not)."""
    missed_any = AppliedSla.status.in_((SlaStatus.MISSED, SlaStatus.ACTIVE_WITH_MISSES))
    stmt: Any = (
        select(
            AppliedSla.sla_policy_id,
            func.count(),
            func.sum(case((AppliedSla.status == SlaStatus.HIT, 1), else_=0)),
            func.sum(case((missed_any, 1), else_=0)),
        )
        .where(AppliedSla.account_id == account_id, AppliedSla.created_at >= since, AppliedSla.created_at < until)
        .group_by(AppliedSla.sla_policy_id)
    )
    return [(p, int(n), int(h or 0), int(m or 0)) for p, n, h, m in await session.execute(stmt)]


async def detach_conversations(session: AsyncSession, account_id: int, policy_id: int) -> None:
    from sqlalchemy import update

    await session.execute(
        update(Conversation)
        .where(Conversation.account_id == account_id, Conversation.sla_policy_id == policy_id)
        .values(sla_policy_id=None, sla_due_at=None)
        .execution_options(synchronize_session="fetch")
    )
