"""The event log's ordering promise: positions become visible in order, so a reader that resumes after
position N never misses an event that commits later with a smaller number."""

from __future__ import annotations

import asyncio
import contextlib
import json
import random

import pytest
from sqlalchemy import select

from db.models import Account, Event
from db.session import create_engine, create_session_factory
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
    """Transaction 1 finalizes first but commits last: positions follow the commits (PostgreSQL: its
    COMMIT numbers the events, migration 0027), so the one committed first is 1 and no reader ever
    sees 2 without 1."""
    sessions = create_session_factory(db_engine)
    account_id = await _account(sessions)
    first, second = sessions(), sessions()
    try:
        events.record(first, account_id=account_id, type="test.first")
        await events.finalize(first)
        events.record(second, account_id=account_id, type="test.second")
        second_done = asyncio.create_task(_finalize_and_commit(second))
        await asyncio.wait_for(second_done, 10)  # the account row is not held by the first writer
        assert await _positions_visible(sessions, account_id) == [1]
        await first.commit()
        assert await _positions_visible(sessions, account_id) == [1, 2]
        async with sessions() as s:
            types = list(
                (
                    await s.scalars(select(Event.type).where(Event.account_id == account_id).order_by(Event.position))
                ).all()
            )
        assert types == ["test.second", "test.first"]
    finally:
        await first.close()
        await second.close()


async def test_readers_only_ever_see_gapless_positions(db_engine):
    """Writers of one account committing at random moments (one, two or three events each) while a
    reader polls: every read sees positions 1..n with no hole, so a cursor never passes an event
    that commits later."""
    engine = create_engine(str(db_engine.url.render_as_string(hide_password=False)), pool_size=12, max_overflow=4)
    sessions = create_session_factory(engine)
    account_id = await _account(sessions)
    rng = random.Random(7)
    plans = [(rng.randint(1, 3), rng.random() / 50) for _ in range(40)]
    written = 0

    async def writer(n: int, pause: float) -> None:
        nonlocal written
        async with sessions() as s:
            for k in range(n):
                events.record(s, account_id=account_id, type=f"test.{k}")
            await events.finalize(s)
            await asyncio.sleep(pause)
            await s.commit()
            written += n

    seen: list[list[int]] = []

    async def reader() -> None:
        while written < sum(n for n, _ in plans):
            seen.append(await _positions_visible(sessions, account_id))
            await asyncio.sleep(0.002)

    try:
        polling = asyncio.create_task(reader())
        for batch in range(0, len(plans), 10):
            await asyncio.gather(*(writer(n, pause) for n, pause in plans[batch : batch + 10]))
        await asyncio.wait_for(polling, 10)
        final = await _positions_visible(sessions, account_id)
    finally:
        await engine.dispose()
    assert final == list(range(1, sum(n for n, _ in plans) + 1))
    assert len(seen) > 5
    assert all(read == list(range(1, len(read) + 1)) for read in seen), [
        r for r in seen if r != list(range(1, len(r) + 1))
    ][:1]


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


async def test_transactions_committing_together_are_relayed_together(db_engine):
    """Five transactions' relays started at once go out in one batch: one statement marks all their
    events relayed, every event is announced on the broadcast (the embedded default's), and each
    caller returns only once its own events went out."""
    from sqlalchemy import event as sa_event

    from domain.events import PendingWork
    from domain.events.relay import Relay
    from infra.broadcast import create_broadcast

    sessions = create_session_factory(db_engine)
    account_id = await _account(sessions)
    committed: list[list[Event]] = []
    for k in range(5):
        async with sessions() as s:
            events.record(s, account_id=account_id, type=f"test.batch{k}")
            committed.append(await events.commit(s))
    broadcast = create_broadcast("", queue_size=100)
    await broadcast.connect()
    marks: list[str] = []

    def on_execute(_conn, _cursor, statement, *_args):
        if "UPDATE EVENTS SET RELAYED_AT" in " ".join(statement.split()).upper():
            marks.append(statement)

    sa_event.listen(db_engine.sync_engine, "before_cursor_execute", on_execute)
    relay = Relay(sessions, None, broadcast, 30.0)

    async def relay_and_check(finalized: list[Event]) -> None:
        await relay.after_commit(PendingWork(finalized=finalized))
        async with sessions() as s:
            relayed = await s.scalar(select(Event.relayed_at).where(Event.id == finalized[0].id))
        assert relayed is not None  # marked before this caller returned

    try:
        async with broadcast.subscribe(f"account:{account_id}") as sub:
            await asyncio.gather(*(relay_and_check(f) for f in committed))
            heard = [json.loads((await asyncio.wait_for(sub.get(), 5)).message)["id"] for _ in committed]
    finally:
        sa_event.remove(db_engine.sync_engine, "before_cursor_execute", on_execute)
        await broadcast.disconnect()
    assert sorted(heard) == sorted(f[0].id for f in committed)
    assert len(marks) == 1, marks
