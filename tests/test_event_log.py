"""The event log's ordering promise: positions become visible in order, so a reader that resumes after
position N never misses an event that commits later with a smaller number."""

from __future__ import annotations

import asyncio
import contextlib

import pytest
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
        return list(
            (
                await s.scalars(select(Event.position).where(Event.account_id == account_id).order_by(Event.position))
            ).all()
        )


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
            types = list(
                (
                    await s.scalars(select(Event.type).where(Event.account_id == account_id).order_by(Event.position))
                ).all()
            )
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


async def test_the_unit_of_work_commits_then_relays_and_forgets_a_rollback(db_engine):
    """What a transaction caused reaches the relay only after it committed; a failed one relays
    nothing and leaves nothing pending on its session."""
    from domain.events import Consumer, EventType, PendingWork, pending, unit_of_work

    sessions = create_session_factory(db_engine)
    account_id = await _account(sessions)
    relayed: list[PendingWork] = []

    class Spy:
        async def after_commit(self, work: PendingWork) -> None:
            assert await _positions_visible(sessions, account_id) != []  # committed already
            relayed.append(work)

    async with unit_of_work(sessions, Spy()) as s:  # type: ignore[arg-type]
        events.record(s, account_id=account_id, type=EventType.CONVERSATION_MENTIONED)
        pending(s).revoked_session_ids.append("gone")
    [work] = relayed
    assert [e.type for e in work.finalized] == ["conversation.mentioned"]
    assert [j.actor_name for j in work.jobs] == [Consumer.NOTIFICATIONS.value]
    assert work.revoked_session_ids == ["gone"]

    kept = sessions()
    try:
        with pytest.raises(RuntimeError):
            async with unit_of_work(lambda: _borrowed(kept), Spy()) as s:  # type: ignore[arg-type]
                events.record(s, account_id=account_id, type=EventType.CONTACT_CREATED)
                raise RuntimeError("the work failed")
        assert not pending(kept)
    finally:
        await kept.close()
    assert len(relayed) == 1
    assert await _positions_visible(sessions, account_id) == [1]


@contextlib.asynccontextmanager
async def _borrowed(session):
    yield session
