"""Queries of automation rules, their runs and macros. Every function takes the account id and
filters by it, so another account's rule or macro is simply not found."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from sqlalchemy import func, or_, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.sql import ColumnElement

from db.models import AutomationRule, AutomationRun, Conversation, Macro
from db.session import dialect_name


async def rules_of_account(session: AsyncSession, account_id: int) -> Sequence[AutomationRule]:
    stmt = select(AutomationRule).where(AutomationRule.account_id == account_id).order_by(AutomationRule.id)
    return (await session.scalars(stmt)).all()


async def rule_in_account(
    session: AsyncSession, account_id: int, rule_id: int, *, lock: bool = False
) -> AutomationRule | None:
    stmt = select(AutomationRule).where(AutomationRule.id == rule_id, AutomationRule.account_id == account_id)
    return await session.scalar(stmt.with_for_update() if lock else stmt)


async def active_rules(session: AsyncSession, account_id: int, event_names: Sequence[str]) -> Sequence[AutomationRule]:
    stmt = (
        select(AutomationRule)
        .where(
            AutomationRule.account_id == account_id,
            AutomationRule.active.is_(True),
            AutomationRule.event_name.in_(list(event_names)),
        )
        .order_by(AutomationRule.id)
    )
    return (await session.scalars(stmt)).all()


async def count_rules(session: AsyncSession, account_id: int) -> int:
    count = await session.scalar(select(func.count()).where(AutomationRule.account_id == account_id))
    return int(count or 0)


async def rule_named(session: AsyncSession, account_id: int, name: str) -> AutomationRule | None:
    return await session.scalar(
        select(AutomationRule).where(
            AutomationRule.account_id == account_id, func.lower(AutomationRule.name) == name.lower()
        )
    )


async def ran_already(session: AsyncSession, rule_ids: Sequence[int], event_id: int) -> set[int]:
    if not rule_ids:
        return set()
    rows = await session.scalars(
        select(AutomationRun.rule_id).where(
            AutomationRun.rule_id.in_(list(rule_ids)), AutomationRun.event_id == event_id
        )
    )
    return set(rows.all())


async def lock_conversations(session: AsyncSession, conversation_ids: Sequence[int]) -> None:
    """Hold these conversations' rows until the transaction ends (PostgreSQL; SQLite has one writer)."""
    if conversation_ids and dialect_name(session) == "postgresql":
        await session.execute(
            select(Conversation.id)
            .where(Conversation.id.in_(conversation_ids))
            .order_by(Conversation.id)
            .with_for_update()
        )


async def recent_runs_done(session: AsyncSession, conversation_id: int, since: datetime) -> int:
    count = await session.scalar(
        select(func.count()).where(
            AutomationRun.conversation_id == conversation_id,
            AutomationRun.created_at >= since,
            AutomationRun.outcome == "done",
        )
    )
    return int(count or 0)


async def runs_page(
    session: AsyncSession, account_id: int, rule_id: int | None, before: int | None, limit: int
) -> Sequence[AutomationRun]:
    """Newest first, keyset on the id."""
    stmt = select(AutomationRun).where(AutomationRun.account_id == account_id)
    if rule_id is not None:
        stmt = stmt.where(AutomationRun.rule_id == rule_id)
    if before is not None:
        stmt = stmt.where(AutomationRun.id < before)
    return (await session.scalars(stmt.order_by(AutomationRun.id.desc()).limit(limit))).all()


def _visible_macro(account_id: int, user_id: int | None) -> list[ColumnElement[bool]]:
    mine = Macro.owner_user_id == user_id if user_id is not None else Macro.owner_user_id.is_(None)
    return [Macro.account_id == account_id, or_(Macro.owner_user_id.is_(None), mine)]


async def visible_macros(session: AsyncSession, account_id: int, user_id: int | None) -> Sequence[Macro]:
    """The caller's own macros and the account-wide ones: account-wide first, then by name."""
    stmt = (
        select(Macro)
        .where(*_visible_macro(account_id, user_id))
        .order_by(Macro.owner_user_id.is_not(None), func.lower(Macro.name), Macro.id)
    )
    return (await session.scalars(stmt)).all()


async def visible_macro(session: AsyncSession, account_id: int, user_id: int | None, macro_id: int) -> Macro | None:
    return await session.scalar(select(Macro).where(*_visible_macro(account_id, user_id), Macro.id == macro_id))


async def count_macros(session: AsyncSession, account_id: int, owner_user_id: int | None) -> int:
    owner = Macro.owner_user_id == owner_user_id if owner_user_id is not None else Macro.owner_user_id.is_(None)
    count = await session.scalar(select(func.count()).where(Macro.account_id == account_id, owner))
    return int(count or 0)
