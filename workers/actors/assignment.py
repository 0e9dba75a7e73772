"""Auto-assignment: the event-log consumer, the job for one account, and the periodic pass."""

from __future__ import annotations

from workers.broker import parley_actor
from workers.runtime import resources, unit_of_work


async def _online(account_id: int) -> set[int]:
    return await resources().presence().online_users(account_id)


@parley_actor(name="assignment.consume", queue="default", max_retries=10, time_limit_ms=60_000)
async def assignment_consume(event_ids: list[int], outbox_id: int | None = None) -> None:
    """After conversations were created, reopened, resolved, unassigned or moved: assign what waits."""
    from domain.helpdesk import assignment

    async with resources().sessions() as session:
        accounts = await assignment.accounts_of_events(session, event_ids)
    async with unit_of_work() as session:
        for account_id in sorted(accounts):
            await assignment.run(session, account_id, await _online(account_id))


@parley_actor(name="assignment.run", queue="default", max_retries=10, time_limit_ms=60_000)
async def assignment_run(account_id: int, outbox_id: int | None = None) -> None:
    """Assign one account's waiting conversations (members or limits changed, an agent came online)."""
    from domain.helpdesk import assignment

    async with unit_of_work() as session:
        await assignment.run(session, account_id, await _online(account_id))


async def assign_waiting(sessions, relay) -> int:
    """Periodic: accounts with waiting conversations, one transaction each (agents who connected
    since are online now)."""
    from db.repositories.assignment import accounts_waiting
    from domain.events import unit_of_work as uow
    from domain.helpdesk import assignment

    async with sessions() as session:
        accounts = await accounts_waiting(session)
    total = 0
    for account_id in accounts:
        online = await _online(account_id)
        if not online:
            continue
        async with uow(sessions, relay) as session:
            total += await assignment.run(session, account_id, online)
    return total
