"""The dashboard's live view: conversation counts right now and how many agents are online, busy or
offline. Presence lives elsewhere (Redis, with TTLs); it reaches this module as a mapping
user id → status through `agent_status_counts`, so the view does not depend on how it is kept."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from sqlalchemy import and_, case, func, or_, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.sql import ColumnElement

from db.models import AccountMembership, Conversation
from domain.enums import Availability, ConversationStatus


@dataclass
class LiveCounts:
    open: int
    unattended: int
    unassigned: int
    pending: int


@dataclass
class AgentStatusCounts:
    online: int
    busy: int
    offline: int


def agent_status_counts(member_ids: Iterable[int], presence: Mapping[int, str]) -> AgentStatusCounts:
    """Count the account's agents by status; anyone without a known status is offline."""
    counts = {Availability.ONLINE.value: 0, Availability.BUSY.value: 0, Availability.OFFLINE.value: 0}
    for user_id in member_ids:
        status = presence.get(user_id, Availability.OFFLINE.value)
        counts[status if status in counts else Availability.OFFLINE.value] += 1
    return AgentStatusCounts(online=counts["online"], busy=counts["busy"], offline=counts["offline"])


async def member_ids(session: AsyncSession, account_id: int) -> list[int]:
    return list(
        await session.scalars(select(AccountMembership.user_id).where(AccountMembership.account_id == account_id))
    )


async def live_counts(
    session: AsyncSession,
    account_id: int,
    *,
    inbox_id: int | None = None,
    team_id: int | None = None,
    assignee_id: int | None = None,
) -> LiveCounts:
    """Chatwoot's live conversation metrics: open; unattended (open, and never answered or waiting
    for a reply); unassigned (open without an assignee); pending."""
    is_open = Conversation.status == ConversationStatus.OPEN
    unattended = and_(
        is_open, or_(Conversation.first_reply_created_at.is_(None), Conversation.waiting_since.is_not(None))
    )

    def n(condition: ColumnElement[bool]) -> ColumnElement[Any]:
        return func.coalesce(func.sum(case((condition, 1), else_=0)), 0)

    stmt = select(
        n(is_open),
        n(unattended),
        n(and_(is_open, Conversation.assignee_id.is_(None))),
        n(Conversation.status == ConversationStatus.PENDING),
    ).where(Conversation.account_id == account_id)
    if inbox_id is not None:
        stmt = stmt.where(Conversation.inbox_id == inbox_id)
    if team_id is not None:
        stmt = stmt.where(Conversation.team_id == team_id)
    if assignee_id is not None:
        stmt = stmt.where(Conversation.assignee_id == assignee_id)
    row = (await session.execute(stmt)).one()
    return LiveCounts(*(int(v) for v in row))
