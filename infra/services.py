"""The process-wide services the app and the worker hold for their lifetime."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

if TYPE_CHECKING:
    import dramatiq
    from redis.asyncio import Redis

    from domain.accounts.throttle import LoginThrottle
    from infra.broadcast import BoundedBroadcast
    from infra.persisted import MemoryDocumentStore, OperationCache, RedisDocumentStore
    from infra.presence import MemoryPresence, RedisPresence
    from infra.ratelimit import CostBudget, RateLimiter
    from infra.settings import Settings


@dataclass
class Services:
    """Process-wide services, created in the app's lifespan."""

    settings: Settings
    engine: AsyncEngine
    sessions: async_sessionmaker[AsyncSession]
    broadcast: BoundedBroadcast
    login_throttle: LoginThrottle
    redis: Redis | None = None  # when configured
    broker: dramatiq.Broker | None = None  # the broker this app enqueues to
    rate_limiter: RateLimiter | None = None  # requests per minute (GCRA)
    cost_budget: CostBudget | None = None  # query cost per hour
    documents: RedisDocumentStore | MemoryDocumentStore | None = None  # automatic persisted queries
    operations: OperationCache | None = None  # partners' registered operations
    presence: RedisPresence | MemoryPresence | None = None  # which agents have a socket open
    # Sessions whose connections run each statement on its own (no BEGIN/ROLLBACK): query operations.
    read_sessions: async_sessionmaker[AsyncSession] | None = None
    # With PARLEY_DATABASE_READ_URL: AUTOCOMMIT sessions on the replica, for query operations whose
    # session has not written within the read-your-writes window (`recent_writes`, infra/read_routing.py).
    replica_engine: AsyncEngine | None = None
    # The fast lane's list reads on the primary, on connections that plan each statement once
    # (parley/fast_lane.py `_fetch`); None on SQLite.
    lane_engine: AsyncEngine | None = None
    replica_sessions: async_sessionmaker[AsyncSession] | None = None
    recent_writes: Any = None  # infra.read_routing.RecentWrites
    replica_health: Any = None  # infra.read_routing.ReplicaHealth: while the replica is down, reads go to the primary
    auth_cache: Any = None  # domain.accounts.auth_cache.AuthCache: resolved credentials of this process
    hub: Any = None  # resolvers.hub.EventHub: the process's real-time feeds
    sockets: Any = None  # parley.sockets.SocketRegistry: session watch and presence beat of open sockets

    async def enqueue(self, actor: dramatiq.Actor[..., Any], *args: Any, **kwargs: Any) -> None:
        """Send a job to this app's broker (not the actor's global one); off the loop, since the
        Redis broker's client is synchronous."""
        if self.broker is None:
            raise RuntimeError("no broker configured")
        message = actor.message(*args, **kwargs)
        await asyncio.to_thread(self.broker.enqueue, message)
