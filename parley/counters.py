"""Windowed counters for throttling: Redis when configured (shared by every process), memory otherwise."""

from __future__ import annotations

import time
from typing import Any


class RedisCounter:
    def __init__(self, redis: Any, prefix: str = "parley:throttle:") -> None:
        self.redis = redis
        self.prefix = prefix

    async def get(self, key: str) -> tuple[int, int]:
        pipe = self.redis.pipeline()
        pipe.get(self.prefix + key)
        pipe.ttl(self.prefix + key)
        value, ttl = await pipe.execute()
        return int(value or 0), max(int(ttl or 0), 0)

    async def incr(self, key: str, window: int) -> int:
        pipe = self.redis.pipeline()
        pipe.incr(self.prefix + key)
        pipe.expire(self.prefix + key, window, nx=True)
        count, _ = await pipe.execute()
        return int(count)

    async def reset(self, key: str) -> None:
        await self.redis.delete(self.prefix + key)


class MemoryCounter:
    def __init__(self) -> None:
        self._data: dict[str, tuple[int, float]] = {}

    def _live(self, key: str) -> tuple[int, float]:
        count, expires = self._data.get(key, (0, 0.0))
        if expires and expires <= time.monotonic():
            self._data.pop(key, None)
            return 0, 0.0
        return count, expires

    async def get(self, key: str) -> tuple[int, int]:
        count, expires = self._live(key)
        return count, int(expires - time.monotonic()) if expires else 0

    async def incr(self, key: str, window: int) -> int:
        count, expires = self._live(key)
        self._data[key] = (count + 1, expires or time.monotonic() + window)
        if len(self._data) > 100_000:  # bound memory: forget the oldest windows
            for k in sorted(self._data, key=lambda k: self._data[k][1])[:10_000]:
                self._data.pop(k, None)
        return count + 1

    async def reset(self, key: str) -> None:
        self._data.pop(key, None)
