"""Engines and session factories: one engine per process (API, worker, CLI), sessions per request or job."""

from __future__ import annotations

from typing import Any, cast

from sqlalchemy import CursorResult, Executable, event
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker, create_async_engine


def create_engine(
    url: str, *, pool_size: int = 10, max_overflow: int = 10, pool_timeout: float = 30.0, echo: bool = False
) -> AsyncEngine:
    if url.startswith("sqlite"):
        engine = create_async_engine(url, echo=echo, connect_args={"timeout": 30})

        @event.listens_for(engine.sync_engine, "connect")
        def _sqlite_pragmas(dbapi_conn: Any, _record: Any) -> None:  # pragma: no cover - trivial
            cur = dbapi_conn.cursor()
            cur.execute("PRAGMA foreign_keys=ON")
            cur.execute("PRAGMA journal_mode=WAL")
            cur.execute("PRAGMA busy_timeout=30000")
            cur.close()

        return engine
    return create_async_engine(
        url,
        echo=echo,
        pool_size=pool_size,
        max_overflow=max_overflow,
        pool_timeout=pool_timeout,  # a bounded wait for a connection under load
        pool_pre_ping=True,
        pool_recycle=1800,
    )


def create_session_factory(engine: AsyncEngine) -> async_sessionmaker[AsyncSession]:
    return async_sessionmaker(engine, expire_on_commit=False, autoflush=False)


def dialect_name(session: AsyncSession) -> str:
    """The database's dialect, "postgresql" or "sqlite": the few statements that differ (upserts,
    row locks) ask it."""
    return session.get_bind().dialect.name


async def execute_rowcount(session: AsyncSession, statement: Executable) -> int:
    """Run an UPDATE or DELETE and return how many rows it matched."""
    # A DML statement's result is always a cursor result; `AsyncSession.execute` is typed for any.
    result = cast(CursorResult[Any], await session.execute(statement))
    return result.rowcount or 0
