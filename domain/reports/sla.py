"""SLA hit rates over a range (Chatwoot's SLA reports): per policy, how many SLAs were applied in the
range, how many were resolved with every target met (hit), how many missed a target, and the rate
hit / (hit + missed). SLAs still running without a miss count as applied only."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

from sqlalchemy.ext.asyncio import AsyncSession

from db.repositories import sla as repo
from domain.reports.queries import Range, account_timezone, check_range


@dataclass
class SlaRow:
    policy_id: int
    applied: int
    hit: int
    missed: int

    @property
    def hit_rate(self) -> float | None:
        decided = self.hit + self.missed
        return self.hit / decided if decided else None


async def sla_summary(session: AsyncSession, account_id: int, *, since: date, until: date) -> list[SlaRow]:
    """One row per policy of the account, by name (policies with nothing applied show zeros)."""
    check_range(since, until)
    rng = Range(since, until, await account_timezone(session, account_id))
    counts = {p: (n, h, m) for p, n, h, m in await repo.hit_rates(session, account_id, rng.lo, rng.hi)}
    return [SlaRow(p.id, *counts.get(p.id, (0, 0, 0))) for p in await repo.policies(session, account_id)]
