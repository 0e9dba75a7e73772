"""Resources that actors use, created lazily on the worker's event loop (never shared with the API's loop)."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Any

from infra.settings import Settings, get_settings

_resources: Resources | None = None
# Set when the worker runs inside the API process (embedded default): in-memory broadcasts must be
# published on the API's loop, where the subscribers are.
_local_publish: Callable[[str, str], Awaitable[None]] | None = None
_local_loop: asyncio.AbstractEventLoop | None = None


class Resources:
    def __init__(self, settings: Settings, broker: Any = None) -> None:
        from db.session import create_engine, create_session_factory

        self.settings = settings
        # The broker this worker consumes from: jobs that jobs cause go there (None: the global one).
        self.broker = broker
        self.engine = create_engine(settings.effective_database_url, pool_size=5, max_overflow=5)
        self.sessions = create_session_factory(self.engine)
        self._redis: Any = None

    async def publish(self, channel: str, message: str) -> None:
        if _local_publish is not None and _local_loop is not None:
            fut = asyncio.run_coroutine_threadsafe(_local_publish(channel, message), _local_loop)
            await asyncio.wrap_future(fut)
            return
        if self._redis is None:
            from infra.broadcast import make_redis

            self._redis = make_redis(self.settings.redis_url)
        await self._redis.publish(channel, message)

    async def close(self) -> None:
        await self.engine.dispose()
        if self._redis is not None:
            await self._redis.aclose()


async def commit(session) -> list:
    """Commit a job's transaction (with its events), then relay what it caused: publish the events
    and send the outbox jobs. The job's own outbox row is closed in the same transaction, so its work
    and "done" commit together. A failure after commit loses nothing: the sweepers pick them up."""
    from domain import events, outbox
    from parley.relay import publish_and_mark, send_jobs
    from workers.broker import current_broker
    from workers.middleware import current_claim

    claim = current_claim.get()
    if claim is not None and not claim.completed:
        await outbox.complete(session, claim.outbox_id)
    committed = await events.commit(session)
    if claim is not None:
        claim.completed = True
    jobs = session.info.pop("outbox_jobs", [])
    res = resources()
    try:
        if committed:
            await publish_and_mark(res.sessions, res, committed)
        if jobs:
            await send_jobs(res.sessions, res.broker or current_broker(), jobs,
                            lease_seconds=res.settings.outbox_lease_seconds)
    except Exception:  # noqa: BLE001 - the sweepers relay it later
        from infra.logs import get_logger

        get_logger("parley.worker").warning("worker.relay_after_commit_failed", exc_info=True)
    return committed


def use_local_publisher(loop: asyncio.AbstractEventLoop | None, publish: Callable[[str, str], Awaitable[None]] | None) -> None:
    global _local_publish, _local_loop
    _local_loop, _local_publish = loop, publish


def init_resources(settings: Settings | None = None, broker: Any = None) -> Resources | None:
    """Make these settings' resources the ones jobs use; returns the previous ones (an app that
    stops puts them back, so another app's in-process worker in the same process keeps its own)."""
    global _resources
    previous, _resources = _resources, Resources(settings or get_settings(), broker)
    return previous


def restore_resources(previous: Resources | None) -> None:
    global _resources
    _resources = previous


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
