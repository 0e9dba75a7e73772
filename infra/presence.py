"""Who is connected: each open socket of a signed-in agent holds an entry with an expiry, renewed by
heartbeats. In Redis (a sorted set per account, scored by expiry) every API process sees every
socket; without Redis the store lives in the process. A process that dies leaves entries that
simply expire."""

from __future__ import annotations

import time
from collections import defaultdict
from typing import Any


def _key(account_id: int) -> str:
    return f"parley:presence:{account_id}"


def _user_key(account_id: int, user_id: int) -> str:
    return f"parley:presence:{account_id}:{user_id}"


def _absent_key(account_id: int) -> str:
    return f"parley:presence:{account_id}:absent"


ABSENCE_TTL = 7 * 86_400

# `arrive_many` and `leave_many` as one script each: a batch of 1,000 arriving sockets was 7,000
# commands packed and 7,000 replies parsed by redis-py in the server process (6 % of its CPU while
# the sockets connected); a script is one command and one reply for the batch, same steps in the
# same order, as atomic as the MULTI it replaces. KEYS: (account key, user key) per socket.
_ARRIVE = """
local out = {}
for n = 1, #KEYS / 2 do
  local key, mine = KEYS[2 * n - 1], KEYS[2 * n]
  redis.call('ZREMRANGEBYSCORE', mine, '-inf', ARGV[1])
  out[n] = redis.call('ZCARD', mine)
  redis.call('ZADD', mine, ARGV[2], ARGV[2 + 2 * n])
  redis.call('EXPIRE', mine, ARGV[3])
  redis.call('ZREMRANGEBYSCORE', key, '-inf', ARGV[1])
  redis.call('ZADD', key, ARGV[2], ARGV[3 + 2 * n])
  redis.call('EXPIRE', key, ARGV[3])
end
return out
"""
_LEAVE = """
local out = {}
for n = 1, #KEYS / 2 do
  local key, mine = KEYS[2 * n - 1], KEYS[2 * n]
  redis.call('ZREM', key, ARGV[1 + 2 * n])
  redis.call('ZREM', mine, ARGV[2 * n])
  out[n] = redis.call('ZCOUNT', mine, ARGV[1], '+inf')
end
return out
"""


def _users(members: list[Any]) -> set[int]:
    users = set()
    for member in members:
        text = member.decode() if isinstance(member, bytes) else str(member)
        users.add(int(text.partition(":")[0]))
    return users


class RedisPresence:
    def __init__(self, redis: Any) -> None:
        self._redis = redis
        self._arrive = redis.register_script(_ARRIVE)
        self._leave = redis.register_script(_LEAVE)

    async def touch(self, account_id: int, user_id: int, socket_id: str, ttl: float) -> bool:
        """Record (or renew) the socket; True when the user was not connected before. Whether they
        were is asked of the user's own set, so a socket's arrival costs the same with 1 or 1,000
        sockets in the account."""
        now = time.time()
        key, mine = _key(account_id), _user_key(account_id, user_id)
        async with self._redis.pipeline(transaction=True) as pipe:
            pipe.zremrangebyscore(mine, "-inf", now)
            pipe.zcard(mine)
            pipe.zadd(mine, {socket_id: now + ttl})
            pipe.expire(mine, int(ttl) * 2)
            pipe.zremrangebyscore(key, "-inf", now)
            pipe.zadd(key, {f"{user_id}:{socket_id}": now + ttl})
            pipe.expire(key, int(ttl) * 2)
            _, before, *_ = await pipe.execute()
        return not before

    async def arrive_many(self, entries: list[tuple[int, int, str]], ttl: float) -> list[bool]:
        """`touch` for several sockets, (account, user, socket) each, in one round trip: for each,
        True when its user was not connected before (a second socket of the same user in the batch
        sees the first one's entry)."""
        if not entries:
            return []
        now = time.time()
        keys: list[str] = []
        args: list[Any] = [repr(now), repr(now + ttl), int(ttl) * 2]
        for account_id, user_id, socket_id in entries:
            keys += (_key(account_id), _user_key(account_id, user_id))
            args += (socket_id, f"{user_id}:{socket_id}")
        before = await self._arrive(keys=keys, args=args)
        return [not count for count in before]

    async def touch_many(self, entries: list[tuple[int, int, str]], ttl: float) -> None:
        """Renew many sockets' entries, (account, user, socket) each, in one round trip."""
        if not entries:
            return
        now = time.time()
        by_account: dict[int, dict[str, float]] = defaultdict(dict)
        by_user: dict[tuple[int, int], dict[str, float]] = defaultdict(dict)
        for account_id, user_id, socket_id in entries:
            by_account[account_id][f"{user_id}:{socket_id}"] = now + ttl
            by_user[(account_id, user_id)][socket_id] = now + ttl
        async with self._redis.pipeline(transaction=False) as pipe:
            for account_id, members in by_account.items():
                key = _key(account_id)
                pipe.zremrangebyscore(key, "-inf", now)
                pipe.zadd(key, members)
                pipe.expire(key, int(ttl) * 2)
            for (account_id, user_id), sockets in by_user.items():
                mine = _user_key(account_id, user_id)
                pipe.zremrangebyscore(mine, "-inf", now)
                pipe.zadd(mine, sockets)
                pipe.expire(mine, int(ttl) * 2)
            await pipe.execute()

    async def leave(self, account_id: int, user_id: int, socket_id: str) -> bool:
        """Forget the socket; True when the user has no other socket left."""
        now = time.time()
        mine = _user_key(account_id, user_id)
        async with self._redis.pipeline(transaction=True) as pipe:
            pipe.zrem(_key(account_id), f"{user_id}:{socket_id}")
            pipe.zrem(mine, socket_id)
            pipe.zcount(mine, now, "+inf")
            _, _, left = await pipe.execute()
        return not left

    async def leave_many(self, entries: list[tuple[int, int, str]]) -> list[bool]:
        """`leave` for several sockets in one round trip: for each, True when its user has no other
        socket left (after the batch's earlier departures)."""
        if not entries:
            return []
        keys: list[str] = []
        args: list[Any] = [repr(time.time())]
        for account_id, user_id, socket_id in entries:
            keys += (_key(account_id), _user_key(account_id, user_id))
            args += (socket_id, f"{user_id}:{socket_id}")
        left = await self._leave(keys=keys, args=args)
        return [not count for count in left]

    async def online_users(self, account_id: int) -> set[int]:
        return _users(await self._redis.zrangebyscore(_key(account_id), time.time(), "+inf"))

    async def absences(self, account_id: int, absent: set[int], present: set[int]) -> dict[int, float]:
        """Seconds since each user of `absent` was first seen absent by these calls (0 the first time);
        the users of `present` are forgotten. Shared by every process through Redis."""
        now = time.time()
        key = _absent_key(account_id)
        ordered = sorted(absent)
        async with self._redis.pipeline(transaction=True) as pipe:
            if present:
                pipe.hdel(key, *[str(u) for u in present])
            for user_id in ordered:
                pipe.hsetnx(key, str(user_id), repr(now))
            if ordered:
                pipe.hmget(key, [str(u) for u in ordered])
            pipe.expire(key, ABSENCE_TTL)
            results = await pipe.execute()
        if not ordered:
            return {}
        since = results[-2]
        return {u: max(0.0, now - float(s)) if s is not None else 0.0 for u, s in zip(ordered, since, strict=True)}


class MemoryPresence:
    def __init__(self) -> None:
        self._entries: dict[int, dict[str, float]] = defaultdict(dict)
        self._absent: dict[int, dict[int, float]] = defaultdict(dict)

    def _live(self, account_id: int) -> dict[str, float]:
        now = time.time()
        entries = self._entries[account_id]
        for member in [m for m, expiry in entries.items() if expiry <= now]:
            del entries[member]
        return entries

    async def touch(self, account_id: int, user_id: int, socket_id: str, ttl: float) -> bool:
        entries = self._live(account_id)
        was_online = user_id in _users(list(entries))
        entries[f"{user_id}:{socket_id}"] = time.time() + ttl
        return not was_online

    async def arrive_many(self, entries: list[tuple[int, int, str]], ttl: float) -> list[bool]:
        return [await self.touch(account_id, user_id, socket_id, ttl) for account_id, user_id, socket_id in entries]

    async def touch_many(self, entries: list[tuple[int, int, str]], ttl: float) -> None:
        for account_id, user_id, socket_id in entries:
            self._entries[account_id][f"{user_id}:{socket_id}"] = time.time() + ttl

    async def leave(self, account_id: int, user_id: int, socket_id: str) -> bool:
        entries = self._live(account_id)
        entries.pop(f"{user_id}:{socket_id}", None)
        return user_id not in _users(list(entries))

    async def leave_many(self, entries: list[tuple[int, int, str]]) -> list[bool]:
        return [await self.leave(account_id, user_id, socket_id) for account_id, user_id, socket_id in entries]

    async def online_users(self, account_id: int) -> set[int]:
        return _users(list(self._live(account_id)))

    async def absences(self, account_id: int, absent: set[int], present: set[int]) -> dict[int, float]:
        now = time.time()
        seen = self._absent[account_id]
        for user_id in present:
            seen.pop(user_id, None)
        return {u: now - seen.setdefault(u, now) for u in absent}


def create_presence(redis: Any | None) -> RedisPresence | MemoryPresence:
    return RedisPresence(redis) if redis is not None else MemoryPresence()
