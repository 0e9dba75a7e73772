"""Benchmark of the whole product: Parley's `parley serve` on PostgreSQL and Redis under a
closed-loop load (wrk), scenario by scenario, each against a raw floor (Starlette + asyncpg,
hand-written SQL) on the same data in the same run, printed as a table and saved as JSON.

    python -m bench.product                      # full scale: 50,000 conversations, 500,000 messages
    python -m bench.product --scale 0.02 --duration 5
    python -m bench.product --no-seed --scenario dashboard,fanout
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import json
import math
import os
import secrets
import subprocess
import sys
import threading
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from urllib.parse import urlsplit

import httpx

from bench.product import fanout, load, probes, scenarios, seed
from bench.product.scenarios import Scenario

ROOT = Path(__file__).resolve().parents[2]
RESULTS = ROOT / "bench" / "results"
DEFAULT_URL = "postgresql+asyncpg://postgres@127.0.0.1:5432/parley_bench"
SCALES = {"full": 1.0}


def say(message: str = "", end: str = "\n") -> None:
    print(message, end=end, flush=True)


class Step:
    """One line per step: its label, then how long it took."""

    def __init__(self, label: str) -> None:
        self.label = label

    def __enter__(self) -> Step:
        self.start = time.perf_counter()
        say(f"  {self.label} …", end="")
        return self

    def __exit__(self, *exc) -> None:
        say(f" {time.perf_counter() - self.start:.1f} s")


class Ticker:
    """Seconds elapsed of a measured run, redrawn in place on a terminal (silent in a log)."""

    def __init__(self, label: str, seconds: float) -> None:
        self.label, self.seconds = label, seconds
        self.stop = threading.Event()

    def __enter__(self) -> Ticker:
        self.start = time.monotonic()
        if sys.stdout.isatty():
            threading.Thread(target=self._draw, daemon=True).start()
        return self

    def _draw(self) -> None:
        while not self.stop.wait(0.5):
            say(f"\r    {self.label}: {time.monotonic() - self.start:4.0f}/{self.seconds:.0f} s", end="")

    def __exit__(self, *exc) -> None:
        self.stop.set()
        if sys.stdout.isatty():
            say("\r" + " " * 70 + "\r", end="")


def gid(type_name: str, pk: int) -> str:
    return base64.urlsafe_b64encode(f"{type_name}:{pk}".encode()).decode().rstrip("=")


def dsn(url: str) -> str:
    return url.replace("postgresql+asyncpg://", "postgresql://", 1)


def scale_of(value: str) -> float:
    return SCALES.get(value) or float(value)


# ---------------------------------------------------------------------------------------------- seeding


async def seed_database(url: str, scale: seed.Scale, secret_key: str) -> dict:
    import asyncpg
    from sqlalchemy import text

    from bench.reports import derive_reporting_events, recreate
    from db.migrate import upgrade
    from db.session import create_engine, create_session_factory
    from domain.reports import recorder
    from infra.settings import Settings

    say(f"seeding {scale.describe()}")
    with Step("database created and migrated"):
        await recreate(url)
        await asyncio.to_thread(upgrade, url)
    conn = await asyncpg.connect(dsn(url), server_settings={"application_name": "bench"})
    try:
        await conn.execute(
            "SET synchronous_commit = off; SET maintenance_work_mem = '256MB'; SET work_mem = '64MB'; "
            "SET max_parallel_workers_per_gather = 0; SET client_min_messages = warning"
        )
        import bcrypt

        pw = bcrypt.hashpw(b"bench-password", bcrypt.gensalt(rounds=12)).decode()
        for label, sql in seed.steps(scale, pw):
            with Step(label):
                await conn.execute(sql)
        settings = Settings(_env_file=None, secret_key=secret_key, database_url=url)
        with Step("inbox secrets sealed, API tokens created"):
            await seed.seal_inbox_secrets(conn, settings)
            tokens = await seed.create_tokens(conn, 1)
        counts = json.loads(await conn.fetchval(seed.counts_sql()))
    finally:
        await conn.close()
    engine = create_engine(url, pool_size=2, max_overflow=0)
    try:
        with Step("reporting events derived"):
            async with engine.begin() as c:
                await derive_reporting_events(c)
        with Step("daily roll-ups rebuilt"):
            sessions = create_session_factory(engine)
            async with sessions() as session:
                for account_id in range(1, scale.noise_accounts + 2):
                    await recorder.rebuild_rollups(session, account_id)
                await session.commit()
        with Step("VACUUM ANALYZE"):
            async with engine.connect() as c:
                await c.execution_options(isolation_level="AUTOCOMMIT")
                await c.execute(text("VACUUM ANALYZE"))
    finally:
        await engine.dispose()
    say("  " + ", ".join(f"{k}: {v:,}" for k, v in counts.items()))
    return {"tokens": {str(k): v for k, v in tokens.items()}, "counts": counts}


# ---------------------------------------------------------------------------------------------- processes


class Processes:
    """The server under test, the floor and the private Redis: started here, stopped on exit."""

    def __init__(self) -> None:
        self.procs: list[subprocess.Popen] = []

    def spawn(self, cmd: list[str], env: dict[str, str], log: Path) -> subprocess.Popen:
        handle = log.open("w")
        proc = subprocess.Popen(cmd, env=env, cwd=ROOT, stdout=handle, stderr=subprocess.STDOUT)
        self.procs.append(proc)
        return proc

    def stop(self) -> None:
        """Last started, first stopped: the server goes before the Redis it uses."""
        for proc in reversed(self.procs):
            if proc.poll() is None:
                proc.terminate()
            try:
                proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(timeout=5)


def server_env(url: str, redis_url: str, port: int, secret_key: str, counts_path: Path) -> dict[str, str]:
    env = {
        k: v for k, v in os.environ.items() if not k.startswith("PARLEY_") and k not in ("DATABASE_URL", "REDIS_URL")
    }
    env.update(
        {
            "PARLEY_ENV": "production",
            "PARLEY_SECRET_KEY": secret_key,
            "PARLEY_DATABASE_URL": url,
            "PARLEY_REDIS_URL": redis_url,
            "PARLEY_HOST": "127.0.0.1",
            "PARLEY_PORT": str(port),
            "PARLEY_PUBLIC_URL": f"http://127.0.0.1:{port}",
            "PARLEY_LOG_LEVEL": "WARNING",
            "PARLEY_WORKER_IN_PROCESS": "false",
            # The bench must measure the server, not its throttles.
            "PARLEY_RATE_LIMIT_ANONYMOUS_PER_MINUTE": "0",
            "PARLEY_RATE_LIMIT_AUTHENTICATED_PER_MINUTE": "0",
            "PARLEY_RATE_LIMIT_IP_PER_MINUTE": "0",
            "PARLEY_QUERY_COST_BUDGET_PER_HOUR": str(10**12),
            "PARLEY_WS_MAX_MESSAGES_PER_MINUTE": "100000",
            "BENCH_SQL_COUNTS": str(counts_path),
        }
    )
    # BENCH_PARLEY_<NAME> reaches the server as PARLEY_<NAME>, e.g. BENCH_PARLEY_FAST_READS=false.
    env.update({k.removeprefix("BENCH_"): v for k, v in os.environ.items() if k.startswith("BENCH_PARLEY_")})
    return env


# ---------------------------------------------------------------------------------------------- one measured run


class Side:
    """Parley or the floor: where requests go and how its costs are read."""

    def __init__(self, name: str, base: str, pid: int, statements) -> None:
        self.name, self.base, self.pid, self.statements = name, base, pid, statements


async def pg_backend_cpu(conn, floor: bool) -> dict[int, float]:
    rows = await conn.fetch(
        "SELECT pid FROM pg_stat_activity WHERE datname = current_database() AND backend_type = 'client backend' "
        "AND application_name " + ("= 'bench-floor'" if floor else "NOT IN ('bench', 'bench-floor')")
    )
    out = {}
    for r in rows:
        try:
            out[r["pid"]] = probes.cpu_seconds(r["pid"])
        except (FileNotFoundError, ProcessLookupError):
            pass
    return out


async def measure(
    side: Side, requests, *, connections: int, duration: float, warmup: float, wrk: str, redis, pg
) -> dict:
    if warmup > 0:
        await asyncio.to_thread(load.run, wrk, side.base, requests, connections=connections, duration=warmup)
    # What the warm-up left in flight must not be billed to the measured run.
    await asyncio.to_thread(probes.wait_idle, side.pid)
    # The rows every write updates (the account's event counter, the conversations' activity) pile up
    # dead versions run after run where autovacuum is off (CI's PostgreSQL), slowing both sides alike
    # as they go; each run starts from vacuumed tables, as autovacuum would keep them.
    await pg.execute("VACUUM accounts, conversations")
    cpu0 = probes.cpu_seconds(side.pid)
    sql0 = await side.statements()
    red0 = await probes.redis_commands(redis)
    pg0 = await pg_backend_cpu(pg, side.name == "floor")
    with Ticker(f"{side.name} c={connections}", duration):
        result = await asyncio.to_thread(load.run, wrk, side.base, requests, connections=connections, duration=duration)
    cpu1 = probes.cpu_seconds(side.pid)
    sql1 = await side.statements()
    red1 = await probes.redis_commands(redis)
    pg1 = await pg_backend_cpu(pg, side.name == "floor")
    # Answers refused under overload (503) or otherwise not 2xx are counted as errors, not as requests served;
    # what they cost is billed to the requests that were served.
    n = max(result["requests"] - result["status"], 1)
    seconds = result["duration_us"] / 1e6
    sql = probes.delta(sql1, sql0)
    return {
        "requests": result["requests"],
        "served": result["requests"] - result["status"],
        "rps": (result["requests"] - result["status"]) / seconds,
        "p50_ms": result["p50_us"] / 1000,
        "p90_ms": result["p90_us"] / 1000,
        "p95_ms": result["p95_us"] / 1000,
        "p99_ms": result["p99_us"] / 1000,
        "errors": result["connect"] + result["read"] + result["write"] + result["timeout"] + result["status"],
        "non2xx": result["status"],
        "cpu_ms": (cpu1 - cpu0) / n * 1000,
        "cpu_pct": (cpu1 - cpu0) / seconds * 100,
        "pg_cpu_ms": sum(v - pg0.get(k, 0.0) for k, v in pg1.items()) / n * 1000,
        "sql": sql.get("statements", 0) / n,
        "sql_all": sum(v for k, v in sql.items() if not k.startswith("redis")) / n,
        "redis_trips": sql.get("redis_round_trips", float("nan")) / n,
        "sql_counts": sql,
        "redis": (red1 - red0) / n,
    }


# ---------------------------------------------------------------------------------------------- main


def build_scenarios(ids: dict, agents: list[int], admin: int) -> list[Scenario]:
    today = datetime.now(UTC).date()
    year = {
        "input": {"since": (today - timedelta(days=364)).isoformat(), "until": today.isoformat(), "groupBy": "MONTH"}
    }
    floor_year = {"since": year["input"]["since"], "until": year["input"]["until"]}
    long_ids = ids["long"]
    dash = [{"status": "OPEN", "first": 25}]
    fdash = [{"status": "open", "first": 25}]
    out = []
    for c in (16, 64):
        out.append(
            Scenario(
                f"dashboard-c{c}",
                "dashboard list, ad-hoc document",
                scenarios.DASHBOARD,
                "/dashboard",
                c,
                dash,
                fdash,
                expect="conversations",
            )
        )
    for c in (16, 64):
        out.append(
            Scenario(
                f"dashboard-persisted-c{c}",
                "dashboard list, persisted (APQ hash)",
                scenarios.DASHBOARD,
                "/dashboard",
                c,
                dash,
                fdash,
                persisted=True,
                expect="conversations",
            )
        )
    # status, a label and a custom attribute, all as filter conditions (the seed's `plan` list attribute)
    conditions = [
        {"attributeKey": "status", "filterOperator": "equal_to", "values": ["open"], "queryOperator": "and"},
        {"attributeKey": "labels", "filterOperator": "equal_to", "values": ["billing"], "queryOperator": "and"},
        {"attributeKey": "plan", "filterOperator": "equal_to", "values": ["pro"]},
    ]
    out.append(
        Scenario(
            "dashboard-filtered-c16",
            "dashboard list, status + label + custom attribute conditions",
            scenarios.FILTERED,
            "/dashboard-filtered",
            16,
            [{"status": None, "first": 25, "conditions": conditions}],
            [{"status": "open", "label": "billing", "plan": "pro", "first": 25}],
            expect="conversations",
        )
    )
    out.append(
        Scenario(
            "conversation-c16",
            "conversation + 50 newest messages",
            scenarios.CONVERSATION,
            "/conversation",
            16,
            [{"id": gid("Conversation", pk), "first": 50} for pk in long_ids],
            [{"pk": pk, "first": 50} for pk in long_ids],
            expect="conversation",
        )
    )
    out.append(
        Scenario(
            "message-create-c16",
            "messageCreate (message, event, outbox)",
            scenarios.MESSAGE_CREATE,
            "/message",
            16,
            [
                {"input": {"conversationId": gid("Conversation", pk), "content": f"Bench reply {i}"}}
                for i, pk in enumerate(ids["open"])
            ],
            [{"pk": pk, "content": f"Bench reply {i}"} for i, pk in enumerate(ids["open"])],
            expect="messageCreate",
        )
    )
    out.append(
        Scenario(
            "search-c16",
            "conversation search (text in messages)",
            scenarios.SEARCH,
            "/search",
            16,
            [{"search": "refund", "first": 25}],
            [{"search": "refund", "first": 25}],
            expect="conversations",
        )
    )
    # Each at 16 connections (throughput on this machine's two cores) and at 4 (the latency an agent
    # sees while a few colleagues search at the same moment).
    for connections in (16, 4):
        for name, label, query in (
            ("search-word", "search: one word", "refund"),
            ("search-words", "search: two words", "password reset"),
            ("search-phrase", "search: a quoted phrase", '"march invoice"'),
            ("search-short", "search: two characters", "ma"),
        ):
            out.append(
                Scenario(
                    f"{name}-c{connections}",
                    label,
                    scenarios.GLOBAL_SEARCH,
                    "/global-search",
                    connections,
                    [{"query": query, "first": 10}],
                    [{"query": query, "first": 10}],
                    expect="search",
                )
            )
    out.append(
        Scenario(
            "report-c4",
            "a year's report by month",
            scenarios.REPORT,
            "/report",
            4,
            [year],
            [floor_year],
            admin=True,
            expect="report",
        )
    )
    return out


def requests_for(sc: Scenario, side: str, tokens: dict[str, str], agents: list[int], admin: int) -> list:
    users = [admin] if sc.admin else agents
    reqs = []
    variables = sc.variables if side == "parley" else sc.floor_variables
    for i in range(max(len(variables), len(users))):
        user = users[i % len(users)]
        v = variables[i % len(variables)]
        if side == "parley":
            headers = {
                "Content-Type": "application/json",
                "Authorization": f"Bearer {tokens[str(user)]}",
                "X-Parley-Account": gid("Account", 1),
            }
            reqs.append(("/graphql", headers, sc.body(v)))
        else:
            reqs.append((sc.floor_path, {"Content-Type": "application/json", "X-Bench-User": str(user)}, json.dumps(v)))
    return reqs


class BenchError(Exception):
    """A side answered something other than what the scenario expects: its figures would mean nothing."""


def check(answer: dict, expect: str, where: str) -> None:
    if answer.get("errors") or not (answer.get("data") or {}).get(expect):
        raise BenchError(f"{where} answered {json.dumps(answer)[:600]}")
    inner = answer["data"][expect]
    if isinstance(inner, dict) and inner.get("errors"):
        raise BenchError(f"{where} answered {json.dumps(answer)[:600]}")


def fmt(value: float, digits: int = 1) -> str:
    if math.isnan(value):
        return "–"
    return f"{value:,.{digits}f}"


def print_table(rows: list[dict], fan: list[dict], meta: dict) -> None:
    say("")
    say(f"Parley vs raw floor — {meta['scale']}, {meta['duration']:.0f} s per run, SQL counted by {meta['sql_mode']}")
    head = (
        "scenario",
        "side",
        "conc",
        "req/s",
        "p50 ms",
        "p95 ms",
        "p99 ms",
        "CPU ms/req",
        "PG ms/req",
        "SQL/req (data/all)",
        "Redis cmds/trips",
        "errors",
        "× floor",
    )
    table = []
    for r in rows:
        for side in ("parley", "floor"):
            m = r[side]
            table.append(
                (
                    r["name"] if side == "parley" else "",
                    side,
                    str(r["connections"]),
                    fmt(m["rps"], 0),
                    fmt(m["p50_ms"]),
                    fmt(m.get("p95_ms", float("nan"))),
                    fmt(m["p99_ms"]),
                    fmt(m["cpu_ms"], 2),
                    fmt(m["pg_cpu_ms"], 2),
                    f"{m['sql']:.2f} / {m['sql_all']:.2f}",
                    f"{fmt(m['redis'], 2)} / {fmt(m['redis_trips'], 2)}",
                    str(m["errors"]),
                    f"{r['ratio']:.2f}× req/s" if side == "parley" else "",
                )
            )
    for f in fan:
        for side in ("parley", "floor"):
            m = f[side]
            table.append(
                (
                    f"fan-out {m['sockets']} sockets" if side == "parley" else "",
                    side,
                    str(m["opened"]),
                    f"{m['delivered']}/{m['expected']}",
                    fmt(m["p50_ms"]),
                    fmt(m.get("p95_ms", float("nan"))),
                    fmt(m["p99_ms"]),
                    fmt(m["cpu_ms_per_event"], 1) + "/ev",
                    "",
                    f"{m.get('sql', 0):.1f}/ev",
                    f"{m.get('redis', 0):.1f} / {fmt(m.get('redis_trips', float('nan')))}/ev",
                    str(m["expected"] - m["delivered"]),
                    f"{f['ratio']:.2f}× p99" if side == "parley" else "",
                )
            )
    widths = [max(len(h), *(len(t[i]) for t in table)) if table else len(h) for i, h in enumerate(head)]
    line = "  ".join(h.ljust(w) if i < 2 else h.rjust(w) for i, (h, w) in enumerate(zip(head, widths, strict=False)))
    say(line)
    say("-" * len(line))
    for t in table:
        say("  ".join(c.ljust(w) if i < 2 else c.rjust(w) for i, (c, w) in enumerate(zip(t, widths, strict=False))))
    for f in fan:
        p, fl = f["parley"], f["floor"]
        for side, m in (("Parley", p), ("floor", fl)):
            if m["open_failures"]:
                say(
                    f"fan-out: {side} refused or dropped {m['open_failures']} of {m['sockets']} sockets while they "
                    f"subscribed ({'; '.join(m['open_errors'][:2])})"
                )
            if m["send_failures"]:
                say(
                    f"fan-out: {m['send_failures']} of {m['rounds'] + 1} messages to {side} failed ({m['send_errors'][0]})"
                )
        say(
            f"fan-out, idle subscribed sockets: Parley {fmt(p['rss_per_socket_kb'])} KB/socket, "
            f"{fmt(p['idle_cpu_pct_sockets'], 2)} % of a core for {p['sockets']} sockets "
            f"(idle {fmt(p['idle_cpu_pct_before'], 2)} % → {fmt(p['idle_cpu_pct_with'], 2)} %); "
            f"floor {fmt(fl['rss_per_socket_kb'])} KB/socket, {fmt(fl['idle_cpu_pct_sockets'], 2)} %; "
            f"{p['sockets']} sockets connected and subscribed in {fmt(p.get('connect_s', float('nan')), 2)} s "
            f"(floor {fmt(fl.get('connect_s', float('nan')), 2)} s)"
        )
    say(
        "× floor: req/s of Parley ÷ req/s of the floor (higher is better); for fan-out p99 of Parley ÷ p99 of the floor "
        "(lower is better). CPU: the server process; PG: its PostgreSQL backends; SQL data = statements, all = with "
        "BEGIN/COMMIT and pool pings; Redis: commands (INFO commandstats) / round trips (a pipeline is one)."
    )


async def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.product", description=__doc__.split("\n\n")[0])
    parser.add_argument("--scale", default="full", help="full, or a fraction of it such as 0.1 or 0.01 (default full)")
    parser.add_argument(
        "--scenario",
        default="",
        help="comma-separated names or prefixes: dashboard, dashboard-persisted, "
        "conversation, message-create, search, report, fanout (default: all)",
    )
    parser.add_argument("--no-seed", action="store_true", help="measure the database a previous run seeded")
    parser.add_argument("--duration", type=float, default=15.0, help="seconds per measured run (default 15)")
    parser.add_argument(
        "--warmup", type=float, default=None, help="seconds of load before each run (default duration/3)"
    )
    parser.add_argument("--sockets", type=int, default=1000, help="subscribed sockets for the fan-out (default 1000)")
    parser.add_argument("--rounds", type=int, default=20, help="messages sent in the fan-out (default 20)")
    parser.add_argument(
        "--database-url", default=DEFAULT_URL, help="a PostgreSQL database of its own (dropped and recreated)"
    )
    parser.add_argument(
        "--output", default="", help="the JSON results file (default bench/results/product-<time>.json)"
    )
    args = parser.parse_args(argv)
    warmup = args.duration / 3 if args.warmup is None else args.warmup
    wanted = [w.strip() for w in args.scenario.split(",") if w.strip()]

    wrk = load.ensure_wrk()
    RESULTS.mkdir(parents=True, exist_ok=True)
    dbname = urlsplit(args.database_url).path.lstrip("/")
    state_path = RESULTS / f"state-{dbname}.json"
    factor = scale_of(args.scale)
    scale = seed.Scale(factor=factor)
    if args.no_seed:
        if not state_path.exists():
            raise SystemExit(f"bench: no earlier seed of {dbname} (missing {state_path}); run without --no-seed")
        state = json.loads(state_path.read_text())
        scale = seed.Scale(factor=state["factor"])
        say(f"product benchmark on the database seeded earlier: {scale.describe()}")
    else:
        secret_key = secrets.token_urlsafe(48)
        state = {"factor": factor, "secret_key": secret_key}
        state.update(await seed_database(args.database_url, scale, secret_key))
        state_path.write_text(json.dumps(state))

    import asyncpg
    import redis.asyncio as aioredis

    pg = await asyncpg.connect(dsn(args.database_url), server_settings={"application_name": "bench"})
    pg_stat = await probes.SqlCounter.available(pg)
    counter = probes.SqlCounter(pg_stat, dbname)
    procs = Processes()
    redis_server = probes.RedisServer().start()
    procs.procs.append(redis_server.proc)
    redis = aioredis.from_url(redis_server.url)
    logs = RESULTS / "logs"
    logs.mkdir(exist_ok=True)
    rows: list[dict] = []
    fan: list[dict] = []
    failures: list[str] = []
    try:
        say("starting Parley (parley serve, production settings), the floor and a private Redis")
        port, floor_port = probes.free_port(), probes.free_port()
        counts_path = RESULTS / "logs" / "server-sql-counts.json"
        env = server_env(args.database_url, redis_server.url, port, state["secret_key"], counts_path)
        cmd = [sys.executable, "-m", "bench.product.serve"]
        server = procs.spawn(cmd, env, logs / "server.log")
        floor_env = {**os.environ, "BENCH_FLOOR_DSN": dsn(args.database_url), "BENCH_FLOOR_REDIS": redis_server.url}
        floor = procs.spawn(
            [
                sys.executable,
                "-m",
                "bench.product.floor",
                "--dsn",
                dsn(args.database_url) + "?application_name=bench-floor",
                "--redis",
                redis_server.url,
                "--port",
                str(floor_port),
            ],
            floor_env,
            logs / "floor.log",
        )
        with Step("both listening"):
            probes.wait_port(port, 120, server)
            probes.wait_port(floor_port, 60, floor)
        parley_base, floor_base = f"http://127.0.0.1:{port}", f"http://127.0.0.1:{floor_port}"

        async def parley_statements():
            own = await asyncio.to_thread(probes.SqlCounter.server_snapshot, server.pid, counts_path)
            if pg_stat:
                return {**await counter.pg_snapshot(pg), "redis_round_trips": own["redis_round_trips"]}
            return own

        async def floor_statements():
            async with httpx.AsyncClient() as c:
                own = (await c.get(floor_base + "/stats")).json()
            if pg_stat:
                return {**await counter.pg_snapshot(pg), "redis_round_trips": own["redis_round_trips"]}
            return own

        sides = {
            "parley": Side("parley", parley_base, server.pid, parley_statements),
            "floor": Side("floor", floor_base, floor.pid, floor_statements),
        }

        members = await pg.fetch("SELECT user_id, role FROM account_memberships WHERE account_id = 1 ORDER BY user_id")
        agents = [r["user_id"] for r in members if r["role"] == "agent"]
        admin = next(r["user_id"] for r in members if r["role"] == "administrator")
        ids = {
            "long": [
                r["id"]
                for r in await pg.fetch(
                    "SELECT id FROM conversations WHERE account_id = 1 ORDER BY id LIMIT $1", scale.long_conversations
                )
            ],
            "open": [
                r["id"]
                for r in await pg.fetch(
                    "SELECT id FROM conversations WHERE account_id = 1 AND status = 'open' ORDER BY id DESC LIMIT 200"
                )
            ],
        }
        tokens = state["tokens"]
        all_scenarios = build_scenarios(ids, agents, admin)

        def selected(name: str) -> bool:
            return not wanted or any(name.startswith(w) for w in wanted)

        todo = [sc for sc in all_scenarios if selected(sc.name)]
        async with httpx.AsyncClient(timeout=60) as client:
            for sc in todo:
                try:
                    await run_scenario(sc, sides, tokens, agents, admin, client, args, warmup, wrk, redis, pg, rows)
                except Exception as exc:  # noqa: BLE001 - the other scenarios still run, the table is still printed
                    say(f"\nbench: {sc.name} failed: {type(exc).__name__}: {exc}")
                    failures.append(f"{sc.name}: {type(exc).__name__}: {exc}")

            if selected("fanout"):
                try:
                    fan.append(await run_fanout(args, sides, tokens, agents, ids, client, redis))
                except Exception as exc:  # noqa: BLE001 - the HTTP scenarios' figures still deserve their table
                    say(f"\nbench: the fan-out failed: {type(exc).__name__}: {exc}")
                    failures.append(f"fanout: {type(exc).__name__}: {exc}")
    finally:
        procs.stop()
        await pg.close()
        await redis.aclose()

    meta = {
        "scale": scale.describe(),
        "factor": scale.factor,
        "duration": args.duration,
        "warmup": warmup,
        "sql_mode": counter.mode,
        "when": datetime.now(UTC).isoformat(),
        "load": os.getloadavg(),
        "cpus": os.cpu_count(),
    }
    print_table(rows, fan, meta)
    for failure in failures:
        say(f"failed: {failure}")
    out = Path(args.output) if args.output else RESULTS / f"product-{datetime.now(UTC):%Y%m%dT%H%M%SZ}.json"
    out.write_text(json.dumps({"meta": meta, "scenarios": rows, "fanout": fan, "failures": failures}, indent=2))
    say(f"results: {out}")
    return 1 if failures else 0


async def run_scenario(sc, sides, tokens, agents, admin, client, args, warmup, wrk, redis, pg, rows) -> None:
    say(f"{sc.name}: {sc.label}, {sc.connections} connections")
    for side in ("parley", "floor"):
        reqs = requests_for(sc, side, tokens, agents, admin)
        path, headers, body = reqs[0]
        if side == "parley" and sc.persisted:
            # Apollo's protocol: a hash the server does not know yet is answered PERSISTED_QUERY_NOT_FOUND,
            # and the client sends it again with the document, which registers it.
            first = (await client.post(sides["parley"].base + path, headers=headers, content=body)).json()
            code = (first.get("errors") or [{}])[0].get("extensions", {}).get("code")
            if code == "PERSISTED_QUERY_NOT_FOUND":
                await client.post(
                    sides["parley"].base + path, headers=headers, content=sc.register_body(sc.variables[0])
                )
            elif first.get("errors"):
                raise BenchError(f"a persisted query answered {json.dumps(first)[:300]}")
        answer = (await client.post(sides[side].base + path, headers=headers, content=body)).json()
        check(answer, sc.expect, f"{side} {sc.name}")
        if sc.expect == "conversations":
            sc.notes[side] = [n["id"] for n in answer["data"]["conversations"]["nodes"]]
        elif sc.expect == "search":
            sc.notes[side] = [h["message"]["id"] for h in answer["data"]["search"]["messages"]]
    if "parley" in sc.notes and sc.notes.get("parley") != sc.notes.get("floor"):
        say(
            f"  note: Parley and the floor list different conversations "
            f"({len(sc.notes['parley'])} vs {len(sc.notes['floor'])})"
        )
    row = {"name": sc.name, "label": sc.label, "connections": sc.connections}
    for side in ("parley", "floor"):
        row[side] = await measure(
            sides[side],
            requests_for(sc, side, tokens, agents, admin),
            connections=sc.connections,
            duration=args.duration,
            warmup=warmup,
            wrk=wrk,
            redis=redis,
            pg=pg,
        )
        m = row[side]
        say(
            f"    {side:6}  {m['rps']:8,.0f} req/s  p50 {m['p50_ms']:6.1f} ms  p95 {m['p95_ms']:6.1f} ms  p99 {m['p99_ms']:7.1f} ms  "
            f"CPU {m['cpu_ms']:5.2f} ms/req  SQL {m['sql']:.2f}/{m['sql_all']:.2f}  Redis {m['redis']:.2f}/{m['redis_trips']:.2f}"
            f"  errors {m['errors']}"
        )
    row["ratio"] = row["parley"]["rps"] / row["floor"]["rps"] if row["floor"]["rps"] else float("nan")
    rows.append(row)


async def run_fanout(args, sides, tokens, agents, ids, client, redis) -> dict:
    say(f"fanout: one messageCreate to {args.sockets} subscribed agent sockets, {args.rounds} rounds")
    conversation = ids["open"][0]
    writer = agents[0]
    idle = min(10.0, max(3.0, args.duration / 2))
    result = {}
    for side in ("parley", "floor"):
        s = sides[side]
        ws_base = s.base.replace("http://", "ws://")
        if side == "parley":
            inits = [
                {"token": tokens[str(agents[i % len(agents)])], "accountId": gid("Account", 1)}
                for i in range(args.sockets)
            ]
            url, document = ws_base + "/graphql", scenarios.ACCOUNT_EVENTS
            headers = {
                "Content-Type": "application/json",
                "Authorization": f"Bearer {tokens[str(writer)]}",
                "X-Parley-Account": gid("Account", 1),
            }

            async def send(content, headers=headers, s=s):
                body = {
                    "query": scenarios.MESSAGE_CREATE,
                    "variables": {"input": {"conversationId": gid("Conversation", conversation), "content": content}},
                }
                answer = (await client.post(s.base + "/graphql", headers=headers, json=body)).json()
                if answer.get("errors") or not (answer.get("data") or {}).get("messageCreate", {}).get("message"):
                    raise RuntimeError(json.dumps(answer.get("errors") or answer)[:300])
        else:
            inits = [{} for _ in range(args.sockets)]
            url, document = ws_base + "/ws", scenarios.ACCOUNT_EVENTS

            async def send(content, s=s):
                await client.post(
                    s.base + "/message",
                    json={"pk": conversation, "content": content},
                    headers={"X-Bench-User": str(writer)},
                )

        async def counters(s=s):
            return await s.statements(), await probes.redis_commands(redis)

        m = await fanout.run(
            side=side,
            ws_url=url,
            inits=inits,
            document=document,
            pid=s.pid,
            send=send,
            rounds=args.rounds,
            idle_seconds=idle,
            say=say,
            counters=counters,
        )
        result[side] = m
        say(
            f"    {side:6}  {m['opened']}/{m['sockets']} sockets, delivered {m['delivered']}/{m['expected']}  p50 {m['p50_ms']:.1f} ms  p99 {m['p99_ms']:.1f} ms  "
            f"{m['rss_per_socket_kb']:.1f} KB/socket  idle sockets {m['idle_cpu_pct_sockets']:.2f} % of a core  "
            f"connected in {m['connect_s']:.2f} s"
        )
    result["ratio"] = (
        result["parley"]["p99_ms"] / result["floor"]["p99_ms"] if result["floor"]["p99_ms"] else float("nan")
    )
    return result


if __name__ == "__main__":
    sys.exit(asyncio.run(main()))
