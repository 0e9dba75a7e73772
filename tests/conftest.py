"""Test fixtures: a real PostgreSQL database migrated once with Alembic, Redis on its own DB index,
live Parley servers on free ports. Tests drive them over HTTP and WebSocket like clients do.

PARLEY_TEST_DATABASE_URL and PARLEY_TEST_REDIS_URL point the suite elsewhere. Under pytest-xdist each
worker gets a database and a Redis of its own: worker gwN uses the database named with a `_gwN`
suffix and a private redis-server (or, without one installed or for a remote Redis, the Redis index N
below the given one), so workers never share state. Passwords are hashed at bcrypt's lowest cost: the suite checks what hashing decides, not how
long it takes.
"""

from __future__ import annotations

import asyncio
import os
import shutil
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import pytest
import redis.asyncio as aioredis
from sqlalchemy import text

from db.session import create_engine
from domain.accounts import passwords
from infra.settings import Environment, Settings
from tests.support.gql import GraphQLHTTP
from tests.support.server import TEST_BCRYPT_ROUNDS, LiveServer, ProcessServer
from tests.support.smtp import SMTPServer

XDIST_WORKER = os.environ.get("PYTEST_XDIST_WORKER", "")  # gw0, gw1… under pytest-xdist; empty otherwise


def _worker_database(url: str) -> str:
    if not XDIST_WORKER:
        return url
    parts = urlsplit(url)
    return urlunsplit(parts._replace(path=f"{parts.path}_{XDIST_WORKER}"))


def _worker_redis(url: str) -> str:
    """Redis pub/sub channels are server-wide, whatever the DB index: a worker on a loopback Redis
    gets a private redis-server of its own when one is installed (so no worker hears another's
    broadcasts), and the Redis index N below the given one otherwise."""
    if not XDIST_WORKER:
        return url
    parts = urlsplit(url)
    if parts.hostname in ("127.0.0.1", "localhost", "::1") and shutil.which("redis-server"):
        import atexit

        from tests.support.redis_proc import RedisProcess

        private = RedisProcess().start()
        atexit.register(private.stop)
        return private.url
    index = int(parts.path.lstrip("/") or 0) - int(XDIST_WORKER.removeprefix("gw"))
    if index < 0:
        raise pytest.UsageError(f"too many xdist workers for Redis index {parts.path.lstrip('/') or 0} of {url}")
    return urlunsplit(parts._replace(path=f"/{index}"))


TEST_DATABASE_URL = _worker_database(
    os.environ.get("PARLEY_TEST_DATABASE_URL", "postgresql+asyncpg://postgres@127.0.0.1:5432/parley_test")
)
TEST_REDIS_URL = _worker_redis(os.environ.get("PARLEY_TEST_REDIS_URL", "redis://127.0.0.1:6379/15"))

# Keep the suite's own environment from leaking into the settings under test.
for _name in list(os.environ):
    if _name.startswith("PARLEY_") and not _name.startswith("PARLEY_TEST_"):
        del os.environ[_name]
os.environ.pop("DATABASE_URL", None)
os.environ.pop("REDIS_URL", None)
passwords.use_cost(TEST_BCRYPT_ROUNDS)  # servers started in this process; child processes get it from their environment


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


@pytest.fixture
def private_redis():
    """A `redis-server` of the test's own on a free port, for tests that stop, restart or
    reconfigure it."""
    from tests.support.redis_proc import RedisProcess

    redis = RedisProcess().start()
    try:
        yield redis
    finally:
        redis.stop()


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
                    text(
                        "SELECT tablename FROM pg_tables WHERE schemaname = 'public' AND tablename <> 'alembic_version'"
                    )
                )
                tables = [r[0] for r in rows]
                if tables:
                    await conn.execute(text("SET LOCAL lock_timeout = '5s'"))
                    # Outbox job and event ids go on from where they were: a job of the previous test
                    # still queued in a worker then finds no row of its id and is skipped, instead
                    # of claiming this test's job that got the same id (and the real one skipped).
                    kept = (
                        await conn.execute(
                            text(
                                "SELECT sequencename, last_value FROM pg_sequences WHERE schemaname = 'public'"
                                " AND sequencename IN ('outbox_jobs_id_seq', 'events_id_seq')"
                                " AND last_value IS NOT NULL"
                            )
                        )
                    ).all()
                    await conn.execute(
                        text("TRUNCATE " + ", ".join(f'"{t}"' for t in tables) + " RESTART IDENTITY CASCADE")
                    )
                    for name, last_value in kept:
                        await conn.execute(text("SELECT setval(:name, :value)"), {"name": name, "value": last_value})
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
    except Exception as exc:  # noqa: BLE001 - pragma: no cover; whatever the failure, the run cannot go on
        pytest.exit(f"Redis is not reachable at {TEST_REDIS_URL}: {exc}", returncode=2)
    yield client
    await client.aclose()


class Tables:
    """The test database's tables, emptied before each test unless it is marked `keep_tables` (it
    then works on a world its module shares: see tests/support/worlds.py). `generation` counts the
    times they were emptied, so a shared world knows when it is gone."""

    def __init__(self, engine) -> None:
        self.engine = engine
        self.generation = 0

    async def empty(self) -> None:
        await _truncate_all(self.engine)
        self.generation += 1


@pytest.fixture(scope="session")
def tables(db_engine) -> Tables:
    return Tables(db_engine)


def _machine_lock_paths() -> tuple[Path, Path]:
    import hashlib
    import tempfile

    run = hashlib.sha256(os.environ.get("PARLEY_TEST_DATABASE_URL", "parley_test").encode()).hexdigest()[:12]
    base = Path(tempfile.gettempdir())
    return base / f"parley-tests-{run}.turnstile", base / f"parley-tests-{run}.lock"


@pytest.fixture(autouse=True)
def _machine(request: pytest.FixtureRequest) -> Iterator[None]:
    """Under pytest-xdist, a test marked `alone` (timing or CPU measurements, faults) runs while no
    other worker runs one: it takes the lock exclusively, every other test shares it. The turnstile
    keeps new tests from starting while an `alone` one waits for the running ones to finish."""
    if not XDIST_WORKER:
        yield
        return
    import fcntl

    turnstile_path, lock_path = _machine_lock_paths()
    alone = request.node.get_closest_marker("alone") is not None
    with open(turnstile_path, "a") as turnstile, open(lock_path, "a") as lock:
        fcntl.flock(turnstile, fcntl.LOCK_EX)
        try:
            fcntl.flock(lock, fcntl.LOCK_EX if alone else fcntl.LOCK_SH)
        finally:
            if not alone:
                fcntl.flock(turnstile, fcntl.LOCK_UN)
        try:
            yield
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)
            if alone:
                fcntl.flock(turnstile, fcntl.LOCK_UN)


@pytest.fixture(autouse=True)
async def _isolate(request: pytest.FixtureRequest, tables: Tables, redis_client) -> AsyncIterator[None]:
    """Each test starts with an empty Redis DB index and empty tables (or its module's shared world)."""
    if not request.node.get_closest_marker("embedded"):
        if not request.node.get_closest_marker("keep_tables"):
            await tables.empty()
        await redis_client.flushdb()
    yield


TEST_MAIL_SECRET = "test-inbound-mail-secret"  # POST /mail/inbound (tests/test_inbound_email.py)


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
        bcrypt_rounds=TEST_BCRYPT_ROUNDS,
        mail_inbound_secret=TEST_MAIL_SECRET,
        mail_max_bytes=256 * 1024,
        mail_imap_poll_seconds=0.5,
        # Two test workers, each with its session server, module servers and child processes, share
        # one PostgreSQL (100 connections by default): a smaller pool per server keeps them under it.
        database_pool_size=4,
        database_max_overflow=6,
        assignment_sweep_seconds=1.0,
        scheduled_messages_sweep_seconds=0.5,
        auto_resolve_sweep_seconds=1.0,
        sla_sweep_seconds=0.5,
        # The tests' IMAP and SMTP servers listen on loopback; the refusal has its own test
        # (tests/test_inbox_smtp.py).
        mail_allow_private_hosts=True,
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
