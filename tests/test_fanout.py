"""Fan-out: many sockets on one process share one feed per channel; the event log is read once per
batch of events (not once per socket), visibility is decided per group, every socket gets every
event it may see, and a SIGTERM closes every socket with 1012 (resume elsewhere) within seconds."""

from __future__ import annotations

import asyncio
import collections
import signal
import time

import jwt
import pytest
from sqlalchemy import event as sa_event
from sqlalchemy import text
from websockets.exceptions import ConnectionClosed

from infra.wakeup import Flag, Inbox
from parley.ws_protocol import LeanWebSocketProtocol
from tests.conftest import TEST_DATABASE_URL, TEST_REDIS_URL
from tests.support.desk import Desk, build_desk
from tests.support.gql import GraphQLHTTP, SubscriptionSocket
from tests.support.server import LiveServer, ProcessServer

# The conversation's contact and labels are read through loaders: once per socket and event if each
# socket ran the selection itself, once per visibility group when the group shares the result.
FEED = "subscription { accountEvents { cursor type message { id content } conversation { contact { name } labels { title } } } }"
REPLY = """mutation($c: ID!, $t: String!) { messageCreate(input: {conversationId: $c, content: $t}) {
  message { id } errors { code } } }"""


@pytest.fixture
async def desk(gql: GraphQLHTTP, smtp) -> Desk:
    return await build_desk(gql, smtp)


async def _open(url: str, members: list, count: int) -> list[SubscriptionSocket]:
    sockets = [
        SubscriptionSocket(url, payload={"token": m.access, "accountId": m.account_id})
        for m in (members[i % len(members)] for i in range(count))
    ]
    for start in range(0, count, 50):
        batch = sockets[start : start + 50]
        await asyncio.gather(*(s.connect() for s in batch))
        await asyncio.gather(*(s.subscribe(FEED) for s in batch))
    return sockets


async def _contents(sock: SubscriptionSocket, want: int, timeout: float = 20) -> list[str]:
    got: list[str] = []
    deadline = asyncio.get_running_loop().time() + timeout
    while len(got) < want:
        item = (await sock.next_data(timeout=max(deadline - asyncio.get_running_loop().time(), 0.01)))["accountEvents"]
        if item["type"] == "message.created":
            got.append(item["message"]["content"])
    return got


@pytest.mark.alone  # 200 sockets against the clock
async def test_two_hundred_sockets_get_every_message_of_a_burst_with_a_constant_number_of_reads(
    server: LiveServer, desk: Desk
):
    conversation = await desk.new_conversation("burst")
    sockets = await _open(server.ws_url, [desk.admin, desk.agent], 200)
    outsider = SubscriptionSocket(
        server.ws_url, payload={"token": desk.outsider.access, "accountId": desk.outsider.account_id}
    )
    statements: list[str] = []

    def count(conn, cursor, statement, parameters, context, executemany):
        statements.append(statement)

    engine = server.app.state.services.engine.sync_engine
    try:
        await outsider.connect()
        await outsider.subscribe(FEED)
        await asyncio.sleep(0.5)  # the joins' first reads are done
        sa_event.listen(engine, "before_cursor_execute", count)
        burst = [f"burst {i}" for i in range(5)]
        for text in burst:
            body = await desk.data(desk.agent, REPLY, {"c": conversation["id"], "t": text})
            assert body["messageCreate"]["errors"] == []
        results = await asyncio.gather(*(_contents(s, len(burst)) for s in sockets))
        sa_event.remove(engine, "before_cursor_execute", count)
        assert all(r == burst for r in results), [r for r in results if r != burst][:3]
        # The agent outside the inbox hears none of it (the visibility of its own group).
        with pytest.raises(TimeoutError):
            while True:
                item = (await outsider.next_data(timeout=1))["accountEvents"]
                assert item["type"] != "message.created", item
        log_reads = [s for s in statements if "FROM events" in s and "events.position >" in s]
        # One read of the log per wake-up for all 200 sockets (a burst may coalesce into fewer).
        assert 1 <= len(log_reads) <= 2 * len(burst), len(log_reads)
        # Everything, the five mutations and the loaders of the selection included, in far fewer
        # statements than one per socket: the selection runs once per event and visibility group.
        assert len(statements) < 200, len(statements)
    finally:
        if sa_event.contains(engine, "before_cursor_execute", count):
            sa_event.remove(engine, "before_cursor_execute", count)
        await asyncio.gather(*(s.close() for s in [*sockets, outsider]), return_exceptions=True)
    hub = server.app.state.services.hub
    for _ in range(50):
        if not any(f.channel.startswith("account:") and f.subscribers for f in hub.feeds.values()):
            break
        await asyncio.sleep(0.1)
    assert not any(f.subscribers for f in hub.feeds.values() if f.channel.startswith("account:"))


@pytest.mark.alone  # a served process and a signal
async def test_sigterm_closes_every_socket_with_1012_within_seconds(desk: Desk, tmp_path):
    env = {
        "PARLEY_ENV": "test",
        "PARLEY_DATABASE_URL": TEST_DATABASE_URL,
        "PARLEY_REDIS_URL": TEST_REDIS_URL,
        "PARLEY_DATA_DIR": str(tmp_path),
        "PARLEY_WORKER_IN_PROCESS": "false",
        "PARLEY_DRAMATIQ_NAMESPACE": "parley-test",
        "PARLEY_LOG_LEVEL": "WARNING",
    }
    served = ProcessServer(env).start()
    sockets: list[SubscriptionSocket] = []
    try:
        sockets = await _open(served.ws_url, [desk.admin, desk.agent], 20)
        await asyncio.sleep(0.5)
        started = time.monotonic()
        assert served.proc is not None
        served.proc.send_signal(signal.SIGTERM)

        async def closed_with(sock: SubscriptionSocket) -> int | None:
            try:
                while True:
                    await sock.receive(timeout=8)
            except ConnectionClosed as exc:
                return exc.rcvd.code if exc.rcvd is not None else None

        codes = await asyncio.gather(*(closed_with(s) for s in sockets))
        assert codes == [1012] * len(sockets), codes
        assert time.monotonic() - started < 5
        await asyncio.to_thread(served.proc.wait, 10)
        assert time.monotonic() - started < 8, "the process did not exit"
        assert "IllegalStateChangeError" not in served.read_output()
    finally:
        await asyncio.gather(*(s.close() for s in sockets), return_exceptions=True)
        served.stop()


async def test_the_shared_recheck_closes_a_socket_whose_session_ended_without_a_broadcast(
    server: LiveServer, desk: Desk, db_engine
):
    """A revocation whose broadcast was missed: the process's one re-check of all its sockets (one
    statement for sessions, one for memberships, one for tokens) closes that socket with 4401 and
    leaves the others open."""
    session_id = jwt.decode(desk.agent.access, options={"verify_signature": False})["sid"]
    revoked = SubscriptionSocket(
        server.ws_url, payload={"token": desk.agent.access, "accountId": desk.agent.account_id}
    )
    kept = SubscriptionSocket(server.ws_url, payload={"token": desk.admin.access, "accountId": desk.admin.account_id})
    try:
        for sock in (revoked, kept):
            await sock.connect()
            await sock.subscribe(FEED)
        async with db_engine.begin() as conn:
            await conn.execute(text("UPDATE user_sessions SET revoked_at = now() WHERE id = :id"), {"id": session_id})
        registry = server.app.state.services.sockets
        statements: list[str] = []

        def count(conn, cursor, statement, parameters, context, executemany):
            if "FROM events" not in statement:  # the process's event-log poll may run meanwhile
                statements.append(statement)

        engine = server.app.state.services.engine.sync_engine
        sa_event.listen(engine, "before_cursor_execute", count)
        try:
            server.run_on_loop(registry.revalidate())
        finally:
            sa_event.remove(engine, "before_cursor_execute", count)
        assert len([s for s in statements if s.lstrip().upper().startswith("SELECT")]) <= 3, statements
        with pytest.raises(ConnectionClosed) as closed:
            while True:
                await revoked.receive(timeout=5)
        assert closed.value.rcvd is not None and closed.value.rcvd.code == 4401
        await kept.ws.ping()  # still open
    finally:
        await asyncio.gather(revoked.close(), kept.close(), return_exceptions=True)


def _holds_a_deque(obj: object) -> list[str]:
    """Attributes of `obj` that are (or hold) a deque: asyncio's Event and Queue keep theirs."""
    found = []
    for name, value in vars(obj).items():
        if isinstance(value, (collections.deque, asyncio.Event, asyncio.Queue)):
            found.append(name)
    return found


async def test_an_idle_subscribed_socket_holds_no_queue_event_or_handshake(server: LiveServer, desk: Desk):
    """What a thousand idle sockets cost is mostly what each holds: the protocol's receive queue and
    writable flag, and the hub's wake-up, answer like asyncio's but keep no deque (~0.7 KB each),
    and the handshake's request and response go once answered (parley/ws_protocol.py)."""
    conversation = await desk.new_conversation("idle check")
    sockets = await _open(server.ws_url, [desk.agent], 2)
    try:
        body = await desk.data(desk.agent, REPLY, {"c": conversation["id"], "t": "wakes the idle ones"})
        assert body["messageCreate"]["errors"] == []
        assert [await _contents(s, 1) for s in sockets] == [["wakes the idle ones"]] * 2
        protocols = [p for p in server.server.server_state.connections if isinstance(p, LeanWebSocketProtocol)]
        assert len(protocols) == 2, server.server.server_state.connections
        for protocol in protocols:
            assert protocol.handshake_complete and protocol.request is None and protocol.response is None
            assert _holds_a_deque(protocol) == []
        subscribers = [s for f in server.app.state.services.hub.feeds.values() for s in f.subscribers]
        assert len(subscribers) >= 2
        assert all(not isinstance(s.ready, asyncio.Event) for s in subscribers)
        # Still a working socket after the wait: a second event arrives on both.
        body = await desk.data(desk.agent, REPLY, {"c": conversation["id"], "t": "and again"})
        assert [await _contents(s, 1) for s in sockets] == [["and again"]] * 2
    finally:
        await asyncio.gather(*(s.close() for s in sockets), return_exceptions=True)


async def _frames_until(sock: SubscriptionSocket, messages: int, timeout: float = 20) -> list[dict]:
    """Every `next` message up to the `messages`-th message.created."""
    frames: list[dict] = []
    seen = 0
    deadline = asyncio.get_running_loop().time() + timeout
    while seen < messages:
        frame = await sock.receive(timeout=max(deadline - asyncio.get_running_loop().time(), 0.01))
        assert frame["type"] == "next", frame
        frames.append(frame)
        seen += frame["payload"]["data"]["accountEvents"]["type"] == "message.created"
    return frames


async def _waiting_subscribers(services, count: int) -> list:
    for _ in range(100):
        feeds = services.hub.feeds.values() if services.hub is not None else ()
        subs = [s for f in feeds if f.channel.startswith("account:") for s in f.subscribers]
        if len(subs) == count and all(s.parked and s.live for s in subs):
            return subs
        await asyncio.sleep(0.05)
    raise AssertionError("the subscribers did not settle")


async def test_the_hub_writes_a_waiting_subscription_s_frames_as_its_stream_would(server: LiveServer, desk: Desk):
    """Sockets whose streams wait get each event from the hub's plain loop (schema/execution/events.py
    DirectSink): the same messages as a socket served through its own stream — the first with the
    subscription's cost report, the others with their data alone — in the same order."""
    conversation = await desk.new_conversation("direct frames")
    sockets = await _open(server.ws_url, [desk.agent], 3)
    try:
        subs = await _waiting_subscribers(server.app.state.services, 3)
        hub = server.app.state.services.hub
        assert hub.direct
        subs[0].direct = None  # this one through its stream, the ordinary way
        before = hub.direct_sent
        for text in ("first", "second"):
            body = await desk.data(desk.agent, REPLY, {"c": conversation["id"], "t": text})
            assert body["messageCreate"]["errors"] == []
        frames = [await _frames_until(s, 2) for s in sockets]
        events = [[f["payload"]["data"] for f in mine] for mine in frames]
        assert events[0] == events[1] == events[2], events
        contents = [e["accountEvents"]["message"]["content"] for e in events[0] if e["accountEvents"]["message"]]
        assert contents == ["first", "second"]
        for mine in frames:
            assert set(mine[0]["payload"]) == {"data", "extensions"}, mine[0]
            assert set(mine[0]["payload"]["extensions"]["cost"]) == set(frames[0][0]["payload"]["extensions"]["cost"])
            assert all(set(f["payload"]) == {"data"} for f in mine[1:]), mine
        # The hub wrote frames of the two sockets with a sink (alone: all of theirs, 2 × 2; under a
        # loaded CI run one socket's went through its stream instead — a sink that cannot send
        # hands the event to the stream, and the answers above are the same either way).
        sent = hub.direct_sent - before
        assert 0 < sent <= 2 * len(frames[0]), (sent, len(frames[0]))
    finally:
        await asyncio.gather(*(s.close() for s in sockets), return_exceptions=True)


async def test_sockets_joining_a_followed_feed_from_now_read_nothing_and_get_the_next_event(
    server: LiveServer, desk: Desk
):
    """A socket subscribing without a cursor to an account the process already follows takes the
    feed's position and is caught up at once: no read of the log per joining socket (with 1,000
    sockets connecting, that was one read per join), and the next event still reaches every one."""
    conversation = await desk.new_conversation("joins")
    first = await _open(server.ws_url, [desk.agent], 1)
    statements: list[str] = []

    def count(conn, cursor, statement, parameters, context, executemany):
        statements.append(statement)

    engine = server.app.state.services.engine.sync_engine
    joined: list[SubscriptionSocket] = []
    try:
        await _waiting_subscribers(server.app.state.services, 1)
        sa_event.listen(engine, "before_cursor_execute", count)
        joined = await _open(server.ws_url, [desk.agent, desk.admin], 20)
        subs = await _waiting_subscribers(server.app.state.services, 21)
        sa_event.remove(engine, "before_cursor_execute", count)
        log_reads = [s for s in statements if "FROM events" in s and "events.position >" in s]
        assert log_reads == [], log_reads
        assert all(s.live for s in subs)
        body = await desk.data(desk.agent, REPLY, {"c": conversation["id"], "t": "to all who joined"})
        assert body["messageCreate"]["errors"] == []
        got = await asyncio.gather(*(_contents(s, 1) for s in [*first, *joined]))
        assert got == [["to all who joined"]] * 21
    finally:
        if sa_event.contains(engine, "before_cursor_execute", count):
            sa_event.remove(engine, "before_cursor_execute", count)
        await asyncio.gather(*(s.close() for s in [*first, *joined]), return_exceptions=True)


async def test_flag_and_inbox_answer_like_asyncio_event_and_queue():
    flag = Flag()
    woken: list[int] = []

    async def waiter(i: int) -> None:
        await flag.wait()
        woken.append(i)

    tasks = [asyncio.create_task(waiter(i)) for i in range(3)]
    await asyncio.sleep(0)
    assert woken == [] and not flag.is_set()
    flag.set()
    await asyncio.gather(*tasks)
    assert sorted(woken) == [0, 1, 2] and flag.is_set()
    assert await flag.wait() is True  # set: returns at once
    flag.clear()
    late = asyncio.create_task(flag.wait())
    await asyncio.sleep(0)
    late.cancel()  # a cancelled waiter leaves nothing behind
    with pytest.raises(asyncio.CancelledError):
        await late
    assert not flag._waiters

    inbox = Inbox()
    assert inbox.empty()
    reader = asyncio.create_task(inbox.get())
    await asyncio.sleep(0)
    inbox.put_nowait("a")
    inbox.put_nowait("b")
    assert await reader == "a" and not inbox.empty() and inbox.qsize() == 1
    assert await inbox.get() == "b" and inbox.empty()
    gone = asyncio.create_task(inbox.get())
    await asyncio.sleep(0)
    gone.cancel()
    with pytest.raises(asyncio.CancelledError):
        await gone
    inbox.put_nowait("c")  # nobody waits: kept for the next reader
    assert await asyncio.wait_for(inbox.get(), 1) == "c"
