"""Engines and session factories: one engine per process (API, worker, CLI), sessions per request or job."""

from __future__ import annotations

from typing import Any, cast

from sqlalchemy import CursorResult, Executable, event, exc
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker, create_async_engine

from infra import traces


def create_engine(
    url: str,
    *,
    pool_size: int = 10,
    max_overflow: int = 10,
    pool_timeout: float = 30.0,
    echo: bool = False,
    server_settings: dict[str, str] | None = None,
    reset_on_return: str | None = "rollback",
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

        traces.instrument_engine(engine)
        return engine
    engine = create_async_engine(
        url,
        echo=echo,
        pool_size=pool_size,
        max_overflow=max_overflow,
        pool_timeout=pool_timeout,  # a bounded wait for a connection under load
        pool_recycle=1800,
        pool_reset_on_return=reset_on_return,
        connect_args={"server_settings": server_settings} if server_settings else {},
    )
    event.listen(engine.sync_engine, "checkout", _refuse_closed)
    traces.instrument_engine(engine)
    return engine


def _refuse_closed(dbapi_connection: Any, _record: Any, _proxy: Any) -> None:
    """Instead of a pre-ping (BEGIN, a statement and ROLLBACK on every checkout): asyncpg reads its
    socket while the connection idles, so a backend that was terminated or a server that restarted
    shows as a closed connection, which the pool then replaces. A connection that dies between the
    check and its use fails that one statement and is invalidated (SQLAlchemy's disconnect handling)."""
    driver = getattr(dbapi_connection, "_connection", None)
    is_closed = getattr(driver, "is_closed", None)
    if is_closed is not None and is_closed():
        raise exc.DisconnectionError("the connection was closed while it idled in the pool")


def create_session_factory(engine: AsyncEngine) -> async_sessionmaker[AsyncSession]:
    return async_sessionmaker(engine, expire_on_commit=False, autoflush=False)


def create_read_session_factory(engine: AsyncEngine) -> async_sessionmaker[AsyncSession]:
    """Sessions for read-only operations: the same pool, each statement on its own (AUTOCOMMIT), so a
    query sends no BEGIN and no ROLLBACK. Under READ COMMITTED every statement already saw its own
    snapshot, so reads see what they saw before."""
    return async_sessionmaker(
        engine.execution_options(isolation_level="AUTOCOMMIT"), expire_on_commit=False, autoflush=False
    )


def dialect_name(session: AsyncSession) -> str:
    """The database's dialect, "postgresql" or "sqlite": the few statements that differ (upserts,
    row locks) ask it."""
    return session.get_bind().dialect.name


async def execute_rowcount(session: AsyncSession, statement: Executable) -> int:
    """Run an UPDATE or DELETE and return how many rows it matched."""
    # A DML statement's result is always a cursor result; `AsyncSession.execute` is typed for any.
    result = cast(CursorResult[Any], await session.execute(statement))
    return result.rowcount or 0
