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

import hashlib
import time
from typing import TYPE_CHECKING

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
