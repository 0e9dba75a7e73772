"""What the product benchmark reads around each measured run: CPU time and memory of a process from
/proc, Redis commands from `INFO commandstats`, SQL statements from pg_stat_statements or from the
processes' own counters, and a private redis-server so the command counts are the bench's alone."""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import time
from pathlib import Path

import asyncpg

TICK = os.sysconf("SC_CLK_TCK")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def cpu_seconds(pid: int) -> float:
    """User + system CPU of a process and its reaped children."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12]) + int(fields[13]) + int(fields[14])) / TICK


def rss_bytes(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) * 1024
    return 0


def wait_idle(pid: int, *, busy_below: float = 0.05, step: float = 0.25, timeout: float = 30.0) -> float:
    """Wait until a process uses less than `busy_below` of a core over `step` seconds (the requests a
    load generator left in flight have been answered); returns the seconds waited."""
    start = time.monotonic()
    last = cpu_seconds(pid)
    while time.monotonic() - start < timeout:
        time.sleep(step)
        now = cpu_seconds(pid)
        if now - last < busy_below * step:
            break
        last = now
    return time.monotonic() - start


def wait_port(port: int, timeout: float, proc: subprocess.Popen | None = None) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc is not None and proc.poll() is not None:
            raise RuntimeError(f"process exited with {proc.returncode} before listening on {port}")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.2):
                return
        except OSError:
            time.sleep(0.1)
    raise TimeoutError(f"nothing listens on port {port} after {timeout:.0f} s")


class RedisServer:
    """A private redis-server (no persistence) on a free port."""

    def __init__(self) -> None:
        self.binary = shutil.which("redis-server")
        if self.binary is None:
            raise SystemExit("bench: redis-server is not installed (Debian: apt-get install -y redis-server)")
        self.port = free_port()
        self.proc: subprocess.Popen | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> RedisServer:
        self.proc = subprocess.Popen(
            [
                self.binary,
                "--port",
                str(self.port),
                "--bind",
                "127.0.0.1",
                "--save",
                "",
                "--appendonly",
                "no",
                "--maxclients",
                "10000",
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        wait_port(self.port, 10, self.proc)
        return self

    def stop(self) -> None:
        if self.proc is not None:
            self.proc.terminate()
            self.proc.wait(timeout=10)
            self.proc = None


async def redis_commands(client) -> int:
    """Commands Redis has run so far, not counting the INFO calls that ask."""
    stats = await client.info("commandstats")
    return sum(v["calls"] for k, v in stats.items() if k != "cmdstat_info")


class SqlCounter:
    """Statements a process sent: pg_stat_statements when the server preloads it (mode 'pg_stat_statements',
    filtered to the bench database), else the process's own counter (mode 'process'): the server's through
    SIGUSR1 and BENCH_SQL_COUNTS (bench.product.serve), the floor's through GET /stats."""

    def __init__(self, pg_stat: bool, dbname: str) -> None:
        self.mode = "pg_stat_statements" if pg_stat else "process"
        self.dbname = dbname

    @staticmethod
    async def available(conn) -> bool:
        try:
            await conn.execute("CREATE EXTENSION IF NOT EXISTS pg_stat_statements")
            await conn.fetchval("SELECT count(*) FROM pg_stat_statements")
            return True
        except asyncpg.PostgresError:
            return False

    async def pg_snapshot(self, conn) -> dict[str, int]:
        rows = await conn.fetch(
            "SELECT s.query, s.calls FROM pg_stat_statements s JOIN pg_database d ON d.oid = s.dbid "
            "WHERE d.datname = $1 AND s.query NOT ILIKE '%pg_stat_statements%'",
            self.dbname,
        )
        out = {"statements": 0, "begin": 0, "commit": 0, "rollback": 0, "checkout": 0}
        for r in rows:
            q = r["query"].strip().lower().rstrip(";")
            key = (
                "begin"
                if q.startswith("begin")
                else "commit"
                if q.startswith("commit")
                else "rollback"
                if q.startswith("rollback")
                else "checkout"
                if q in ("", "select $1")
                else "statements"
            )
            out[key] += r["calls"]
        return out

    @staticmethod
    def server_snapshot(pid: int, path: Path) -> dict[str, int]:
        before = path.stat().st_mtime_ns if path.exists() else 0
        os.kill(pid, signal.SIGUSR1)
        deadline = time.monotonic() + 5
        while time.monotonic() < deadline:
            if path.exists() and path.stat().st_mtime_ns != before:
                try:
                    return json.loads(path.read_text())
                except ValueError:
                    pass
            time.sleep(0.01)
        raise TimeoutError("the server did not report its statement counts")


def delta(after: dict[str, int], before: dict[str, int]) -> dict[str, int]:
    return {k: after.get(k, 0) - before.get(k, 0) for k in after}
