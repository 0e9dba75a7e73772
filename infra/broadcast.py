"""Publish/subscribe fan-out behind broadcaster's `Broadcast` facade.

broadcaster 0.3.1's Redis backend loses the first subscription with redis-py 8, never reconnects and
gives every subscriber an unbounded queue. We keep the facade and replace the parts:

* `SupervisedRedisBackend`: one PubSub connection per process, supervised: when Redis goes away it
  reconnects with backoff and re-subscribes every channel. Messages published during the outage are
  lost (pub/sub is fire-and-forget); clients resume from the event log by cursor.
* `BoundedBroadcast`: each subscriber gets a bounded queue; one that falls too far behind is cut off
  with `SubscriberOverflow` instead of growing server memory.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from typing import Any, cast
from urllib.parse import parse_qs, urlsplit

import redis.asyncio as aioredis
from broadcaster import Broadcast, Event
from broadcaster._backends.base import BroadcastBackend
from redis.asyncio.retry import Retry
from redis.backoff import ExponentialWithJitterBackoff
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import TimeoutError as RedisTimeoutError

from infra import traces
from infra.logs import get_logger

log = get_logger(__name__)


def make_redis(
    url: str, *, max_connections: int | None = None, pool_timeout: float | None = None, **kwargs: Any
) -> aioredis.Redis:
    """A Redis client that survives restarts: redis-py 8's from_url() has no retry and no timeouts.
    With `max_connections`, its pool blocks a caller up to `pool_timeout` for a free connection under
    load instead of failing at once (redis-py's default pool raises MaxConnectionsError)."""
    options: dict[str, Any] = dict(
        retry=Retry(ExponentialWithJitterBackoff(base=0.05, cap=1.0), retries=3),
        retry_on_error=[RedisConnectionError, RedisTimeoutError, OSError],
        socket_connect_timeout=2,
        socket_timeout=5,
        health_check_interval=15,
    )
    options.update(kwargs)
    if max_connections is not None:
        pool = aioredis.BlockingConnectionPool.from_url(
            url, max_connections=max_connections, timeout=pool_timeout, **options
        )
        client = aioredis.Redis.from_pool(pool)
    else:
        client = aioredis.Redis.from_url(url, **options)
    traces.instrument_redis(client)
    return client


# After the Redis connection comes back, every subscriber receives this message: whatever was
# published during the outage is gone from pub/sub, so streams re-read the event log.
RESYNC_CHANNEL = "parley:broadcast:resync"
RESYNC_MESSAGE = '{"resync": true}'


def channel_prefix(url: str) -> str:
    """What every channel of this installation starts with in Redis. Pub/sub ignores the database
    index, so two installations on one Redis server with different indexes would otherwise hear each
    other's events; the index is part of the prefix."""
    parts = urlsplit(url)
    db = parts.path.lstrip("/") or parse_qs(parts.query).get("db", ["0"])[0] or "0"
    return f"parley:{db}:"


class PrefixedPublisher:
    """A Redis client that publishes on this installation's channels (a worker, the scheduler)."""

    def __init__(self, redis: aioredis.Redis, prefix: str) -> None:
        self.redis = redis
        self.prefix = prefix

    async def publish(self, channel: str, message: str) -> None:
        await self.redis.publish(self.prefix + channel, message)

    async def publish_many(self, messages: list[tuple[str, str]]) -> None:
        await _publish_pipelined(self.redis, self.prefix, messages)

    async def aclose(self) -> None:
        await self.redis.aclose()


async def _publish_pipelined(redis: aioredis.Redis, prefix: str, messages: list[tuple[str, str]]) -> None:
    """Several PUBLISHes in one round trip, in order."""
    if len(messages) == 1:
        await redis.publish(prefix + messages[0][0], messages[0][1])
        return
    pipe = redis.pipeline(transaction=False)
    for channel, message in messages:
        pipe.publish(prefix + channel, message)  # type: ignore[unused-awaitable] # queued in the pipeline
    await pipe.execute()


class SubscriberOverflow(Exception):
    """The subscriber did not read fast enough and was cut off; it should resume from its cursor."""


class SupervisedRedisBackend(BroadcastBackend):
    def __init__(self, url: str, *, reconnect_delay_max: float = 2.0, prefix: str | None = None) -> None:
        self._url = url
        self._prefix = channel_prefix(url) if prefix is None else prefix
        self._reconnect_delay_max = reconnect_delay_max
        self._publisher = make_redis(url)
        self._channels: set[str] = set()
        self._queue: asyncio.Queue[Event] = asyncio.Queue()
        self._pubsub: aioredis.client.PubSub | None = None
        self._supervisor: asyncio.Task[None] | None = None
        self._connected = asyncio.Event()
        self._lock = asyncio.Lock()
        self._closing = False
        self.reconnects = 0

    async def connect(self) -> None:
        self._closing = False
        self._supervisor = asyncio.create_task(self._supervise(), name="broadcast-redis-supervisor")

    async def disconnect(self) -> None:
        self._closing = True
        supervisor, self._supervisor = self._supervisor, None
        try:
            if supervisor is not None:
                await self._stop_supervisor(supervisor)
        finally:
            self._connected.clear()
            pubsub, self._pubsub = self._pubsub, None
            if pubsub is not None:
                with contextlib.suppress(Exception):
                    await pubsub.aclose()
            await self._publisher.aclose()

    @staticmethod
    async def _stop_supervisor(task: asyncio.Task[None], timeout: float = 5.0) -> None:
        # One cancel() is not enough: on Python 3.11, asyncio.wait_for (inside redis-py's send path)
        # swallows a cancellation that lands as its inner future completes, and the task would then
        # run on forever. Cancel until it has ended (it also checks `_closing` on every turn), and
        # wait with asyncio.wait, which never swallows a cancellation of our own caller.
        deadline = asyncio.get_running_loop().time() + timeout
        while not task.done():
            if asyncio.get_running_loop().time() > deadline:
                log.warning("broadcast.redis.supervisor_did_not_stop")
                return
            task.cancel()
            await asyncio.wait({task}, timeout=0.1)
        if not task.cancelled() and task.exception() is not None:
            log.warning("broadcast.redis.supervisor_failed", error=type(task.exception()).__name__)

    @property
    def connected(self) -> bool:
        return self._connected.is_set()

    async def wait_connected(self, timeout: float) -> bool:
        try:
            await asyncio.wait_for(self._connected.wait(), timeout)
            return True
        except TimeoutError:
            return False

    async def subscribe(self, channel: str) -> None:
        async with self._lock:
            self._channels.add(channel)
            if self._pubsub is not None and self.connected:
                with contextlib.suppress(RedisConnectionError, RedisTimeoutError, OSError):
                    # Awaited before returning, so a publish after subscribe() reaches us. If Redis is
                    # down, the supervisor subscribes the channel when it reconnects.
                    await self._pubsub.subscribe(self._prefix + channel)

    async def unsubscribe(self, channel: str) -> None:
        async with self._lock:
            self._channels.discard(channel)
            if self._pubsub is not None and self.connected:
                with contextlib.suppress(RedisConnectionError, RedisTimeoutError, OSError):
                    await self._pubsub.unsubscribe(self._prefix + channel)

    async def publish(self, channel: str, message: Any) -> None:
        await self._publisher.publish(self._prefix + channel, message)

    async def publish_many(self, messages: list[tuple[str, str]]) -> None:
        await _publish_pipelined(self._publisher, self._prefix, messages)

    async def next_published(self) -> Event:
        return await self._queue.get()

    async def _open(self) -> tuple[aioredis.Redis, aioredis.client.PubSub]:
        # The client is closed with its pubsub, so reconnects do not leak pools.
        client = aioredis.Redis.from_url(
            self._url, socket_connect_timeout=2, socket_keepalive=True, health_check_interval=5
        )
        pubsub = client.pubsub(ignore_subscribe_messages=True)
        try:
            async with self._lock:
                # A sentinel channel keeps the connection subscribed (and so listening) even when no
                # client is, and lets us notice a dead connection through health checks.
                await pubsub.subscribe(
                    self._prefix + "broadcast:keepalive", *(self._prefix + c for c in self._channels)
                )
                self._pubsub = pubsub
                self._connected.set()
        except BaseException:
            with contextlib.suppress(Exception):
                await pubsub.aclose()
                await client.aclose()
            raise
        return client, pubsub

    async def _supervise(self) -> None:
        loop = asyncio.get_running_loop()
        delay = 0.05
        while not self._closing:
            client: aioredis.Redis | None = None
            pubsub: aioredis.client.PubSub | None = None
            try:
                client, pubsub = await self._open()
                if self.reconnects:
                    log.info("broadcast.redis.reconnected", channels=len(self._channels))
                    self._queue.put_nowait(Event(channel=RESYNC_CHANNEL, message=RESYNC_MESSAGE))
                delay = 0.05
                last_heard = loop.time()
                while not self._closing:
                    message = await pubsub.get_message(timeout=5.0)
                    if message is None:
                        # None also stands for an (ignored) subscribe confirmation or health-check
                        # reply; only after a quiet spell ping, so a silently dead connection is detected.
                        if loop.time() - last_heard >= 5.0:
                            await pubsub.ping()
                            last_heard = loop.time()
                        continue
                    last_heard = loop.time()
                    if message.get("type") != "message":
                        continue
                    channel = message["channel"]
                    channel = channel.decode() if isinstance(channel, bytes) else channel
                    data = message["data"]
                    self._queue.put_nowait(
                        Event(
                            channel=channel.removeprefix(self._prefix),
                            message=data.decode() if isinstance(data, bytes) else data,
                        )
                    )
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # noqa: BLE001 - any failure means: reconnect
                self._connected.clear()
                self.reconnects += 1
                log.warning("broadcast.redis.disconnected", error=type(exc).__name__, retry_in=delay)
            finally:
                if pubsub is not None:
                    self._pubsub = None
                    with contextlib.suppress(Exception):
                        await pubsub.aclose()
                if client is not None:
                    with contextlib.suppress(Exception):
                        await client.aclose()
            if self._closing:
                return
            await asyncio.sleep(delay)
            delay = min(delay * 2, self._reconnect_delay_max)


class BoundedSubscriber:
    def __init__(self, queue: asyncio.Queue[Event | None | BaseException]) -> None:
        self._queue = queue

    async def get(self) -> Event:
        item = await self._queue.get()
        if isinstance(item, BaseException):
            raise item
        if item is None:
            raise StopAsyncIteration
        return item

    def get_nowait(self) -> Event | None:
        """The next buffered item, or None when nothing is waiting."""
        try:
            item = self._queue.get_nowait()
        except asyncio.QueueEmpty:
            return None
        if isinstance(item, BaseException):
            raise item
        if item is None:
            raise StopAsyncIteration
        return item

    def __aiter__(self) -> BoundedSubscriber:
        return self

    async def __anext__(self) -> Event:
        return await self.get()


class BoundedBroadcast(Broadcast):
    """`Broadcast` with bounded per-subscriber queues; a full queue ends that subscriber."""

    def __init__(self, url: str | None = None, *, backend: BroadcastBackend | None = None, queue_size: int = 1000):
        super().__init__(url, backend=backend)
        self.queue_size = queue_size
        self._watchers: dict[str, list[Callable[[Event], None]]] = {}

    @property
    def live(self) -> bool:
        """Whether messages published now reach this process (the subscription is connected)."""
        return bool(getattr(self._backend, "connected", True))

    @property
    def reconnects(self) -> int:
        """How often the subscription was lost: messages published meanwhile never arrived."""
        return int(getattr(self._backend, "reconnects", 0))

    async def watch(self, channel: str, callback: Callable[[Event], None]) -> None:
        """Call `callback` for every message on `channel` (and for the resync marker after a
        reconnect) as soon as the listener reads it, before any subscriber's queue: for process-wide
        caches that must forget something before the next request is served."""
        self._watchers.setdefault(channel, []).append(callback)
        await self._backend.subscribe(channel)

    @property
    def backend(self) -> BroadcastBackend:
        return self._backend

    async def _listener(self) -> None:
        while True:
            event = await self._backend.next_published()
            for callback in (
                [c for cs in self._watchers.values() for c in cs]
                if event.channel == RESYNC_CHANNEL
                else self._watchers.get(event.channel, ())
            ):
                try:
                    callback(event)
                except Exception as exc:  # noqa: BLE001 - one watcher must not stop the listener
                    log.warning("broadcast.watcher_failed", error=type(exc).__name__)
            if event.channel == RESYNC_CHANNEL:
                targets = [q for queues in self._subscribers.values() for q in queues]
            else:
                targets = list(self._subscribers.get(event.channel, ()))
            # broadcaster types its queues for events only; ours also carry the overflow marker.
            for queue in cast("list[asyncio.Queue[Event | None | BaseException]]", targets):
                if queue.full():
                    continue  # already cut off; the overflow marker is the last item it reads
                if queue.qsize() >= self.queue_size - 1:
                    queue.put_nowait(SubscriberOverflow(f"more than {self.queue_size} undelivered events"))
                else:
                    queue.put_nowait(event)

    def subscriber_count(self) -> int:
        return sum(len(v) for v in self._subscribers.values())

    async def publish_many(self, messages: list[tuple[str, str]]) -> None:
        """Publish in order, in one round trip where the backend can."""
        many = getattr(self._backend, "publish_many", None)
        if many is not None:
            await many(messages)
            return
        for channel, message in messages:
            await self._backend.publish(channel, message)

    @asynccontextmanager
    async def subscribe(self, channel: str) -> AsyncIterator[BoundedSubscriber]:  # type: ignore[override]
        queue: asyncio.Queue[Any] = asyncio.Queue(maxsize=self.queue_size)
        try:
            if not self._subscribers.get(channel):
                self._subscribers[channel] = {queue}
                await self._backend.subscribe(channel)
            else:
                self._subscribers[channel].add(queue)
            yield BoundedSubscriber(queue)
        finally:
            subs = self._subscribers.get(channel)
            if subs is not None:
                subs.discard(queue)
                if not subs:
                    del self._subscribers[channel]
                    if channel not in self._watchers:  # a watcher keeps the channel subscribed
                        with contextlib.suppress(Exception):
                            await self._backend.unsubscribe(channel)


def create_broadcast(redis_url: str, queue_size: int) -> BoundedBroadcast:
    if redis_url:
        return BoundedBroadcast(backend=SupervisedRedisBackend(redis_url), queue_size=queue_size)
    return BoundedBroadcast("memory://", queue_size=queue_size)
