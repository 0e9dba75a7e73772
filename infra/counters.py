"""Attempt counters for throttling: Redis when configured (shared by every process), memory otherwise.

`reserve` checks and counts in one step — atomically, in a Lua script or under a lock — so that
concurrent attempts cannot all pass a check made before any of them was counted. Each key holds a
count and a "refused until" instant; a key over its limit refuses every attempt until that instant.

Rules (domain.accounts.throttle.Rule) give `key`, `limit` attempts per `window` seconds, and for a
progressive rule `block` seconds (doubled with every further attempt, at most `max_block`)."""

from __future__ import annotations

import math
import threading
import time
from collections.abc import Sequence
from typing import Any, Protocol

_RESERVE = """
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local retry = 0
for i, key in ipairs(KEYS) do
  local u = tonumber(redis.call('HGET', key, 'until') or '0')
  if u > now and u - now > retry then retry = u - now end
end
if retry > 0 then return {0, retry} end
for i, key in ipairs(KEYS) do
  local b = (i - 1) * 4
  local limit = tonumber(ARGV[b + 1])
  local window = tonumber(ARGV[b + 2])
  local block = tonumber(ARGV[b + 3])
  local max_block = tonumber(ARGV[b + 4])
  local n = redis.call('HINCRBY', key, 'n', 1)
  if n == 1 or block > 0 then redis.call('PEXPIRE', key, window) end
  if n >= limit then
    local ms
    if block > 0 then
      ms = math.min(block * 2 ^ (n - limit), max_block)
    else
      ms = redis.call('PTTL', key)
    end
    redis.call('HSET', key, 'until', string.format('%.0f', now + ms))
    if redis.call('PTTL', key) < ms then redis.call('PEXPIRE', key, ms) end
  end
end
return {1, 0}
"""

_REFUND = """
for i, key in ipairs(KEYS) do
  if redis.call('EXISTS', key) == 1 then
    local n = redis.call('HINCRBY', key, 'n', -1)
    if n < tonumber(ARGV[i]) then redis.call('HDEL', key, 'until') end
  end
end
return 1
"""


class CounterRule(Protocol):
    """What a counter reads of a rule (domain/accounts/throttle.py's `Rule`)."""

    @property
    def key(self) -> str: ...
    @property
    def limit(self) -> int: ...
    @property
    def window(self) -> int: ...
    @property
    def block(self) -> int: ...
    @property
    def max_block(self) -> int: ...


class RedisCounter:
    # Not the earlier string counters' "parley:throttle:": a replica of the previous release may still
    # write those while this one rolls out.
    def __init__(self, redis: Any, prefix: str = "parley:attempts:") -> None:
        self.redis = redis
        self.prefix = prefix
        self._reserve = redis.register_script(_RESERVE)
        self._refund = redis.register_script(_REFUND)

    async def reserve(self, rules: Sequence[CounterRule]) -> float:
        """Count one attempt against every rule, or none: 0 when allowed, else the seconds to wait."""
        args: list[int] = []
        for r in rules:
            args += [r.limit, r.window * 1000, r.block * 1000, r.max_block * 1000]
        allowed, wait_ms = await self._reserve(keys=[self.prefix + r.key for r in rules], args=args)
        return 0.0 if allowed else max(int(wait_ms) / 1000, 0.001)

    async def refund(self, rules: Sequence[CounterRule]) -> None:
        """Take back one attempt (it succeeded); a key back under its limit stops refusing."""
        if rules:
            await self._refund(keys=[self.prefix + r.key for r in rules], args=[r.limit for r in rules])

    async def reset(self, keys: list[str]) -> None:
        if keys:
            await self.redis.delete(*(self.prefix + k for k in keys))


class MemoryCounter:
    """The same rules for one process. A thread lock makes check-and-count one step."""

    MAX_KEYS = 100_000

    def __init__(self) -> None:
        self._data: dict[str, list[float]] = {}  # key -> [count, refused until, expires] (monotonic seconds)
        self._lock = threading.Lock()

    def _live(self, key: str, now: float) -> list[float] | None:
        entry = self._data.get(key)
        if entry is not None and entry[2] <= now:
            del self._data[key]
            return None
        return entry

    async def reserve(self, rules: Sequence[CounterRule]) -> float:
        with self._lock:
            now = time.monotonic()
            wait = max([e[1] - now for r in rules if (e := self._live(r.key, now)) and e[1] > now] or [0.0])
            if wait > 0:
                return wait
            for r in rules:
                entry = self._live(r.key, now)
                if entry is None:
                    entry = self._data[r.key] = [0, 0.0, now + r.window]
                entry[0] += 1
                if r.block:
                    entry[2] = now + r.window
                n = entry[0]
                if n >= r.limit:
                    seconds = min(r.block * math.pow(2, n - r.limit), r.max_block) if r.block else entry[2] - now
                    entry[1] = now + seconds
                    entry[2] = max(entry[2], entry[1])
            if len(self._data) > self.MAX_KEYS:  # bound memory: forget the windows that end first
                for k in sorted(self._data, key=lambda k: self._data[k][2])[: self.MAX_KEYS // 10]:
                    self._data.pop(k, None)
            return 0.0

    async def refund(self, rules: Sequence[CounterRule]) -> None:
        with self._lock:
            now = time.monotonic()
            for r in rules:
                entry = self._live(r.key, now)
                if entry is not None:
                    entry[0] -= 1
                    if entry[0] < r.limit:
                        entry[1] = 0.0

    async def reset(self, keys: list[str]) -> None:
        with self._lock:
            for k in keys:
                self._data.pop(k, None)
