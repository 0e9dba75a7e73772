"""CSAT: how many contacts answered the satisfaction survey over a range, their average rating and
how the ratings spread over 1–5 (the widget writes the responses)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from db.models import Conversation, CsatResponse
from domain.reports.queries import Range, account_timezone, check_range


@dataclass
class CsatSummary:
    response_count: int
    average_rating: float | None
    distribution: dict[int, int]  # rating 1..5 → responses


async def csat_summary(
    session: AsyncSession,
    account_id: int,
    *,
    since: date,
    until: date,
    inbox_id: int | None = None,
    team_id: int | None = None,
    assignee_id: int | None = None,
) -> CsatSummary:
    check_range(since, until)
    rng = Range(since, until, await account_timezone(session, account_id))
    stmt = (
        select(CsatResponse.rating, func.count())
        .where(
            CsatResponse.account_id == account_id, CsatResponse.created_at >= rng.lo, CsatResponse.created_at < rng.hi
        )
        .group_by(CsatResponse.rating)
    )
    if assignee_id is not None:
        stmt = stmt.where(CsatResponse.assignee_id == assignee_id)
    if inbox_id is not None or team_id is not None:
        stmt = stmt.join(Conversation, Conversation.id == CsatResponse.conversation_id)
        if inbox_id is not None:
            stmt = stmt.where(Conversation.inbox_id == inbox_id)
        if team_id is not None:
            stmt = stmt.where(Conversation.team_id == team_id)
    distribution = {r: 0 for r in range(1, 6)}
    for rating, count in await session.execute(stmt):
        distribution[int(rating)] = distribution.get(int(rating), 0) + int(count)
    total = sum(distribution.values())
    average = sum(r * c for r, c in distribution.items()) / total if total else None
    return CsatSummary(total, average, distribution)
