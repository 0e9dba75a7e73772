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
    from infra.ratelimit import MemoryCostBudget, MemoryRateLimiter, RedisCostBudget, RedisRateLimiter
    from infra.settings import Settings


@dataclass
class Services:
    """Process-wide services, created in the app's lifespan."""

    settings: Settings
    engine: AsyncEngine
    sessions: async_sessionmaker[AsyncSession]
    broadcast: BoundedBroadcast
    login_throttle: LoginThrottle
    redis: Any | None = None  # redis.asyncio.Redis when configured
    broker: Any | None = None  # the dramatiq.Broker this app enqueues to
    rate_limiter: Any | None = None  # infra.ratelimit: requests per minute (GCRA)
    cost_budget: Any | None = None  # infra.ratelimit: query cost per hour
    documents: Any | None = None  # infra.persisted: automatic persisted queries
    operations: Any | None = None  # infra.persisted: partners' registered operations
    presence: Any | None = None  # infra.presence: which agents have a socket open

    async def enqueue(self, actor: Any, *args: Any, **kwargs: Any) -> None:
        """Send a job to this app's broker (not the actor's global one); off the loop, since the
        Redis broker's client is synchronous."""
        if self.broker is None:
            raise RuntimeError("no broker configured")
        message = actor.message(*args, **kwargs)
        await asyncio.to_thread(self.broker.enqueue, message)
