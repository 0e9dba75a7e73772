"""Read-your-writes with a read replica: which sessions wrote a moment ago.

With `PARLEY_DATABASE_READ_URL` set, query operations read from the replica, which may lag behind
the primary. A session that has just written must still see its write: for
`PARLEY_DATABASE_READ_YOUR_WRITES_SECONDS` after a write, its queries read from the primary. The
mark is kept in this process and, with Redis, in Redis (one key per session, expiring with the
window), so the next request sees it on whichever API process the load balancer picks.

Keys are hashes of what identifies the caller's session (the session id, the presented token),
never the token itself. When Redis cannot answer, a read counts as recent: the primary is always
correct, only busier."""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import time
from typing import TYPE_CHECKING, Any

from infra.logs import get_logger

if TYPE_CHECKING:
    from redis.asyncio import Redis

log = get_logger("parley.read_routing")

PREFIX = "parley:recent-write:"
MAX_LOCAL = 100_000  # marks kept in the process before expired ones are dropped


def session_key(kind: str, value: str) -> str:
    return hashlib.sha256(f"{kind}:{value}".encode()).hexdigest()[:32]


class RecentWrites:
    def __init__(self, window_seconds: float, redis: Redis | None = None) -> None:
        self.window = window_seconds
        self.redis = redis
        self._local: dict[str, float] = {}  # key -> monotonic expiry

    async def mark(self, keys: list[str]) -> None:
        """These sessions wrote now."""
        if not keys or self.window <= 0:
            return
        expires = time.monotonic() + self.window
        if len(self._local) > MAX_LOCAL:
            now = time.monotonic()
            self._local = {k: t for k, t in self._local.items() if t > now}
        for key in keys:
            self._local[key] = expires
        if self.redis is None:
            return
        try:
            pipe = self.redis.pipeline(transaction=False)
            for key in keys:
                pipe.set(PREFIX + key, b"1", px=max(1, int(self.window * 1000)))  # type: ignore[unused-awaitable] # queued in the pipeline
            await pipe.execute()
        except Exception as exc:  # noqa: BLE001 - this process still knows; others read the replica
            log.warning("read_routing.mark_failed", error=type(exc).__name__)

    async def recent(self, keys: list[str]) -> bool:
        """Whether any of these sessions wrote within the window (then it reads from the primary)."""
        if not keys or self.window <= 0:
            return False
        now = time.monotonic()
        if any(self._local.get(key, 0.0) > now for key in keys):
            return True
        if self.redis is None:
            return False
        try:
            return bool(await self.redis.exists(*(PREFIX + key for key in keys)))
        except Exception as exc:  # noqa: BLE001 - unknown: the primary is never wrong
            log.warning("read_routing.check_failed", error=type(exc).__name__)
            return True


class ReplicaHealth:
    """Whether the read replica answers: probed every `interval` seconds (`SELECT 1`, a short
    timeout) in a task of its own. While it does not, query operations read from the primary
    (`Context._read_sessions`) and /readyz reports the replica degraded; requests that reached a
    replica that died since the last probe (at most `interval` seconds) fail as they would without
    the probe."""

    def __init__(self, engine: Any, *, interval: float = 2.0, timeout: float = 1.0) -> None:
        self.engine = engine
        self.interval = interval
        self.timeout = timeout
        self.healthy = True
        self.problem: str | None = None
        self._task: asyncio.Task[None] | None = None

    async def probe(self) -> bool:
        from sqlalchemy import text

        try:
            async with asyncio.timeout(self.timeout):
                async with self.engine.connect() as conn:
                    await conn.execute(text("SELECT 1"))
        except Exception as exc:  # noqa: BLE001 - any failure: read from the primary until it answers
            if self.healthy:
                log.warning("read_routing.replica_unavailable", error=type(exc).__name__)
            self.healthy, self.problem = False, f"unavailable ({type(exc).__name__})"
            return False
        if not self.healthy:
            log.info("read_routing.replica_back")
        self.healthy, self.problem = True, None
        return True

    def start(self) -> None:
        async def loop() -> None:
            while True:
                await asyncio.sleep(self.interval)
                await self.probe()

        self._task = asyncio.get_running_loop().create_task(loop(), name="replica-health")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None
