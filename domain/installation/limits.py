"""Feature limits per account (a super admin sets them): checked where members and inboxes are added.

A limit lowered below what an account already has refuses only what would be added; nothing is removed."""

from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncSession

from db.base import utcnow
from db.repositories import installation as repo
from domain.errors import ValidationError

MAX_LIMIT = 100_000


async def check_agents(session: AsyncSession, account_id: int, field: str | None, *, pending: bool) -> None:
    """Refuse one more member when the account is at its `max_agents`; `pending` also counts the
    invitations still waiting for an answer (an invitation is a seat promised)."""
    account = await repo.account(session, account_id, lock=True)  # serialises concurrent joins of one account
    if account is None or account.max_agents is None:
        return
    used = await repo.count_agents(session, account_id)
    if pending:
        used += await repo.count_pending_invitations(session, account_id, utcnow())
    if used >= account.max_agents:
        raise ValidationError.single(
            field, "LIMIT_REACHED", f"This account may have at most {account.max_agents} agents (its plan's limit)."
        )


async def check_inboxes(session: AsyncSession, account_id: int) -> None:
    account = await repo.account(session, account_id, lock=True)
    if account is None or account.max_inboxes is None:
        return
    if await repo.count_inboxes(session, account_id) >= account.max_inboxes:
        raise ValidationError.single(
            None, "LIMIT_REACHED", f"This account may have at most {account.max_inboxes} inboxes (its plan's limit)."
        )
