"""Test fixtures: a real PostgreSQL database migrated once with Alembic, Redis on its own DB index,
live Parley servers on free ports. Tests drive them over HTTP and WebSocket like clients do.

PARLEY_TEST_DATABASE_URL and PARLEY_TEST_REDIS_URL point the suite elsewhere.
"""

from __future__ import annotations

import asyncio
import os
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import pytest
import redis.asyncio as aioredis
from sqlalchemy import text

from db.session import create_engine
from infra.settings import Environment, Settings
from tests.support.gql import GraphQLHTTP
from tests.support.server import LiveServer, ProcessServer
from tests.support.smtp import SMTPServer

TEST_DATABASE_URL = os.environ.get(
    "PARLEY_TEST_DATABASE_URL", "postgresql+asyncpg://postgres@127.0.0.1:5432/parley_test"
)
TEST_REDIS_URL = os.environ.get("PARLEY_TEST_REDIS_URL", "redis://127.0.0.1:6379/15")

# Keep the suite's own environment from leaking into the settings under test.
for _name in list(os.environ):
    if _name.startswith("PARLEY_") and not _name.startswith("PARLEY_TEST_"):
        del os.environ[_name]
os.environ.pop("DATABASE_URL", None)
os.environ.pop("REDIS_URL", None)


def _admin_url(url: str) -> str:
    parts = urlsplit(url)
    return urlunsplit(parts._replace(path="/postgres"))


async def _recreate_database(url: str) -> None:
    name = urlsplit(url).path.lstrip("/")
    engine = create_engine(_admin_url(url), pool_size=1, max_overflow=0)
    try:
        async with engine.connect() as conn:
            await conn.execution_options(isolation_level="AUTOCOMMIT")
            await conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
            await conn.execute(text(f'CREATE DATABASE "{name}"'))
    finally:
        await engine.dispose()


@pytest.fixture(scope="session")
def database_url() -> str:
    """The test database, created afresh and migrated once per run with Alembic (never create_all)."""
    from db.migrate import upgrade

    try:
        asyncio.run(_recreate_database(TEST_DATABASE_URL))
    except OSError as exc:  # pragma: no cover - environment problem, reported clearly
        pytest.exit(f"PostgreSQL is not reachable at {TEST_DATABASE_URL}: {exc}", returncode=2)
    upgrade(TEST_DATABASE_URL)
    return TEST_DATABASE_URL


@pytest.fixture(scope="session")
async def db_engine(database_url: str):
    engine = create_engine(database_url, pool_size=2, max_overflow=2)
    yield engine
    await engine.dispose()


async def _truncate_all(engine) -> None:
    """Empty every table. The previous test's background jobs may still be finishing on the shared
    server's worker; a deadlock with one of them is retried."""
    from sqlalchemy.exc import DBAPIError

    for attempt in range(5):
        try:
            async with engine.begin() as conn:
                rows = await conn.execute(
                    text("SELECT tablename FROM pg_tables WHERE schemaname = 'public' AND tablename <> 'alembic_version'")
                )
                tables = [r[0] for r in rows]
                if tables:
                    await conn.execute(text("SET LOCAL lock_timeout = '5s'"))
                    await conn.execute(text("TRUNCATE " + ", ".join(f'"{t}"' for t in tables) + " RESTART IDENTITY CASCADE"))
            return
        except DBAPIError as exc:
            if attempt == 4 or "deadlock" not in str(exc) and "lock timeout" not in str(exc):
                raise
            await asyncio.sleep(0.2 * (attempt + 1))


@pytest.fixture(scope="session")
async def redis_client() -> AsyncIterator[aioredis.Redis]:
    client = aioredis.Redis.from_url(TEST_REDIS_URL)
    try:
        await client.ping()
    except Exception as exc:  # pragma: no cover
        pytest.exit(f"Redis is not reachable at {TEST_REDIS_URL}: {exc}", returncode=2)
    yield client
    await client.aclose()


@pytest.fixture(autouse=True)
async def _isolate(request: pytest.FixtureRequest, db_engine, redis_client) -> AsyncIterator[None]:
    """Each test starts with empty tables and an empty Redis DB index."""
    if not request.node.get_closest_marker("embedded"):
        await _truncate_all(db_engine)
        await redis_client.flushdb()
    yield


def make_settings(tmp: Path, **overrides) -> Settings:
    values = dict(
        env=Environment.test,
        database_url=TEST_DATABASE_URL,
        redis_url=TEST_REDIS_URL,
        data_dir=tmp,
        worker_in_process=True,
        worker_threads=2,
        dramatiq_namespace="parley-test",
        log_format="console",
        log_level="WARNING",
        # Every test signs up from 127.0.0.1; the sign-up limit has its own test (tests/test_auth.py).
        signup_per_ip_per_hour=1000,
    )
    values.update(overrides)
    return Settings(**values)


@pytest.fixture(scope="session")
def smtp_server() -> Iterator[SMTPServer]:
    server = SMTPServer().start()
    yield server
    server.stop()


@pytest.fixture
def smtp(smtp_server: SMTPServer) -> SMTPServer:
    smtp_server.clear()
    return smtp_server


@pytest.fixture(scope="session")
def settings(tmp_path_factory: pytest.TempPathFactory, database_url: str, smtp_server: SMTPServer) -> Settings:
    return make_settings(
        tmp_path_factory.mktemp("parley-data"),
        smtp_host="127.0.0.1",
        smtp_port=smtp_server.port,
        smtp_starttls=False,
    )


@pytest.fixture(scope="session")
def server(settings: Settings) -> Iterator[LiveServer]:
    """One Parley on PostgreSQL + Redis for the whole run (tables are emptied between tests)."""
    with LiveServer(settings) as live:
        yield live


@pytest.fixture
async def gql(server: LiveServer) -> AsyncIterator[GraphQLHTTP]:
    client = GraphQLHTTP(server.url)
    yield client
    await client.aclose()


@pytest.fixture(scope="session")
def embedded_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ProcessServer]:
    """`parley serve` with nothing configured but its data directory: SQLite, memory broadcast,
    in-process stub-broker worker. A child process, so its global broker is its own."""
    data = tmp_path_factory.mktemp("parley-embedded")
    with ProcessServer({"PARLEY_DATA_DIR": str(data), "PARLEY_LOG_LEVEL": "WARNING"}) as live:
        yield live


@pytest.fixture
async def embedded_gql(embedded_server: ProcessServer) -> AsyncIterator[GraphQLHTTP]:
    client = GraphQLHTTP(embedded_server.url)
    yield client
    await client.aclose()
