"""Redis going away and coming back, and subscribers that stop reading — with real Redis processes.

Each test that stops Redis gets its own `redis-server` on a free port (`RedisProcess`), so the
shared test Redis and the session server are never disturbed.
"""

from __future__ import annotations

import asyncio
import json
import secrets
import socket
import string
import time
from collections.abc import AsyncIterator, Iterator
from urllib.parse import urlsplit

import httpx
import pytest
import redis.asyncio as aioredis
import websockets

from infra.broadcast import BoundedBroadcast, SubscriberOverflow, SupervisedRedisBackend, create_broadcast
from tests.conftest import make_settings
from tests.support.gql import GraphQLHTTP, SubscriptionSocket
from tests.support.redis_proc import RedisProcess
from tests.support.server import LiveServer
from tests.test_foundation import PING, PINGS, ping_until_received


@pytest.fixture
def live_servers(database_url: str) -> Iterator[list[LiveServer]]:
    """Started servers appended to this list are stopped at the end of the test, whatever happens."""
    servers: list[LiveServer] = []
    try:
        yield servers
    finally:
        for server in servers:
            server.stop()


def start_server(servers: list[LiveServer], settings) -> LiveServer:
    server = LiveServer(settings)
    servers.append(server)
    return server.start()


async def wait_until(predicate, timeout: float, interval: float = 0.1):
    """Await `predicate()` until it returns something truthy; fail after `timeout` seconds."""
    deadline = time.monotonic() + timeout
    last = None
    while time.monotonic() < deadline:
        last = await predicate()
        if last:
            return last
        await asyncio.sleep(interval)
    raise AssertionError(f"condition not met within {timeout}s (last: {last!r})")


async def drain(sock: SubscriptionSocket, quiet: float = 0.5) -> list[dict]:
    """Read whatever is still in flight until the socket has been quiet for `quiet` seconds."""
    messages = []
    for _ in range(1000):
        try:
            messages.append(await sock.receive(timeout=quiet))
        except TimeoutError:
            return messages
    raise AssertionError("socket never went quiet")


# --- 1. /readyz follows Redis ------------------------------------------------------------------


async def test_readyz_reports_redis_down_and_recovers_without_restart(private_redis, live_servers, tmp_path):
    server = start_server(live_servers, make_settings(tmp_path, redis_url=private_redis.url, worker_in_process=False))
    async with httpx.AsyncClient(base_url=server.url, timeout=30) as http:
        resp = await http.get("/readyz")
        assert resp.status_code == 200, resp.text

        private_redis.stop()

        async def not_ready():
            resp = await http.get("/readyz")
            return resp if resp.status_code == 503 else None

        resp = await wait_until(not_ready, timeout=20, interval=0.2)
        body = resp.json()
        assert body["status"] == "unavailable"
        assert "redis" in body["failed"], body
        assert "database" not in body["failed"], body

        private_redis.start()  # same port

        async def ready():
            resp = await http.get("/readyz")
            return resp if resp.status_code == 200 else None

        resp = await wait_until(ready, timeout=20, interval=0.2)
        assert resp.json()["failed"] == []
        checks = resp.json()["checks"]
        # No `parley worker` runs beside this server: reported, without making it unready.
        assert checks.pop("worker") == "no worker seen"
        assert checks == {"database": "ok", "redis": "ok", "broadcast": "ok", "broker": "ok"}


# --- 2. cross-instance delivery survives a Redis restart ---------------------------------------


async def test_cross_instance_subscription_survives_redis_restart(private_redis, live_servers, tmp_path):
    a = start_server(live_servers, make_settings(tmp_path / "a", redis_url=private_redis.url, worker_in_process=False))
    b = start_server(live_servers, make_settings(tmp_path / "b", redis_url=private_redis.url, worker_in_process=False))
    backend_a = a.app.state.services.broadcast.backend
    assert isinstance(backend_a, SupervisedRedisBackend)
    gql_b = GraphQLHTTP(b.url)
    try:
        async with SubscriptionSocket(a.ws_url) as sock:
            await sock.subscribe(PINGS, {"topic": "restart"})
            ping = await ping_until_received(gql_b, sock, "restart", "before")
            assert ping == {"topic": "restart", "message": "before", "via": "request"}
            # ping_until_received may have published more than once; leave nothing stale in flight.
            assert all(m["type"] == "next" for m in await drain(sock)), "subscription ended early"
            reconnects_before = backend_a.reconnects

            private_redis.restart()  # same port; every connection to the old process is dropped

            ping = await ping_until_received(gql_b, sock, "restart", "after")
            assert ping == {"topic": "restart", "message": "after", "via": "request"}
            # The same subscription on the same socket: A's listener reconnected and re-subscribed.
            assert backend_a.reconnects > reconnects_before
            assert backend_a.connected
            assert a.app.state.services.broadcast.subscriber_count() == 1
    finally:
        await gql_b.aclose()


# --- 3. backpressure: a subscriber that never reads is cut off -----------------------------------


@pytest.fixture(params=["memory", "redis"])
async def bounded_broadcast(request) -> AsyncIterator[BoundedBroadcast]:
    redis = None
    if request.param == "redis":
        redis = RedisProcess().start()
    broadcast = create_broadcast(redis.url if redis else "", queue_size=10)
    try:
        await broadcast.connect()
        if redis:
            assert await broadcast.backend.wait_connected(10), "broadcast listener did not connect"
        yield broadcast
    finally:
        try:
            await broadcast.disconnect()
        finally:
            if redis:
                redis.stop()


async def wait_subscribed(broadcast: BoundedBroadcast, *channels: str) -> None:
    """SUBSCRIBE is not acknowledged to the caller; on Redis, wait until the server has it."""
    backend = broadcast.backend
    if not isinstance(backend, SupervisedRedisBackend):
        return
    client = aioredis.Redis.from_url(backend._url)
    try:

        async def subscribed():
            names = [backend._prefix + c for c in channels]
            counts = dict(await client.pubsub_numsub(*names))
            return all(counts.get(c.encode(), 0) >= 1 for c in names)

        await wait_until(subscribed, timeout=10, interval=0.05)
    finally:
        await client.aclose()


async def test_subscriber_that_never_reads_is_cut_off(bounded_broadcast: BoundedBroadcast):
    broadcast = bounded_broadcast
    async with broadcast.subscribe("slow") as slow, broadcast.subscribe("done") as done:
        await wait_subscribed(broadcast, "slow", "done")
        slow_queue = slow._queue
        largest = 0
        for i in range(1000):
            await broadcast.publish("slow", f"event {i}")
            await asyncio.sleep(0)  # let the listener run between publishes
            largest = max(largest, slow_queue.qsize())
        # Events are handled in order, so once "done" arrives every "slow" event has been dispatched.
        await broadcast.publish("done", "end")
        marker = await asyncio.wait_for(done.get(), 10)
        assert marker.message == "end"
        largest = max(largest, slow_queue.qsize())

        assert largest <= 10
        assert slow_queue.qsize() == 10
        assert not broadcast._listener_task.done(), "listener died (a full queue must never raise there)"

        received = []
        with pytest.raises(SubscriberOverflow):
            for _ in range(11):
                received.append((await asyncio.wait_for(slow.get(), 1)).message)
        # What it had buffered before being cut off, in order, and nothing after.
        assert received == [f"event {i}" for i in range(len(received))]
        assert len(received) == 9

        # The broadcast itself is unaffected: a new subscriber still gets new events.
        async with broadcast.subscribe("slow") as fresh:
            await wait_subscribed(broadcast, "slow")
            await broadcast.publish("slow", "again")
            assert (await asyncio.wait_for(fresh.get(), 10)).message == "again"


async def test_redis_backend_disconnects_promptly_right_after_unsubscribing(private_redis):
    """Unsubscribing makes the listener ping Redis; a disconnect landing then used to have its
    cancellation swallowed (Python 3.11 wait_for inside redis-py) and hang shutdown forever."""
    for _ in range(10):
        broadcast = create_broadcast(private_redis.url, queue_size=10)
        await broadcast.connect()
        try:
            assert await broadcast.backend.wait_connected(10), "broadcast listener did not connect"
            async with broadcast.subscribe("one"), broadcast.subscribe("two"):
                await wait_subscribed(broadcast, "one", "two")
        finally:
            disconnect = asyncio.create_task(broadcast.disconnect())
            done, _ = await asyncio.wait({disconnect}, timeout=5)
            if not done:
                disconnect.cancel()
            assert done, "disconnect() hung"
            disconnect.result()
        assert broadcast.backend._supervisor is None and not broadcast.backend.connected


class NonReadingSocket(SubscriptionSocket):
    """A graphql-transport-ws client that can stop reading: a tiny receive buffer, no compression
    (repetitive JSON would shrink to nothing), and a client library that stops pulling from the
    socket after one frame."""

    async def connect(self) -> dict:
        parts = urlsplit(self.url)
        raw = socket.socket()
        raw.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)  # before connect, so the window stays small
        raw.setblocking(False)
        try:
            await asyncio.wait_for(asyncio.get_running_loop().sock_connect(raw, (parts.hostname, parts.port)), 10)
            self.ws = await websockets.connect(
                self.url,
                sock=raw,
                subprotocols=["graphql-transport-ws"],
                open_timeout=10,
                max_queue=1,
                compression=None,
                ping_interval=None,
            )
        except BaseException:
            raw.close()
            raise
        await self.ws.send(json.dumps({"type": "connection_init", "payload": self.payload}))
        ack = await self.receive()
        assert ack.get("type") == "connection_ack", ack
        return ack


async def _pin_websocket_send_buffers(server: LiveServer) -> int:
    """Over loopback (64 KB MSS) Linux grows a socket's send buffer to megabytes; pin the server's
    WebSocket send buffers to a few KB, as a slow network path would keep them."""
    pinned = 0
    for conn in list(server.server.server_state.connections):
        if "WebSocket" in type(conn).__name__ and conn.transport is not None:
            conn.transport.get_extra_info("socket").setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, 4096)
            pinned += 1
    return pinned


async def _queue_sizes(server: LiveServer, channel: str) -> list[int]:
    return [q.qsize() for q in server.app.state.services.broadcast._subscribers.get(channel, ())]


async def test_websocket_subscriber_that_stops_reading_is_completed(private_redis, live_servers, tmp_path):
    queue_size = 5
    server = start_server(
        live_servers,
        make_settings(tmp_path, redis_url=private_redis.url, worker_in_process=False, broadcast_queue_size=queue_size),
    )
    gql = GraphQLHTTP(server.url)
    sock = NonReadingSocket(server.ws_url)
    channel = "diagnostics:stalled"
    try:
        await sock.connect()
        assert server.run_on_loop(_pin_websocket_send_buffers(server)) == 1
        op_id = await sock.subscribe(PINGS, {"topic": "stalled"})
        await ping_until_received(gql, sock, "stalled", "warm-up")
        assert all(m["type"] == "next" for m in await drain(sock)), "subscription ended early"

        # The client now stops reading while pings keep coming, one request at a time (never a
        # burst: only the stalled socket may be what overflows the queue). ~1 KB each, incompressible.
        alphabet = string.ascii_letters + string.digits
        published = 300
        largest = 0
        for i in range(published):
            message = f"{i:04d} " + "".join(secrets.choice(alphabet) for _ in range(990))
            data = await gql.data(PING, {"topic": "stalled", "message": message})
            assert data["diagnosticsPing"]["accepted"] is True
            if i % 10 == 0:
                largest = max([largest, *server.run_on_loop(_queue_sizes(server, channel))])

        # Server side: the subscriber's buffer never grew past its bound, and it is full (cut off).
        sizes = server.run_on_loop(_queue_sizes(server, channel))
        largest = max([largest, *sizes])
        assert largest <= queue_size
        assert sizes == [queue_size], sizes

        # Client side: once it reads again it gets what was already in flight, then `complete`.
        nexts = 0
        for _ in range(published + 1):
            msg = await sock.receive(timeout=10)
            if msg["type"] != "next":
                break
            nexts += 1
        assert msg == {"id": op_id, "type": "complete"}, msg
        assert 0 < nexts < published, nexts

        # The server released the subscription, and the socket is still usable.
        async def released():
            return server.run_on_loop(_queue_sizes(server, channel)) == []

        await wait_until(released, timeout=10)
        await sock.subscribe(PINGS, {"topic": "stalled"})
        ping = await ping_until_received(gql, sock, "stalled", "resumed")
        assert ping["message"] == "resumed"
    finally:
        await sock.close()
        await gql.aclose()


async def test_two_installations_on_one_redis_server_do_not_hear_each_other():
    """Pub/sub ignores the database index: channels carry it in their prefix, so an installation on
    index 1 does not wake the streams of one on index 2 of the same server."""
    from tests.conftest import TEST_REDIS_URL

    base = urlsplit(TEST_REDIS_URL)
    first = create_broadcast(base._replace(path="/1").geturl(), 10)
    second = create_broadcast(base._replace(path="/2").geturl(), 10)
    await first.connect()
    await second.connect()
    try:
        async with first.subscribe("account:1") as mine, second.subscribe("account:1") as theirs:
            await wait_subscribed(first, "account:1")
            await wait_subscribed(second, "account:1")
            await first.publish("account:1", '{"id": 1}')
            got = await asyncio.wait_for(mine.get(), 5)
            assert got.channel == "account:1" and got.message == '{"id": 1}'
            with pytest.raises(TimeoutError):
                await asyncio.wait_for(theirs.get(), 0.5)
    finally:
        await first.disconnect()
        await second.disconnect()
