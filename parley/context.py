"""The per-request (or per-socket) GraphQL context and the services the app holds for its lifetime."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

if TYPE_CHECKING:
    from starlette.requests import Request
    from starlette.responses import Response
    from starlette.websockets import WebSocket

    from parley.broadcast import BoundedBroadcast
    from parley.settings import Settings


@dataclass
class Services:
    """Process-wide services, created in the app's lifespan."""

    settings: Settings
    engine: AsyncEngine
    sessions: async_sessionmaker[AsyncSession]
    broadcast: BoundedBroadcast
    redis: Any | None = None  # redis.asyncio.Redis when configured
    broker: Any | None = None  # the dramatiq.Broker this app enqueues to

    async def enqueue(self, actor: Any, *args: Any, **kwargs: Any) -> None:
        """Send a job to this app's broker (not the actor's global one); off the loop, since the
        Redis broker's client is synchronous."""
        import asyncio

        message = actor.message(*args, **kwargs)
        await asyncio.to_thread(self.broker.enqueue, message)


@dataclass
class Context:
    services: Services
    request: Request | WebSocket | None = None
    response: Response | None = None
    request_id: str | None = None
    connection_params: dict[str, Any] | None = None
    _session: AsyncSession | None = field(default=None, repr=False)
    _session_lock: asyncio.Lock = field(default_factory=asyncio.Lock, repr=False)

    @property
    def settings(self) -> Settings:
        return self.services.settings

    @property
    def broadcast(self) -> BoundedBroadcast:
        return self.services.broadcast

    @asynccontextmanager
    async def db(self) -> AsyncIterator[AsyncSession]:
        """The request's session, one user at a time: sibling resolvers run concurrently and an
        AsyncSession must never be used by two of them at once."""
        async with self._session_lock:
            if self._session is None:
                self._session = self.services.sessions()
            yield self._session

    async def close(self) -> None:
        if self._session is not None:
            session, self._session = self._session, None
            await session.close()
