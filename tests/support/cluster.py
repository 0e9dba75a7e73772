"""A private PostgreSQL cluster on a free port, for tests that restart the database under load, and
its hot standby (streaming replication on loopback) for the read-replica tests.

It lives in a temporary directory owned by the `postgres` OS user (PostgreSQL refuses to run as
root), listens on loopback only and trusts local connections, so restarting it — politely or as a
crash — disturbs no other database on the machine. Durability against a machine crash is traded
for speed (`fsync=off`, which a process crash does not touch: the kernel still holds the WAL), but
commits stay synchronous: with `synchronous_commit=off` an immediate shutdown loses commits that
were already acknowledged, and the suite would rightly call them lost writes."""

from __future__ import annotations

import os
import pwd
import shutil
import subprocess
import tempfile
import time
from pathlib import Path

from tests.support.server import free_port


def _bin_dir() -> Path:
    versions = sorted(Path("/usr/lib/postgresql").glob("*/bin/pg_ctl"), key=lambda p: int(p.parent.parent.name))
    if not versions:
        found = shutil.which("pg_ctl")
        if found:
            return Path(found).resolve().parent
        raise RuntimeError("PostgreSQL server binaries (initdb, pg_ctl) are not installed")
    return versions[-1].parent


class PostgresCluster:
    def __init__(self, database: str = "parley") -> None:
        self.bin = _bin_dir()
        self.port = free_port()
        self.database = database
        self.root = Path(tempfile.mkdtemp(prefix="parley-pg-"))
        self.data = self.root / "data"
        self.log = self.root / "server.log"
        self._as_postgres: list[str] = []
        if os.geteuid() == 0:
            user = pwd.getpwnam("postgres")
            os.chown(self.root, user.pw_uid, user.pw_gid)
            self._as_postgres = ["runuser", "-u", "postgres", "--"]

    @property
    def url(self) -> str:
        return f"postgresql+asyncpg://postgres@127.0.0.1:{self.port}/{self.database}"

    def _run(self, *cmd: str, timeout: float = 120) -> str:
        done = subprocess.run(
            [*self._as_postgres, str(self.bin / cmd[0]), *cmd[1:]], capture_output=True, text=True, timeout=timeout
        )
        if done.returncode != 0:
            raise RuntimeError(f"{cmd[0]} failed ({done.returncode}): {done.stdout}{done.stderr}{self.server_log()}")
        return done.stdout

    def server_log(self) -> str:
        try:
            return self.log.read_text(errors="replace")[-4000:]
        except OSError:
            return ""

    def init(self) -> PostgresCluster:
        self._run("initdb", "-D", str(self.data), "-U", "postgres", "--auth=trust", "-E", "UTF8", "--no-sync")
        with open(self.data / "postgresql.conf", "a") as conf:
            conf.write(
                f"\nport = {self.port}\nlisten_addresses = '127.0.0.1'\nunix_socket_directories = '{self.root}'\n"
                "fsync = off\nfull_page_writes = off\nmax_connections = 200\n"
                "shared_buffers = 64MB\n"
            )
        return self

    def start(self) -> PostgresCluster:
        self._run("pg_ctl", "-D", str(self.data), "-l", str(self.log), "-w", "-t", "60", "start")
        self._wait_accepting()
        return self

    def create_database(self) -> None:
        self._run("createdb", "-h", "127.0.0.1", "-p", str(self.port), "-U", "postgres", self.database)

    def restart(self, mode: str = "fast", down: float = 0.0) -> float:
        """Stop (`fast`: roll back and disconnect; `immediate`: a crash, recovered on start), stay down
        `down` seconds and start again on the same port; returns how long the database was unreachable."""
        started = time.monotonic()
        self._run("pg_ctl", "-D", str(self.data), "-m", mode, "-w", "-t", "60", "stop")
        time.sleep(down)
        self._run("pg_ctl", "-D", str(self.data), "-l", str(self.log), "-w", "-t", "60", "start")
        self._wait_accepting()
        return time.monotonic() - started

    def _wait_accepting(self, timeout: float = 60) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            done = subprocess.run(
                [str(self.bin / "pg_isready"), "-h", "127.0.0.1", "-p", str(self.port)], capture_output=True
            )
            if done.returncode == 0:
                return
            time.sleep(0.1)
        raise TimeoutError(f"PostgreSQL did not accept connections: {self.server_log()}")

    def standby(self) -> PostgresCluster:
        """A hot standby of this running cluster, not yet started: a base backup taken over a
        replication connection on loopback (`pg_basebackup -R` writes `standby.signal` and the
        `primary_conninfo` it streams WAL with), on a port and socket directory of its own."""
        replica = PostgresCluster(self.database)
        replica._run(
            "pg_basebackup",
            "-h",
            "127.0.0.1",
            "-p",
            str(self.port),
            "-U",
            "postgres",
            "-D",
            str(replica.data),
            "-R",
            "-X",
            "stream",
            "-c",
            "fast",
            "--no-sync",
        )
        with open(replica.data / "postgresql.conf", "a") as conf:
            conf.write(
                f"\nport = {replica.port}\nunix_socket_directories = '{replica.root}'\nhot_standby = on\n"
                # A long query on the standby is not cancelled by WAL it conflicts with (tests pause replay).
                "max_standby_streaming_delay = -1\n"
            )
        return replica

    def sql(self, statement: str) -> str:
        """One statement through psql; its rows as unaligned text."""
        return self._run(
            "psql", "-h", "127.0.0.1", "-p", str(self.port), "-U", "postgres", "-d", self.database, "-Atc", statement
        ).strip()

    def pause_replay(self) -> None:
        """A standby stops applying WAL (it still receives it): it lags as far as the test wants."""
        self.sql("SELECT pg_wal_replay_pause()")

    def resume_replay(self) -> None:
        self.sql("SELECT pg_wal_replay_resume()")

    def wait_replayed(self, primary: PostgresCluster, timeout: float = 30) -> None:
        """Until this standby has applied everything the primary has written so far."""
        target = primary.sql("SELECT pg_current_wal_lsn()")
        deadline = time.monotonic() + timeout
        while self.sql(f"SELECT pg_last_wal_replay_lsn() >= '{target}'::pg_lsn") != "t":
            if time.monotonic() > deadline:
                raise TimeoutError(f"the standby did not replay up to {target}: {self.server_log()}")
            time.sleep(0.05)

    def stop(self) -> None:
        if (self.data / "postmaster.pid").exists():
            subprocess.run(
                [*self._as_postgres, str(self.bin / "pg_ctl"), "-D", str(self.data), "-m", "immediate", "-w", "stop"],
                capture_output=True,
                timeout=60,
            )

    def remove(self) -> None:
        self.stop()
        shutil.rmtree(self.root, ignore_errors=True)

    def __enter__(self) -> PostgresCluster:
        try:
            self.init().start()
            self.create_database()
        except BaseException:
            self.remove()
            raise
        return self

    def __exit__(self, *exc) -> None:
        self.remove()
