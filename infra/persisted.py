"""Stores behind persisted operations: the automatic persisted query (APQ) cache of documents by
SHA-256 — Redis with a TTL and a bounded index in production, an LRU in memory on the embedded
default — and a small in-process cache of partners' registered operations (immutable per version)."""

from __future__ import annotations

import time
from collections import OrderedDict
from typing import Any

_PUT = """
local key = ARGV[1]
redis.call('SET', KEYS[1] .. key, ARGV[2], 'EX', tonumber(ARGV[3]))
redis.call('ZADD', KEYS[2], tonumber(ARGV[4]), key)
redis.call('ZREMRANGEBYSCORE', KEYS[2], '-inf', tonumber(ARGV[4]) - tonumber(ARGV[3]) * 1000000)
local over = redis.call('ZCARD', KEYS[2]) - tonumber(ARGV[5])
if over > 0 then
  local old = redis.call('ZPOPMIN', KEYS[2], over)
  for i = 1, #old, 2 do redis.call('DEL', KEYS[1] .. old[i]) end
end
return over
"""


LOCAL_DOCUMENTS = 2000  # documents each process keeps in memory in front of Redis


class RedisDocumentStore:
    """Documents by hash in Redis, shared by every replica, and the recently used ones in this
    process's memory: a document never changes under its hash, so a hit here needs no round trip."""

    def __init__(
        self,
        redis: Any,
        *,
        ttl: int,
        max_entries: int,
        prefix: str = "parley:apq:",
        local_entries: int = LOCAL_DOCUMENTS,
    ) -> None:
        self.redis = redis
        self.ttl = ttl
        self.max_entries = max_entries
        self.prefix = prefix
        self.script = redis.register_script(_PUT)
        self.local = MemoryDocumentStore(ttl=ttl, max_entries=min(local_entries, max_entries))

    async def get(self, sha256: str) -> str | None:
        found = await self.local.get(sha256)
        if found is not None:
            return found
        value = await self.redis.get(self.prefix + "doc:" + sha256)
        document = value.decode() if isinstance(value, bytes) else value
        if document is not None:
            await self.local.put(sha256, document)
        return document

    async def put(self, sha256: str, document: str) -> None:
        await self.local.put(sha256, document)
        await self.script(
            keys=[self.prefix + "doc:", self.prefix + "index"],
            args=[
                sha256,
                document,
                self.ttl,
                time.time_ns() // 1000,
                self.max_entries,
            ],  # µs scores: oldest registration evicted first
        )


class MemoryDocumentStore:
    def __init__(self, *, ttl: int, max_entries: int) -> None:
        self.ttl = ttl
        self.max_entries = max_entries
        self._docs: OrderedDict[str, tuple[str, float]] = OrderedDict()

    async def get(self, sha256: str) -> str | None:
        found = self._docs.get(sha256)
        if found is None:
            return None
        if found[1] <= time.monotonic():
            self._docs.pop(sha256, None)
            return None
        self._docs.move_to_end(sha256)
        return found[0]

    async def put(self, sha256: str, document: str) -> None:
        self._docs[sha256] = (document, time.monotonic() + self.ttl)
        self._docs.move_to_end(sha256)
        while len(self._docs) > self.max_entries:
            self._docs.popitem(last=False)


class OperationCache:
    """Registered operations by (app, manifest version, id): versions never change, so entries
    never go stale; only their number is bounded."""

    def __init__(self, max_entries: int = 10_000) -> None:
        self.max_entries = max_entries
        self._ops: OrderedDict[tuple[Any, ...], tuple[str, str]] = OrderedDict()

    def get(self, key: tuple[Any, ...]) -> tuple[str, str] | None:
        found = self._ops.get(key)
        if found is not None:
            self._ops.move_to_end(key)
        return found

    def put(self, key: tuple[Any, ...], value: tuple[str, str]) -> None:
        self._ops[key] = value
        self._ops.move_to_end(key)
        while len(self._ops) > self.max_entries:
            self._ops.popitem(last=False)
