"""Resources that actors use, created lazily on the worker's event loop (never shared with the API's loop)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from typing import TYPE_CHECKING, Any

import domain.accounts.auth_cache  # noqa: F401 - its flush listeners mark changes that API processes must hear of
from infra.settings import Settings, get_settings

if TYPE_CHECKING:
    from sqlalchemy.ext.asyncio import AsyncSession

    from domain.events.relay import Relay

_resources: Resources | None = None
# Set when the worker runs inside the API process (embedded default): in-memory broadcasts must be
# published on the API's loop, where the subscribers are.
_local_publish: Callable[[str, str], Awaitable[None]] | None = None
_local_loop: asyncio.AbstractEventLoop | None = None
_local_presence: Any = None  # the API process's presence store when the worker runs inside it without Redis


class Resources:
    def __init__(self, settings: Settings, broker: Any = None) -> None:
        from db.session import create_engine, create_session_factory

        self.settings = settings
        # The broker this worker consumes from: jobs that jobs cause go there (None: the global one).
        self.broker = broker
        self.engine = create_engine(settings.effective_database_url, pool_size=5, max_overflow=5)
        self.sessions = create_session_factory(self.engine)
        self._redis: Any = None
        self._prefix = ""
        self._presence: dict[int, Any] = {}

    async def publish(self, channel: str, message: str) -> None:
        if _local_publish is not None and _local_loop is not None:
            fut = asyncio.run_coroutine_threadsafe(_local_publish(channel, message), _local_loop)
            await asyncio.wrap_future(fut)
            return
        if self._redis is None:
            from infra.broadcast import channel_prefix, make_redis

            self._redis = make_redis(self.settings.redis_url)
            self._prefix = channel_prefix(self.settings.redis_url)
        await self._redis.publish(self._prefix + channel, message)

    def presence(self) -> Any:
        """Who is connected: the shared Redis store, or the API process's own (embedded default)."""
        if _local_presence is not None and not self.settings.uses_redis:
            return _local_presence
        loop = id(asyncio.get_running_loop())  # a Redis client belongs to one loop: the worker's or the scheduler's
        if loop not in self._presence:
            from infra.broadcast import make_redis
            from infra.presence import create_presence

            self._presence[loop] = create_presence(
                make_redis(self.settings.redis_url) if self.settings.uses_redis else None
            )
        return self._presence[loop]

    def relay(self) -> Relay:
        """Where jobs' committed work goes: this worker's broker, and its publisher for events."""
        from domain.events.relay import Relay
        from workers.broker import current_broker

        broker = self.broker
        if broker is None:
            try:
                broker = current_broker()
            except RuntimeError:  # no broker in this process: the outbox sweeper sends the jobs
                broker = None
        return Relay(self.sessions, broker, self, self.settings.outbox_lease_seconds)

    async def close(self) -> None:
        await self.engine.dispose()
        mine = self._presence.pop(id(asyncio.get_running_loop()), None)
        if mine is not None and getattr(mine, "_redis", None) is not None:
            await mine._redis.aclose()
        if self._redis is not None:
            await self._redis.aclose()


@asynccontextmanager
async def unit_of_work() -> AsyncIterator[AsyncSession]:
    """A job's transaction (domain/events/unit.py). The job's own outbox row is closed in it, so its
    work and "done" commit together; then what it caused is relayed (events published, outbox jobs
    sent to this worker's broker). A failure after commit loses nothing: the sweepers pick them up."""
    from domain.events import unit
    from domain.events.outbox import complete
    from workers.middleware import current_claim

    res = resources()
    claim = current_claim.get()
    async with unit.unit_of_work(res.sessions, res.relay()) as session:
        yield session
        if claim is not None and not claim.completed:
            await complete(session, claim.outbox_id)
    if claim is not None:
        claim.completed = True


def use_local_publisher(
    loop: asyncio.AbstractEventLoop | None, publish: Callable[[str, str], Awaitable[None]] | None
) -> None:
    global _local_publish, _local_loop
    _local_loop, _local_publish = loop, publish


def use_local_presence(presence: Any) -> None:
    global _local_presence
    _local_presence = presence


# Every app's resources while it runs, newest last: apps of one process (tests start several) may
# stop in any order, and the jobs keep the resources of the newest app still running.
_registered: list[Resources] = []


def init_resources(settings: Settings | None = None, broker: Any = None) -> Resources:
    """Make these settings' resources the ones jobs use, until `restore_resources` is given them back
    (an app that stops: the newest other app still running gets its own back, whatever the order
    the apps stop in)."""
    global _resources
    _resources = Resources(settings or get_settings(), broker)
    _registered.append(_resources)
    return _resources


def restore_resources(mine: Resources | None) -> None:
    global _resources
    if mine in _registered:
        _registered.remove(mine)
    if _resources is mine or mine is None:
        _resources = _registered[-1] if _registered else None


def resources() -> Resources:
    global _resources
    if _resources is None:
        _resources = Resources(get_settings())
    return _resources


async def close_resources() -> None:
    global _resources
    if _resources is not None:
        await _resources.close()
        _resources = None
