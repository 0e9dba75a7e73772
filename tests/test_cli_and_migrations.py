"""The operator's view: the CLI, configuration errors, migrations and the exported schema."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
from pathlib import Path

import pytest
from sqlalchemy import text

from db.session import create_engine
from parley.cli import export_schema_sdl
from tests.conftest import TEST_DATABASE_URL, _recreate_database

ROOT = Path(__file__).resolve().parent.parent


def run_cli(*args: str, env: dict[str, str] | None = None, timeout: float = 120) -> subprocess.CompletedProcess:
    full_env = {k: v for k, v in os.environ.items() if not k.startswith("PARLEY_")}
    full_env.update(env or {})
    return subprocess.run(
        [sys.executable, "-m", "parley.cli", *args],
        env=full_env,
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=timeout,
    )


def test_committed_schema_matches_the_code():
    committed = (ROOT / "schema.graphql").read_text()
    assert committed == export_schema_sdl(), "schema.graphql is stale: run `parley export-schema`"


def test_export_schema_writes_sdl(tmp_path):
    out = tmp_path / "schema.graphql"
    result = run_cli("export-schema", "-o", str(out))
    assert result.returncode == 0, result.stderr
    assert out.read_text() == export_schema_sdl()


@pytest.mark.parametrize(
    ("env", "expected"),
    [
        (
            {"PARLEY_DATABASE_URL": "mysql://root@localhost/x"},
            "PARLEY_DATABASE_URL: unsupported database scheme 'mysql'",
        ),
        ({"PARLEY_PORT": "eighty"}, "PARLEY_PORT: Input should be a valid integer"),
        ({"PARLEY_REDIS_URL": "http://localhost"}, "unsupported Redis URL"),
        ({"PARLEY_DATABASE_URL": "postgresql+asyncpg://postgres@127.0.0.1:1/nowhere"}, "cannot reach the database"),
        ({"PARLEY_REDIS_URL": "redis://127.0.0.1:1/0"}, "cannot reach Redis at redis://127.0.0.1:1/0"),
        ({"PARLEY_ENV": "production"}, "insecure production configuration"),
        ({"PARLEY_ENV": "production", "PARLEY_DEBUG": "true"}, "PARLEY_DEBUG must be off"),
    ],
)
def test_bad_configuration_ends_with_one_clear_line(env, expected, tmp_path):
    result = run_cli("serve", env={"PARLEY_DATA_DIR": str(tmp_path), **env}, timeout=60)
    assert result.returncode == 2
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("parley: ") and expected in lines[0]
    assert "Traceback" not in result.stderr + result.stdout
    assert "PARLEY_PARLEY_" not in result.stderr


def _start_arguments() -> list[str]:
    """The `parley …` arguments scripts/start ends with (the script itself may first install .venv)."""
    line = next(x for x in (ROOT / "scripts" / "start").read_text().splitlines() if x.startswith("exec parley "))
    args = line.removeprefix("exec parley ").split()
    assert args[-1] == '"$@"'
    return args[:-1]


def test_start_migrates_an_empty_postgresql_database_and_serves_the_demo(database_url, tmp_path):
    """`scripts/start` with PARLEY_DATABASE_URL and PARLEY_REDIS_URL pointing at a new database."""
    import httpx

    from tests.conftest import TEST_REDIS_URL
    from tests.support.server import ProcessServer

    url = TEST_DATABASE_URL + "_start"
    asyncio.run(_recreate_database(url))
    args = _start_arguments()
    assert args[0] == "serve"
    env = {
        "PARLEY_DATABASE_URL": url,
        "PARLEY_REDIS_URL": TEST_REDIS_URL,
        "PARLEY_DATA_DIR": str(tmp_path),
        "PARLEY_DRAMATIQ_NAMESPACE": "parley-start-test",
        "PARLEY_LOG_LEVEL": "WARNING",
    }
    with ProcessServer(env, args=tuple(args[1:])) as live:
        out = live.read_output()
        assert "Traceback" not in out, out
        assert "admin@demo.parley.test" in out and "password:" in out
        resp = httpx.post(live.url + "/graphql", json={"query": "{ serverInfo { name } }"}, timeout=30)
        assert resp.json() == {"data": {"serverInfo": {"name": "Parley"}}}
        page = httpx.get(live.url + "/graphql", headers={"Accept": "text/html"}, timeout=30)
        assert page.status_code == 200 and "graphiql" in page.text.lower()
        # No `parley worker` runs here: ready, and the missing worker is named.
        ready = httpx.get(live.url + "/readyz", timeout=30)
        assert ready.status_code == 200 and ready.json()["degraded"] == ["worker"], ready.text
    assert {"accounts", "conversations", "events"} <= asyncio.run(_db_state(url))[0]


def test_start_says_in_one_line_that_the_database_is_unreachable(tmp_path):
    args = _start_arguments()
    env = {"PARLEY_DATABASE_URL": "postgresql+asyncpg://postgres@127.0.0.1:1/parley", "PARLEY_DATA_DIR": str(tmp_path)}
    result = run_cli(*args, env=env, timeout=60)
    assert result.returncode == 2
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("parley: cannot reach the database at postgresql+asyncpg://127.0.0.1:1/parley: ")
    assert "Traceback" not in result.stderr + result.stdout


async def _db_state(url: str) -> tuple[set[str], set[str]]:
    engine = create_engine(url, pool_size=1, max_overflow=0)
    try:
        async with engine.connect() as conn:
            tables = {
                r[0] for r in await conn.execute(text("SELECT tablename FROM pg_tables WHERE schemaname='public'"))
            }
            enums = {
                r[0]
                for r in await conn.execute(
                    text(
                        "SELECT t.typname FROM pg_type t JOIN pg_namespace n ON n.oid = t.typnamespace "
                        "WHERE n.nspname = 'public' AND t.typtype = 'e'"
                    )
                )
            }
        return tables, enums
    finally:
        await engine.dispose()


def test_migrations_upgrade_downgrade_upgrade_on_postgresql(database_url):
    url = TEST_DATABASE_URL + "_migrations"
    asyncio.run(_recreate_database(url))
    env = {"PARLEY_DATABASE_URL": url}
    assert run_cli("db", "upgrade", env=env).returncode == 0
    tables, _ = asyncio.run(_db_state(url))
    assert {"accounts", "users", "account_memberships"} <= tables
    result = run_cli("db", "downgrade", "base", env=env)
    assert result.returncode == 0, result.stderr
    tables, enums = asyncio.run(_db_state(url))
    assert tables == {"alembic_version"}
    assert enums == set(), "a downgrade left enum types behind"
    result = run_cli("db", "upgrade", env=env)
    assert result.returncode == 0, result.stderr
    assert {"accounts", "users"} <= asyncio.run(_db_state(url))[0]


@pytest.mark.embedded
def test_migrations_run_on_sqlite(tmp_path):
    env = {"PARLEY_DATA_DIR": str(tmp_path)}
    assert run_cli("db", "upgrade", env=env).returncode == 0
    assert (tmp_path / "parley.sqlite3").exists()
    result = run_cli("db", "downgrade", "base", env=env)
    assert result.returncode == 0, result.stderr
    assert run_cli("db", "upgrade", env=env).returncode == 0


@pytest.mark.embedded
def test_seed_demo_prints_logins_and_is_idempotent(tmp_path):
    env = {"PARLEY_DATA_DIR": str(tmp_path)}
    first = run_cli("seed-demo", env=env)
    assert first.returncode == 0, first.stderr
    assert "admin@demo.parley.test" in first.stdout and "password:" in first.stdout
    assert "/widget/demo?token=" in first.stdout  # the demo's website widget, ready to try
    second = run_cli("seed-demo", env=env)
    assert second.returncode == 0
    assert second.stdout == first.stdout  # same logins, nothing duplicated
