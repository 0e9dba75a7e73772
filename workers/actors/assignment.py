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
    since are online now), and accounts whose inboxes give back an offline agent's conversations:
    how long each holder has been offline is kept with the presence (every scheduler sees the same),
    and those past their inbox's grace period lose their open conversations to the agents online."""
    from db.repositories.assignment import accounts_releasing, accounts_waiting
    from domain.events import unit_of_work as uow
    from domain.helpdesk import assignment

    async with sessions() as session:
        waiting = set(await accounts_waiting(session))
        releasing = set(await accounts_releasing(session))
    total = 0
    for account_id in sorted(waiting | releasing):
        online = await _online(account_id)
        offline_for: dict[int, float] = {}
        if account_id in releasing:
            async with sessions() as session:
                offline, present = await assignment.holders_by_presence(session, account_id, online)
            offline_for = await resources().presence().absences(account_id, offline, present)
        if not online and not any(offline_for.values()):
            continue
        async with uow(sessions, relay) as session:
            if any(offline_for.values()):
                await assignment.release_offline(session, account_id, offline_for)
            total += await assignment.run(session, account_id, online)
    return total
