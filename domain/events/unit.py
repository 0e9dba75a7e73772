"""One unit of work, the same for a request's mutation, a job and a scheduled task: run the work in
one transaction, number its events and write their consumers' outbox jobs, commit (or roll back
and forget everything on any error), then relay what it caused. Nobody else commits events or
sends outbox jobs by hand."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager, asynccontextmanager

from sqlalchemy.ext.asyncio import AsyncSession

from domain.events.log import discard, finalize
from domain.events.pending import take
from domain.events.relay import Relay


@asynccontextmanager
async def unit_of_work(
    open_session: Callable[[], AbstractAsyncContextManager[AsyncSession]], relay: Relay
) -> AsyncIterator[AsyncSession]:
    """`open_session` gives the session (a session factory, or a request's session guard); the relay
    runs after it is given back, so the session is free again while the broker and the broadcast
    are told."""
    async with open_session() as session:
        try:
            yield session
            await finalize(session)
            await session.commit()
        except BaseException:
            await session.rollback()
            discard(session)
            raise
        work = take(session)
    await relay.after_commit(work)
