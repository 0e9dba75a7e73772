"""Request rate limits (GCRA) and the hourly query-cost budget, in Redis when configured (shared by
every replica, one round trip each) and in memory on the embedded default.

GCRA: each key keeps a "theoretical arrival time"; a request is allowed while that time minus the
burst tolerance is not in the future. `per_minute` requests a minute, bursts up to the same number.
The cost budget is a fixed window per key: the first charge starts an hour, charges that would go
over the limit are refused (and not counted) until the window ends, as GitHub's GraphQL API does.

When Redis does not answer within a short timeout, the Fallback* wrappers count in this process
instead: a limit then holds per replica rather than across them, and never fails open."""

from __future__ import annotations

import asyncio
import hashlib
import math
import time
from collections import OrderedDict
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from infra import traces
from infra.resp import PipelinedScript

MEMORY_KEYS = 100_000

_GCRA = """
local interval = tonumber(ARGV[1])
local tolerance = tonumber(ARGV[2])
local cost = tonumber(ARGV[3])
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000000 + tonumber(t[2])
local tat = tonumber(redis.call('GET', KEYS[1]) or '0')
if tat < now then tat = now end
local new_tat = tat + interval * cost
local allow_at = new_tat - tolerance
if allow_at > now then
  return {0, math.ceil(allow_at - now)}
end
redis.call('SET', KEYS[1], string.format('%.0f', new_tat), 'PX', math.ceil((new_tat - now) / 1000) + 1)
return {1, 0}
"""

_BUDGET = """
local cost = tonumber(ARGV[1])
local limit = tonumber(ARGV[2])
local window = tonumber(ARGV[3])
local used = tonumber(redis.call('GET', KEYS[1]) or '0')
local ttl = redis.call('PTTL', KEYS[1])
if ttl < 0 then ttl = window end
if used + cost > limit then
  return {0, used, ttl}
end
used = redis.call('INCRBY', KEYS[1], cost)
if redis.call('PTTL', KEYS[1]) < 0 then redis.call('PEXPIRE', KEYS[1], window) end
return {1, used, ttl}
"""


# The request's rate limits (GCRA, in order: the first refusal stops) and then its cost budget, in one
# round trip. KEYS: the n rate-limit keys, then the budget's key if any, then the credentials' epoch
# if asked. ARGV: n, then (interval, tolerance, cost, lease) per rate limit, then the budget's (cost,
# lease, limit, window), then 1 when the epoch is asked. A lease is what this process would like to
# take in advance (process-local allowances, `Leases`): taken when the limit allows all of it, else
# only the request's own cost. Returns {index of the refusing limit or 0, its wait in µs, budget
# allowed, used, window left in ms, epoch, budget taken, then what each rate limit took}.
_LIMITS = """
local n = tonumber(ARGV[1])
local has_epoch = ARGV[#ARGV] == '1'
local keys_n = #KEYS
local epoch = 0
if has_epoch then
  keys_n = keys_n - 1
  epoch = tonumber(redis.call('GET', KEYS[#KEYS]) or '0')
end
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000000 + tonumber(t[2])
local took = {}
for i = 1, n do
  local interval = tonumber(ARGV[i * 4 - 2])
  local tolerance = tonumber(ARGV[i * 4 - 1])
  local cost = tonumber(ARGV[i * 4])
  local take = tonumber(ARGV[i * 4 + 1])
  local tat = tonumber(redis.call('GET', KEYS[i]) or '0')
  if tat < now then tat = now end
  if take > cost and tat + interval * take - tolerance > now then take = cost end
  local new_tat = tat + interval * take
  local allow_at = new_tat - tolerance
  if allow_at > now then
    return {i, math.ceil(allow_at - now), 0, 0, 0, epoch, 0, unpack(took)}
  end
  redis.call('SET', KEYS[i], string.format('%.0f', new_tat), 'PX', math.ceil((new_tat - now) / 1000) + 1)
  took[i] = take
end
if keys_n == n then return {0, 0, 1, 0, 0, epoch, 0, unpack(took)} end
local base = n * 4 + 2
local cost = tonumber(ARGV[base])
local take = tonumber(ARGV[base + 1])
local limit = tonumber(ARGV[base + 2])
local window = tonumber(ARGV[base + 3])
local key = KEYS[n + 1]
local used = tonumber(redis.call('GET', key) or '0')
local ttl = redis.call('PTTL', key)
if ttl < 0 then ttl = window end
if used + take > limit then take = cost end
if used + take > limit then
  return {0, 0, 0, used, ttl, epoch, 0, unpack(took)}
end
used = redis.call('INCRBY', key, take)
if redis.call('PTTL', key) < 0 then redis.call('PEXPIRE', key, window) end
return {0, 0, 1, used, ttl, epoch, take, unpack(took)}
"""


@dataclass(frozen=True)
class RateCheck:
    key: str
    per_minute: int
    name: str  # which limit, as the 429 answer names it (ip, anonymous, caller)


@dataclass(frozen=True)
class BudgetCharge:
    key: str
    cost: int
    limit: int
    window: int = 3600


@dataclass(frozen=True)
class Decision:
    allowed: bool
    retry_after: float = 0.0  # seconds until the request would be allowed

    @property
    def retry_after_seconds(self) -> int:
        return max(1, math.ceil(self.retry_after))


class RedisRateLimiter:
    def __init__(self, redis: Any, prefix: str = "parley:rl:") -> None:
        self.redis = redis
        self.prefix = prefix
        self.script = redis.register_script(_GCRA)

    async def hit(self, key: str, per_minute: int, cost: int = 1) -> Decision:
        interval = 60_000_000 / per_minute  # microseconds per request
        allowed, wait_us = await self.script(keys=[self.prefix + key], args=[interval, interval * per_minute, cost])
        return Decision(bool(allowed), int(wait_us) / 1_000_000)


class MemoryRateLimiter:
    def __init__(self) -> None:
        self._tat: OrderedDict[str, float] = OrderedDict()

    async def hit(self, key: str, per_minute: int, cost: int = 1) -> Decision:
        now = time.monotonic()
        interval = 60 / per_minute
        tat = max(self._tat.get(key, now), now)
        new_tat = tat + interval * cost
        allow_at = new_tat - interval * per_minute
        if allow_at > now:
            return Decision(False, allow_at - now)
        self._tat[key] = new_tat
        self._tat.move_to_end(key)
        while len(self._tat) > MEMORY_KEYS:
            self._tat.popitem(last=False)
        return Decision(True)


@dataclass(frozen=True)
class BudgetState:
    allowed: bool
    limit: int
    used: int
    reset_at: datetime

    @property
    def remaining(self) -> int:
        return max(self.limit - self.used, 0)

    @property
    def retry_after_seconds(self) -> int:
        return max(1, math.ceil((self.reset_at - datetime.now(UTC)).total_seconds()))


class RedisCostBudget:
    def __init__(self, redis: Any, prefix: str = "parley:cost:") -> None:
        self.redis = redis
        self.prefix = prefix
        self.script = redis.register_script(_BUDGET)

    async def charge(self, key: str, cost: int, limit: int, window: int = 3600) -> BudgetState:
        allowed, used, ttl_ms = await self.script(keys=[self.prefix + key], args=[cost, limit, window * 1000])
        reset = datetime.now(UTC) + timedelta(milliseconds=int(ttl_ms))
        return BudgetState(bool(allowed), limit, int(used), reset.replace(microsecond=0))


class MemoryCostBudget:
    def __init__(self) -> None:
        self._windows: OrderedDict[str, tuple[int, float]] = OrderedDict()

    async def charge(self, key: str, cost: int, limit: int, window: int = 3600) -> BudgetState:
        now = time.monotonic()
        used, ends = self._windows.get(key, (0, 0.0))
        if ends <= now:
            used, ends = 0, now + window
        reset = datetime.now(UTC) + timedelta(seconds=ends - now)
        if used + cost > limit:
            return BudgetState(False, limit, used, reset.replace(microsecond=0))
        used += cost
        self._windows[key] = (used, ends)
        self._windows.move_to_end(key)
        while len(self._windows) > MEMORY_KEYS:
            self._windows.popitem(last=False)
        return BudgetState(True, limit, used, reset.replace(microsecond=0))


def token_key(token: str) -> str:
    """A rate-limit key for an opaque token that does not keep the token itself."""
    return hashlib.sha256(token.encode()).hexdigest()[:32]


class _Fallback:
    """Warns at most every 10 s that the shared store did not answer and this process counts alone."""

    def __init__(self, timeout: float, log: Any, event: str) -> None:
        self.timeout = timeout
        self._log = log
        self._event = event
        self._warned_at = 0.0

    def _warn(self, exc: Exception) -> None:
        now = time.monotonic()
        if self._log is not None and now - self._warned_at > 10:
            self._warned_at = now
            self._log.warning(self._event, error=type(exc).__name__)


class _Lease:
    """What this process took of one key in advance and has not spent yet."""

    __slots__ = ("left", "until", "served", "since", "used", "reset")

    def __init__(self, now: float) -> None:
        self.left = 0  # units taken and not spent (requests' costs, or query cost)
        self.until = 0.0  # monotonic time after which `left` is no longer spent (taken anew instead)
        self.served = 0  # requests counted since `since`, which size the next lease
        self.since = now
        self.used = 0  # a budget's: what Redis counts minus what is left here (the answer reports it)
        self.reset: datetime | None = None  # a budget's: when its window ends


class Leases:
    """Process-local allowances: a key this process uses often (a busy token's rate limit, its cost
    budget) is taken from Redis a few requests at a time, and the requests in between are counted
    here without a round trip. A limit still holds across replicas: what a process takes in advance
    is counted in Redis at once, and a lease is taken only where the limit allows all of it (else
    only the request's own cost, exactly as without leases), so no replica ever lets through more
    than the limit. What a lease costs: units a process took and did not use before `ttl` ran out
    are lost to the key (a lease is sized by the key's own rate over the last `ttl`, so for a steady
    client that is at most one lease's rounding; a key used less than twice a `ttl` takes no lease),
    and a limit of a few requests a minute (under 32) or a small budget is never leased.

    The credentials' epoch (domain/accounts/auth_cache.py) is read with every round trip, and a
    request makes one when the process has not read it for `ttl`: a change announced over pub/sub
    is heard at once, and one whose announcement is lost is seen within `ttl` by every replica (the
    writer's own process forgets at once: domain/events/relay.py)."""

    MAX_KEYS = 20_000
    MAX_REQUESTS = 64  # the most requests one lease covers

    def __init__(self, ttl: float) -> None:
        self.ttl = ttl
        self.entries: dict[str, _Lease] = {}
        self.epoch_until = 0.0  # the epoch must be read again after this (monotonic)

    def get(self, key: str, now: float) -> _Lease:
        lease = self.entries.get(key)
        if lease is None:
            if len(self.entries) >= self.MAX_KEYS:
                self.entries = {k: v for k, v in self.entries.items() if v.until > now}
                if len(self.entries) >= self.MAX_KEYS:
                    self.entries.clear()
            lease = self.entries[key] = _Lease(now)
        return lease

    def ask(self, lease: _Lease, cost: int, cap: int, now: float) -> int | None:
        """None when the lease covers a request of `cost`; else what to ask Redis for: the cost times
        the requests the key is likely to make within `ttl` (its rate since the last lease, the
        time measured at least a quarter of `ttl`), at most `cap` units and at least `cost`."""
        lease.served += 1
        if lease.until > now and lease.left >= cost:
            return None
        elapsed = max(now - lease.since, self.ttl / 4)
        requests = min(int(lease.served * self.ttl / elapsed), self.MAX_REQUESTS)
        lease.served, lease.since = 0, now
        if requests <= 1 or cost <= 0:
            return cost
        return max(cost, min(cost * requests, cap))

    def took(self, lease: _Lease, taken: int, now: float) -> None:
        """Redis counted `taken` units: added to what the lease holds (the request's own cost is
        spent from it next), for `ttl`."""
        if lease.until <= now:
            lease.left = 0  # what an expired lease left is lost (Redis counted it already)
        lease.left += taken
        lease.until = now + self.ttl


class FallbackRateLimiter(_Fallback):
    """The shared (Redis) limiter, and this process's own when Redis does not answer in time (down,
    slow, or its connection pool exhausted under load): limits then hold per process instead of
    across replicas, but they never fail open."""

    def __init__(self, shared: RedisRateLimiter, *, timeout: float, log: Any = None, lease_seconds: float = 0) -> None:
        super().__init__(timeout, log, "ratelimit.local_fallback")
        self.shared = shared
        self.local = MemoryRateLimiter()
        # check_limits' allowances taken in advance (none with 0: every request makes its round trip)
        self.leases = Leases(lease_seconds) if lease_seconds > 0 else None
        self.round_trips = 0  # check_limits' calls to Redis (tests compare them with the requests)
        # Rate limits and cost budget in one script (check_limits), called on every request: on a
        # pipelined connection of its own (infra/resp.py, a third of redis-py's CPU per call), through
        # redis-py when traces are on (its calls are spanned) or the server is not plain TCP.
        self.stock_combined = shared.redis.register_script(_LIMITS)
        self.lean_combined = PipelinedScript.for_client(shared.redis, _LIMITS)

    def combined(self, keys: list[str], args: list[Any]) -> Any:
        self.round_trips += 1
        if self.lean_combined is None or traces.enabled():
            return self.stock_combined(keys=keys, args=args)
        return self.lean_combined(keys, args)

    def close(self) -> None:
        if self.lean_combined is not None:
            self.lean_combined.close()

    async def hit(self, key: str, per_minute: int, cost: int = 1) -> Decision:
        try:
            async with asyncio.timeout(self.timeout):  # no task of its own, as wait_for makes one
                return await self.shared.hit(key, per_minute, cost)
        except Exception as exc:  # noqa: BLE001 - any failure of the shared store: count locally
            self._warn(exc)
            return await self.local.hit(key, per_minute, cost)


class FallbackCostBudget(_Fallback):
    """The hourly cost budget in Redis, or this process's own window when Redis does not answer."""

    def __init__(self, shared: RedisCostBudget, *, timeout: float, log: Any = None) -> None:
        super().__init__(timeout, log, "cost_budget.local_fallback")
        self.shared = shared
        self.local = MemoryCostBudget()

    async def charge(self, key: str, cost: int, limit: int, window: int = 3600) -> BudgetState:
        try:
            async with asyncio.timeout(self.timeout):
                return await self.shared.charge(key, cost, limit, window)
        except Exception as exc:  # noqa: BLE001 - any failure of the shared store: count locally
            self._warn(exc)
            return await self.local.charge(key, cost, limit, window)


RateLimiter = RedisRateLimiter | MemoryRateLimiter | FallbackRateLimiter
CostBudget = RedisCostBudget | MemoryCostBudget | FallbackCostBudget


@dataclass(frozen=True)
class LimitsOutcome:
    refused: RateCheck | None = None  # the rate limit that refused the request
    decision: Decision | None = None  # its decision
    budget: BudgetState | None = None  # the charge (None: no budget asked, or a rate limit refused first)
    # The credentials' epoch read in the same round trip (domain/accounts/auth_cache.py), when asked.
    auth_epoch: int | None = None


async def _check_in_turn(
    rate_limiter: Any, cost_budget: Any, checks: list[RateCheck], cost: int, charge: BudgetCharge | None
) -> LimitsOutcome:
    for check in checks:
        decision = await rate_limiter.hit(check.key, check.per_minute, cost)
        if not decision.allowed:
            return LimitsOutcome(check, decision)
    if charge is None or cost_budget is None:
        return LimitsOutcome()
    return LimitsOutcome(budget=await cost_budget.charge(charge.key, charge.cost, charge.limit, charge.window))


async def check_limits(
    rate_limiter: Any,
    cost_budget: Any,
    checks: list[RateCheck],
    cost: int,
    charge: BudgetCharge | None,
    epoch_key: str | None = None,
) -> LimitsOutcome:
    """A request's rate limits and cost budget: in Redis one script (one round trip) when both live
    there, or none when this process's leases cover them all (`Leases`); when Redis does not answer
    in time, both count in this process (never failing open). With `epoch_key` the same script also
    reads that counter (the credentials' epoch)."""
    shared = rate_limiter.shared if isinstance(rate_limiter, FallbackRateLimiter) else None
    budget_shared = cost_budget.shared if isinstance(cost_budget, FallbackCostBudget) else None
    if shared is None or (charge is not None and (budget_shared is None or budget_shared.redis is not shared.redis)):
        return await _check_in_turn(rate_limiter, cost_budget, checks, cost, charge)
    if not checks and charge is None:
        return LimitsOutcome()
    leases: Leases | None = rate_limiter.leases
    now = time.monotonic()
    # Per rate limit: its lease, and what to ask Redis for (None: its lease covers the request).
    asked: list[tuple[RateCheck, _Lease | None, int | None]] = []
    budget_lease: _Lease | None = None
    budget_ask = charge.cost if charge is not None else None
    if leases is None:
        asked = [(check, None, cost) for check in checks]
    else:
        for check in checks:
            # By limit too: a lease taken under another limit (a changed setting) is not spent.
            lease = leases.get(f"{shared.prefix}{check.key}/{check.per_minute}", now)
            asked.append((check, lease, leases.ask(lease, cost, cost * (check.per_minute // 32), now)))
        if charge is not None:
            assert budget_shared is not None
            budget_lease = leases.get(f"{budget_shared.prefix}{charge.key}/{charge.limit}/{charge.window}", now)
            if budget_lease.reset is not None and budget_lease.reset <= datetime.now(UTC):
                budget_lease.until = 0.0  # its window ended: what was left of it is gone
            budget_ask = leases.ask(budget_lease, charge.cost, charge.limit // 32, now)
        fresh = epoch_key is None or leases.epoch_until > now
        if budget_ask is None and fresh and all(take is None for _, _, take in asked):
            return _spend_here(asked, cost, charge, budget_lease, None)
    remote = [(check, lease, take) for check, lease, take in asked if take is not None]
    keys = [shared.prefix + check.key for check, _, _ in remote]
    args: list[Any] = [len(remote)]
    for check, _, take in remote:
        interval = 60_000_000 / check.per_minute
        args += [interval, interval * check.per_minute, cost, take]
    if charge is not None and budget_ask is not None:
        assert budget_shared is not None
        keys.append(budget_shared.prefix + charge.key)
        args += [charge.cost, budget_ask, charge.limit, charge.window * 1000]
    if epoch_key is not None:
        keys.append(epoch_key)
    args.append(1 if epoch_key is not None else 0)
    try:
        # asyncio.timeout, not wait_for: wait_for runs the call in a task of its own (one more task
        # and one more turn of the loop on every request).
        async with asyncio.timeout(rate_limiter.timeout):
            reply = await rate_limiter.combined(keys=keys, args=args)
    except Exception as exc:  # noqa: BLE001 - any failure of the shared store: count locally
        rate_limiter._warn(exc)
        local_budget = cost_budget.local if isinstance(cost_budget, FallbackCostBudget) else cost_budget
        return await _check_in_turn(rate_limiter.local, local_budget, checks, cost, charge)
    refused, wait_us, allowed, used, ttl_ms, epoch, budget_took = (int(v) for v in reply[:7])
    seen = epoch if epoch_key is not None else None
    if leases is not None:
        if epoch_key is not None:
            leases.epoch_until = now + leases.ttl
        for (_, held, _), taken in zip(remote, reply[7:], strict=False):  # those Redis counted
            assert held is not None
            leases.took(held, int(taken), now)
    if refused:
        return LimitsOutcome(remote[refused - 1][0], Decision(False, wait_us / 1_000_000), auth_epoch=seen)
    if charge is not None and budget_ask is not None:
        reset = (datetime.now(UTC) + timedelta(milliseconds=ttl_ms)).replace(microsecond=0)
        if not allowed:
            _spend_here(asked, cost, None, None, seen)  # the rate limits let it through: counted
            return LimitsOutcome(budget=BudgetState(False, charge.limit, used, reset), auth_epoch=seen)
        if budget_lease is not None:
            leases.took(budget_lease, budget_took, now)  # type: ignore[union-attr]
            budget_lease.used, budget_lease.reset = used - budget_lease.left, reset
        else:
            return LimitsOutcome(budget=BudgetState(True, charge.limit, used, reset), auth_epoch=seen)
    return _spend_here(asked, cost, charge, budget_lease, seen)


def _spend_here(
    asked: list[tuple[RateCheck, _Lease | None, int | None]],
    cost: int,
    charge: BudgetCharge | None,
    budget_lease: _Lease | None,
    seen: int | None,
) -> LimitsOutcome:
    """The request's units spent from this process's leases (those it asked Redis for included:
    what Redis granted was added to them)."""
    for _, lease, _ in asked:
        if lease is not None:
            lease.left -= cost
    if charge is None or budget_lease is None:
        return LimitsOutcome(auth_epoch=seen)
    budget_lease.left -= charge.cost
    budget_lease.used += charge.cost
    assert budget_lease.reset is not None
    return LimitsOutcome(budget=BudgetState(True, charge.limit, budget_lease.used, budget_lease.reset), auth_epoch=seen)
