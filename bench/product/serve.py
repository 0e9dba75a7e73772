"""`parley serve` with counters, for the benchmark's SQL and Redis columns: every statement the
engines send (cursor executions, and the fast lane's, sent straight on asyncpg), transactions begun
and ended, connection checkouts (each one pings the server first) and Redis round trips (a pipeline
is one) are counted in the process; on SIGUSR1 the counts are written to the file named by
BENCH_SQL_COUNTS. Nothing else differs from `python -m parley.cli serve`; the counters cost a few
function calls per statement.
"""

from __future__ import annotations

import json
import os
import signal
import sys

COUNTS = {"statements": 0, "begin": 0, "commit": 0, "rollback": 0, "checkout": 0, "redis_round_trips": 0}


def install() -> None:
    from sqlalchemy import event
    from sqlalchemy.engine import Engine
    from sqlalchemy.pool import Pool

    def bump(name):
        def listener(*_args, **_kw) -> None:
            COUNTS[name] += 1

        return listener

    def sent(name):
        # A connection in AUTOCOMMIT (query operations) sends no BEGIN, COMMIT or ROLLBACK.
        def listener(conn, *_args, **_kw) -> None:
            if conn.get_execution_options().get("isolation_level") != "AUTOCOMMIT":
                COUNTS[name] += 1

        return listener

    def pinged(_dbapi_connection, _record, proxy) -> None:
        # A pre-ping is a statement on every checkout; without it a checkout sends nothing.
        if getattr(getattr(proxy, "_pool", None), "_pre_ping", False):
            COUNTS["checkout"] += 1

    event.listen(Engine, "before_cursor_execute", bump("statements"))
    from parley import fast_lane

    fast_lane.statement_observers.append(bump("statements"))  # the lane's, sent past SQLAlchemy
    event.listen(Engine, "begin", sent("begin"))
    event.listen(Engine, "commit", sent("commit"))
    event.listen(Engine, "rollback", sent("rollback"))
    event.listen(Pool, "checkout", pinged)

    from redis.asyncio.connection import AbstractConnection

    send = AbstractConnection.send_packed_command

    async def counted_send(self, command, check_health: bool = True) -> None:
        COUNTS["redis_round_trips"] += 1
        return await send(self, command, check_health)

    AbstractConnection.send_packed_command = counted_send

    # The pipelined connections past redis-py (the limits, the jobs' dispatch): one write carries
    # every command of a turn of the loop, so a write is a round trip.
    from infra.resp import _Protocol

    flush = _Protocol._flush

    def counted_flush(self) -> None:
        COUNTS["redis_round_trips"] += 1
        flush(self)

    _Protocol._flush = counted_flush

    path = os.environ["BENCH_SQL_COUNTS"]

    def dump(_signum, _frame) -> None:
        tmp = path + ".tmp"
        with open(tmp, "w") as f:
            json.dump(COUNTS, f)
        os.replace(tmp, path)

    signal.signal(signal.SIGUSR1, dump)


def main() -> int:
    install()
    from parley.cli import main as parley_main

    return parley_main(["serve", *sys.argv[1:]])


if __name__ == "__main__":
    sys.exit(main())
