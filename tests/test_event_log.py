"""The event log's ordering promise: positions become visible in order, so a reader that resumes after
position N never misses an event that commits later with a smaller number."""

from __future__ import annotations

import asyncio

from sqlalchemy import select

from db.models import Account, Event
from db.session import create_session_factory
from domain import events


async def _account(sessions) -> int:
    async with sessions() as s, s.begin():
        account = Account(name="Ordering", locale="en", timezone="UTC", settings={})
        s.add(account)
        await s.flush()
        return account.id


async def _positions_visible(sessions, account_id: int) -> list[int]:
    async with sessions() as s:
        return list((await s.scalars(select(Event.position).where(Event.account_id == account_id).order_by(Event.position))).all())


async def test_concurrent_writers_commit_positions_in_order(db_engine):
    """Transaction 1 takes its position first but commits last; transaction 2 must not become visible
    with a higher position before it (that would let a reader skip position 1 for ever)."""
    sessions = create_session_factory(db_engine)
    account_id = await _account(sessions)
    first, second = sessions(), sessions()
    try:
        events.record(first, account_id=account_id, type="test.first")
        await events.finalize(first)  # holds the account row until commit
        events.record(second, account_id=account_id, type="test.second")
        second_done = asyncio.create_task(_finalize_and_commit(second))
        await asyncio.sleep(0.5)
        # The second writer waits for the first; a reader sees nothing yet, so no cursor can pass 1.
        assert not second_done.done()
        assert await _positions_visible(sessions, account_id) == []
        await first.commit()
        await asyncio.wait_for(second_done, 10)
        assert await _positions_visible(sessions, account_id) == [1, 2]
        async with sessions() as s:
            types = list((await s.scalars(select(Event.type).where(Event.account_id == account_id).order_by(Event.position))).all())
        assert types == ["test.first", "test.second"]
    finally:
        await first.close()
        await second.close()


async def _finalize_and_commit(session) -> None:
    await events.finalize(session)
    await session.commit()


async def test_a_rolled_back_transaction_leaves_no_gap(db_engine):
    sessions = create_session_factory(db_engine)
    account_id = await _account(sessions)
    async with sessions() as s:
        events.record(s, account_id=account_id, type="test.lost")
        await events.finalize(s)
        await s.rollback()
    async with sessions() as s:
        events.record(s, account_id=account_id, type="test.kept")
        await events.commit(s)
    assert await _positions_visible(sessions, account_id) == [1]
