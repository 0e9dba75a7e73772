"""Real-time over GraphQL subscriptions (graphql-transport-ws): resumable event streams with
per-event visibility, typing, presence, socket limits — across API processes, through a Redis
restart, with real sockets."""

from __future__ import annotations

import asyncio
import json
import secrets
from collections.abc import Iterator
from datetime import timedelta

import pytest
from sqlalchemy import func, select
from websockets.exceptions import ConnectionClosed

from db.models import Event
from db.session import create_session_factory
from domain import events
from domain.events.relay import sweep_events
from infra.broadcast import make_redis
from resolvers.realtime import decode_cursor
from tests.conftest import TEST_DATABASE_URL, TEST_REDIS_URL, make_settings
from tests.support.accounts import Member, signup
from tests.support.desk import ERR, Desk, build_desk
from tests.support.gql import GraphQLHTTP, SubscriptionSocket
from tests.support.redis_proc import RedisProcess
from tests.support.server import LiveServer, ProcessServer
from tests.test_redis_resilience import NonReadingSocket, _pin_websocket_send_buffers, drain

ACCOUNT_EVENTS = """subscription($after: String) { accountEvents(after: $after) {
  cursor type changedAttributes conversation { id status } message { id content private }
  contact { id name } presence { status user { id } } } }"""
CONVERSATION_EVENTS = """subscription($id: ID!, $after: String) { conversationEvents(id: $id, after: $after) {
  cursor type message { id content private } conversation { id status }
  typing { on private user { id } } } }"""
NOTE = f"""mutation($c: ID!, $t: String!) {{ messageCreate(input: {{conversationId: $c, content: $t, private: true}}) {{
  message {{ id }} {ERR} }} }}"""
REPLY = f"""mutation($c: ID!, $t: String!) {{ messageCreate(input: {{conversationId: $c, content: $t}}) {{
  message {{ id }} {ERR} }} }}"""


def socket_for(url: str, member: Member) -> SubscriptionSocket:
    return SubscriptionSocket(url, payload={"token": member.access, "accountId": member.account_id})


async def events_until(
    sock: SubscriptionSocket, predicate, *, timeout: float = 10, field: str = "accountEvents"
) -> list[dict]:
    """Collect stream items until one satisfies `predicate` (included)."""
    seen = []
    deadline = asyncio.get_running_loop().time() + timeout
    while True:
        remaining = deadline - asyncio.get_running_loop().time()
        if remaining <= 0:
            raise AssertionError(f"no matching event within {timeout}s; got {seen}")
        item = (await sock.next_data(timeout=remaining))[field]
        seen.append(item)
        if predicate(item):
            return seen


async def nothing_within(sock: SubscriptionSocket, seconds: float) -> None:
    messages = await drain(sock, quiet=seconds)
    assert messages == [], messages


@pytest.fixture
async def desk(gql: GraphQLHTTP, smtp) -> Desk:
    return await build_desk(gql, smtp)


# --- across processes ---------------------------------------------------------------------------


@pytest.fixture(scope="module")
def process_b(tmp_path_factory) -> Iterator[ProcessServer]:
    """A second API process (`parley serve`) on the same PostgreSQL and Redis."""
    server = ProcessServer(
        {
            "PARLEY_ENV": "test",
            "PARLEY_DATABASE_URL": TEST_DATABASE_URL,
            "PARLEY_REDIS_URL": TEST_REDIS_URL,
            "PARLEY_DATA_DIR": str(tmp_path_factory.mktemp("process-b")),
            "PARLEY_WORKER_IN_PROCESS": "false",
            "PARLEY_DRAMATIQ_NAMESPACE": "parley-test",
            "PARLEY_LOG_LEVEL": "WARNING",
        }
    )
    server.start()
    try:
        yield server
    finally:
        server.stop()


async def test_message_through_process_b_reaches_agent_on_process_a_but_not_an_outsider(
    server: LiveServer, process_b: ProcessServer, desk: Desk
):
    conversation = await desk.new_conversation("first")
    b = GraphQLHTTP(process_b.url)
    try:
        async with (
            socket_for(server.ws_url, desk.agent) as agent_sock,
            socket_for(server.ws_url, desk.outsider) as outsider_sock,
        ):
            await agent_sock.subscribe(ACCOUNT_EVENTS)
            await outsider_sock.subscribe(ACCOUNT_EVENTS)
            await asyncio.sleep(0.3)
            sent = await b.data(REPLY, {"c": conversation["id"], "t": "through B"}, headers=desk.agent.headers())
            assert sent["messageCreate"]["errors"] == []
            got = await events_until(agent_sock, lambda e: e["type"] == "message.created")
            assert got[-1]["message"]["content"] == "through B"
            assert got[-1]["conversation"]["id"] == conversation["id"]
            # The outsider (an agent of the account, not of the inbox) hears nothing of it...
            await nothing_within(outsider_sock, 1.5)
            # ...though the socket is alive: a contact event (visible to every member) does arrive.
            await b.data(
                'mutation { contactCreate(input: {name: "Seen by all"}) { contact { id } errors { code } } }',
                headers=desk.admin.headers(),
            )
            item = (await outsider_sock.next_data())["accountEvents"]
            assert item["type"] == "contact.created" and item["contact"]["name"] == "Seen by all"
            # Presence is shared too: the agent's socket on A shows as connected when asked on B.
            presence = await b.data("{ agentPresence { connected status user { id } } }", headers=desk.admin.headers())
            mine = {p["user"]["id"]: p for p in presence["agentPresence"]}
            assert mine[desk.user_ids["agent"]]["connected"] is True
            assert mine[desk.user_ids["agent"]]["status"] == "ONLINE"
            assert mine[desk.user_ids["admin"]]["connected"] is False
    finally:
        await b.aclose()


# --- resuming -------------------------------------------------------------------------------------


async def test_reconnect_with_cursor_receives_exactly_the_missed_messages_then_live_ones(
    server: LiveServer, desk: Desk
):
    conversation = await desk.new_conversation("start")
    async with socket_for(server.ws_url, desk.agent) as sock:
        await sock.subscribe(CONVERSATION_EVENTS, {"id": conversation["id"]})
        await asyncio.sleep(0.2)
        await desk.data(desk.agent, REPLY, {"c": conversation["id"], "t": "before the break"})
        got = await events_until(sock, lambda e: e["type"] == "message.created", field="conversationEvents")
        cursor = got[-1]["cursor"]
    for i in range(1, 21):
        await desk.incoming(conversation["id"], f"missed {i}")
    async with socket_for(server.ws_url, desk.agent) as sock:
        await sock.subscribe(CONVERSATION_EVENTS, {"id": conversation["id"], "after": cursor})
        replayed = await events_until(
            sock,
            lambda e: e["type"] == "message.created" and e["message"]["content"] == "missed 20",
            field="conversationEvents",
        )
        await desk.data(desk.agent, REPLY, {"c": conversation["id"], "t": "live again"})
        live = await events_until(sock, lambda e: e["type"] == "message.created", field="conversationEvents")
    messages = [e["message"]["content"] for e in replayed if e["type"] == "message.created"]
    assert messages == [f"missed {i}" for i in range(1, 21)]
    assert [e["message"]["content"] for e in live if e["type"] == "message.created"] == ["live again"]
    cursors = [e["cursor"] for e in [*replayed, *live]]
    assert len(set(cursors)) == len(cursors), "an event was delivered twice"


async def test_a_cursor_taken_between_two_commits_misses_neither(server: LiveServer, desk: Desk, db_engine):
    """Transaction 1 writes its events first but commits last; transaction 2 (a message through the
    API) commits meanwhile, without waiting for it. A client resuming from the cursor it held before
    either commit gets both, in the order they committed (each COMMIT takes the next position)."""
    conversation = await desk.new_conversation("race")
    sessions = create_session_factory(db_engine)
    async with socket_for(server.ws_url, desk.admin) as sock:
        await sock.subscribe(ACCOUNT_EVENTS)
        await asyncio.sleep(0.2)
        await desk.data(desk.agent, REPLY, {"c": conversation["id"], "t": "cursor here"})
        cursor = (await events_until(sock, lambda e: e["type"] == "message.created"))[-1]["cursor"]

    first = sessions()
    try:
        async with sessions() as s:
            row = await s.scalar(select(Event).where(Event.type == "conversation.created"))
            account_id, contact_id = row.account_id, row.contact_id
        events.record(
            first,
            account_id=account_id,
            type="contact.updated",
            contact_id=contact_id,
            payload={"changed_attributes": {"name": ["Carla Customer", "Carla C."]}},
        )
        await events.finalize(first)  # its events wait for its COMMIT to be numbered
        async with socket_for(server.ws_url, desk.admin) as sock:
            await sock.subscribe(ACCOUNT_EVENTS, {"after": cursor})
            await nothing_within(sock, 0.5)  # nothing is visible yet
            await asyncio.wait_for(desk.data(desk.agent, REPLY, {"c": conversation["id"], "t": "second txn"}), 10)
            got = await events_until(sock, lambda e: e["type"] == "message.created")
            assert got[-1]["message"]["content"] == "second txn"
            assert "contact.updated" not in [e["type"] for e in got]
            await first.commit()
            later = await events_until(sock, lambda e: e["type"] == "contact.updated")
        positions = [decode_cursor(e["cursor"]) for e in got + later]
        assert positions == sorted(positions) and len(set(positions)) == len(positions)
    finally:
        await first.close()


# --- Redis restart ----------------------------------------------------------------------------------


async def test_redis_restart_loses_nothing(private_redis: RedisProcess, desk: Desk, db_engine, tmp_path):
    """A second server on a private Redis: events committed while Redis is down reach the live
    socket after it returns (a reconnect makes every stream re-read the log), a client resuming from
    its cursor gets them all, and the sweeper (as the worker runs it) relays what stayed unrelayed.
    (No in-process worker here: Dramatiq's asyncio loop thread is process-wide, and the session's
    server owns it.)"""
    with LiveServer(make_settings(tmp_path, redis_url=private_redis.url, worker_in_process=False)) as other:
        gql = GraphQLHTTP(other.url)
        try:
            conversation = await desk.new_conversation("before the outage")
            async with socket_for(other.ws_url, desk.agent) as sock:
                await sock.subscribe(CONVERSATION_EVENTS, {"id": conversation["id"]})
                await asyncio.sleep(0.3)
                await gql.data(REPLY, {"c": conversation["id"], "t": "up"}, headers=desk.agent.headers())
                cursor = (
                    await events_until(sock, lambda e: e["type"] == "message.created", field="conversationEvents")
                )[-1]["cursor"]

                private_redis.stop()
                for i in range(5):
                    body = await gql.data(
                        REPLY, {"c": conversation["id"], "t": f"during outage {i}"}, headers=desk.agent.headers()
                    )
                    assert body["messageCreate"]["errors"] == []
                private_redis.start()

                got = await events_until(
                    sock,
                    lambda e: e["type"] == "message.created" and e["message"]["content"] == "during outage 4",
                    field="conversationEvents",
                    timeout=30,
                )
                assert [e["message"]["content"] for e in got if e["type"] == "message.created"] == [
                    f"during outage {i}" for i in range(5)
                ]

            async with socket_for(other.ws_url, desk.agent) as again:
                await again.subscribe(CONVERSATION_EVENTS, {"id": conversation["id"], "after": cursor})
                got = await events_until(
                    again,
                    lambda e: e["type"] == "message.created" and e["message"]["content"] == "during outage 4",
                    field="conversationEvents",
                )
                assert [e["message"]["content"] for e in got if e["type"] == "message.created"] == [
                    f"during outage {i}" for i in range(5)
                ]

            sessions = create_session_factory(db_engine)

            async def unrelayed() -> int:
                async with sessions() as s:
                    return await s.scalar(select(func.count()).select_from(Event).where(Event.relayed_at.is_(None)))

            assert await unrelayed() >= 5  # the outage's messages were committed, not published
            publisher = make_redis(private_redis.url)
            try:
                swept = await sweep_events(sessions, publisher, older_than=timedelta(0))
            finally:
                await publisher.aclose()
            assert swept >= 5
            assert await unrelayed() == 0
        finally:
            await gql.aclose()


# --- visibility -------------------------------------------------------------------------------------


async def test_private_notes_reach_only_agents_who_may_see_the_conversation(server: LiveServer, desk: Desk):
    conversation = await desk.new_conversation("note me")
    async with (
        socket_for(server.ws_url, desk.agent) as agent_sock,
        socket_for(server.ws_url, desk.outsider) as outsider_sock,
    ):
        await agent_sock.subscribe(ACCOUNT_EVENTS)
        await outsider_sock.subscribe(ACCOUNT_EVENTS)
        await asyncio.sleep(0.2)
        await desk.data(desk.admin, NOTE, {"c": conversation["id"], "t": "secret note"})
        got = await events_until(agent_sock, lambda e: e["type"] == "message.created")
        assert got[-1]["message"] == {"id": got[-1]["message"]["id"], "content": "secret note", "private": True}
        await nothing_within(outsider_sock, 1.0)

    # The outsider cannot open the conversation's stream either.
    async with socket_for(server.ws_url, desk.outsider) as sock:
        await sock.subscribe(CONVERSATION_EVENTS, {"id": conversation["id"]})
        msg = await sock.receive()
        assert msg["type"] in ("error", "next"), msg
        errors = msg["payload"] if msg["type"] == "error" else msg["payload"]["errors"]
        assert errors[0]["extensions"]["code"] == "NOT_FOUND"


async def test_an_agent_removed_from_the_inbox_stops_receiving_at_once(server: LiveServer, desk: Desk):
    conversation = await desk.new_conversation("membership")
    async with socket_for(server.ws_url, desk.agent) as sock:
        await sock.subscribe(ACCOUNT_EVENTS)
        await asyncio.sleep(0.2)
        await desk.data(desk.admin, REPLY, {"c": conversation["id"], "t": "while a member"})
        await events_until(sock, lambda e: e["type"] == "message.created")
        removed = await desk.data(
            desk.admin,
            f"""mutation($i: ID!) {{ inboxMembersSet(id: $i, userIds: []) {{ {ERR} }} }}""",
            {"i": desk.inbox_id},
        )
        assert removed["inboxMembersSet"]["errors"] == []
        await drain(sock, quiet=0.5)
        await desk.data(desk.admin, REPLY, {"c": conversation["id"], "t": "after removal"})
        await nothing_within(sock, 1.0)


async def test_streams_stay_inside_the_account(server: LiveServer, gql: GraphQLHTTP, desk: Desk, redis_client):
    other = await signup(gql, account="Elsewhere")
    conversation = await desk.new_conversation("account A only")
    async with socket_for(server.ws_url, other) as sock:
        await sock.subscribe(ACCOUNT_EVENTS)
        cid = await sock.subscribe(CONVERSATION_EVENTS, {"id": conversation["id"]})
        msg = await sock.receive()
        assert msg["id"] == cid and msg["type"] in ("error", "next"), msg
        errors = msg["payload"] if msg["type"] == "error" else msg["payload"]["errors"]
        assert errors[0]["extensions"]["code"] == "NOT_FOUND"
        if msg["type"] == "next":
            assert await sock.receive() == {"id": cid, "type": "complete"}
        await asyncio.sleep(0.2)
        await desk.data(desk.admin, REPLY, {"c": conversation["id"], "t": "not for B"})
        await desk.data(
            desk.admin, 'mutation { contactCreate(input: {name: "A contact"}) { contact { id } errors { code } } }'
        )
        await nothing_within(sock, 1.0)


async def test_notification_events_reach_only_their_user(server: LiveServer, desk: Desk, db_engine, redis_client):
    sessions = create_session_factory(db_engine)
    me = await desk.data(desk.agent, "{ me { user { id } } }")
    from schema.core.ids import decode_id

    agent_pk = decode_id(me["me"]["user"]["id"], "User")
    admin_pk = decode_id(desk.user_ids["admin"], "User")
    account_pk = (
        decode_id(desk.agent.account_id, "Account")
        if not desk.agent.account_id.isdigit()
        else int(desk.agent.account_id)
    )
    notify = "subscription { notificationEvents { cursor type data } }"
    async with socket_for(server.ws_url, desk.agent) as agent_sock, socket_for(server.ws_url, desk.admin) as admin_sock:
        await agent_sock.subscribe(notify)
        await admin_sock.subscribe(notify)
        await asyncio.sleep(0.3)
        async with sessions() as s:
            events.record(
                s,
                account_id=account_pk,
                type="notification.created",
                payload={"user_id": agent_pk, "notification_id": 7},
            )
            committed = await events.commit(s)
        from domain.events.channels import event_channels
        from domain.events.relay import event_message
        from infra.broadcast import channel_prefix

        for channel in event_channels(committed[0]):
            await redis_client.publish(channel_prefix(TEST_REDIS_URL) + channel, event_message(committed[0]))
        item = (await agent_sock.next_data())["notificationEvents"]
        assert item["type"] == "notification.created" and item["data"]["notification_id"] == 7
        await nothing_within(admin_sock, 1.0)
    assert admin_pk != agent_pk


# --- typing and presence ---------------------------------------------------------------------------


TYPING = f"""mutation($c: ID!, $on: Boolean!, $p: Boolean!) {{ typingSet(input: {{conversationId: $c, on: $on, private: $p}}) {{
  accepted {ERR} }} }}"""


async def test_typing_reaches_other_agents_and_turns_itself_off(server: LiveServer, desk: Desk):
    conversation = await desk.new_conversation("typing")
    async with socket_for(server.ws_url, desk.admin) as admin_sock, socket_for(server.ws_url, desk.agent) as agent_sock:
        await admin_sock.subscribe(CONVERSATION_EVENTS, {"id": conversation["id"]})
        await agent_sock.subscribe(CONVERSATION_EVENTS, {"id": conversation["id"]})
        await asyncio.sleep(0.2)
        on = await desk.data(desk.agent, TYPING, {"c": conversation["id"], "on": True, "p": True})
        assert on["typingSet"] == {"accepted": True, "errors": []}
        item = (await admin_sock.next_data())["conversationEvents"]
        assert item["type"] == "typing.on"
        assert item["typing"] == {"on": True, "private": True, "user": {"id": desk.user_ids["agent"]}}
        # No renewal: it turns off by itself after the timeout.
        item = (await admin_sock.next_data(timeout=server.settings.typing_timeout_seconds + 5))["conversationEvents"]
        assert item["type"] == "typing.off" and item["typing"]["on"] is False
        # The typist does not hear their own indicator.
        await nothing_within(agent_sock, 0.3)

    refused = await desk.data(desk.outsider, TYPING, {"c": conversation["id"], "on": True, "p": False})
    assert refused["typingSet"]["accepted"] is False
    assert refused["typingSet"]["errors"][0]["code"] == "NOT_FOUND"


async def test_presence_follows_sockets_and_chosen_availability(server: LiveServer, desk: Desk):
    presence_q = "{ agentPresence { availability connected status user { id } } }"

    async def agent_presence():
        rows = (await desk.data(desk.admin, presence_q))["agentPresence"]
        return {p["user"]["id"]: p for p in rows}[desk.user_ids["agent"]]

    assert (await agent_presence())["status"] == "OFFLINE"
    async with socket_for(server.ws_url, desk.admin) as admin_sock:
        await admin_sock.subscribe(ACCOUNT_EVENTS)
        await asyncio.sleep(0.2)
        agent_sock = socket_for(server.ws_url, desk.agent)
        await agent_sock.connect()
        try:
            item = (await admin_sock.next_data())["accountEvents"]
            assert item["type"] == "presence.changed"
            assert item["presence"] == {"status": "ONLINE", "user": {"id": desk.user_ids["agent"]}}
            assert (await agent_presence())["connected"] is True

            busy = await desk.data(
                desk.agent,
                f"mutation {{ availabilitySet(input: {{availability: BUSY}}) {{ presence {{ status connected }} {ERR} }} }}",
            )
            assert busy["availabilitySet"] == {"presence": {"status": "BUSY", "connected": True}, "errors": []}
            item = (await admin_sock.next_data())["accountEvents"]
            assert item["presence"]["status"] == "BUSY"
        finally:
            await agent_sock.close()
        item = (await admin_sock.next_data())["accountEvents"]
        assert item["presence"] == {"status": "OFFLINE", "user": {"id": desk.user_ids["agent"]}}
    after = await agent_presence()
    assert after["connected"] is False and after["status"] == "OFFLINE" and after["availability"] == "BUSY"


# --- socket limits -----------------------------------------------------------------------------------


async def test_a_socket_that_floods_messages_is_closed(server: LiveServer, desk: Desk):
    sock = socket_for(server.ws_url, desk.agent)
    await sock.connect()
    try:
        for _ in range(server.settings.ws_max_messages_per_minute + 5):
            try:
                await sock.ws.send(json.dumps({"type": "ping"}))
            except Exception:  # noqa: BLE001 - closed under us: that is the point
                break
        with pytest.raises(ConnectionClosed):
            for _ in range(1000):
                await sock.ws.recv()
        assert sock.ws.close_code == 4429
    finally:
        await sock.close()


async def test_too_many_subscriptions_on_one_socket_are_refused(server: LiveServer, desk: Desk):
    async with socket_for(server.ws_url, desk.agent) as sock:
        ids = [await sock.subscribe(ACCOUNT_EVENTS) for _ in range(server.settings.ws_max_subscriptions + 1)]
        msg = await sock.receive()
        assert msg["type"] == "error" and msg["id"] == ids[-1], msg
        assert msg["payload"][0]["message"] == "Subscription limit reached"
        await asyncio.sleep(0.5)  # let the streams start (without `after` they begin at "now")
        # The others keep streaming.
        await desk.data(
            desk.admin, 'mutation { contactCreate(input: {name: "Still here"}) { contact { id } errors { code } } }'
        )
        got = [await sock.receive() for _ in range(server.settings.ws_max_subscriptions)]
        assert {m["id"] for m in got} == set(ids[:-1])
        assert all(m["payload"]["data"]["accountEvents"]["type"] == "contact.created" for m in got)


async def test_unauthenticated_socket_is_refused_at_connection_init(tmp_path):
    with LiveServer(make_settings(tmp_path, worker_in_process=False, diagnostics_enabled=False)) as locked:
        sock = SubscriptionSocket(locked.ws_url)
        with pytest.raises(ConnectionClosed):
            await sock.connect()
        await sock.close()
        bad = SubscriptionSocket(locked.ws_url, payload={"token": "not-a-token"})
        with pytest.raises(ConnectionClosed):
            await bad.connect()
        await bad.close()


async def test_a_bad_cursor_is_a_typed_error(server: LiveServer, desk: Desk):
    async with socket_for(server.ws_url, desk.agent) as sock:
        await sock.subscribe(ACCOUNT_EVENTS, {"after": "garbage"})
        msg = await sock.receive()
        errors = msg["payload"] if msg["type"] == "error" else msg["payload"]["errors"]
        assert errors[0]["extensions"]["code"] == "BAD_USER_INPUT", msg


# --- backpressure ------------------------------------------------------------------------------------


@pytest.mark.alone  # fills socket buffers against the clock
async def test_a_stream_that_is_not_read_stays_bounded_then_resumes_from_its_cursor(desk: Desk, tmp_path):
    """The client stops reading while 300 events happen. The server's buffer for it never holds more
    than its bound; the stream ends with STREAM_OVERFLOW (and its cursor), and resuming from the last
    cursor the client got delivers every remaining event once."""
    queue_size = 5
    with LiveServer(make_settings(tmp_path, worker_in_process=False, broadcast_queue_size=queue_size)) as slow_server:
        gql = GraphQLHTTP(slow_server.url)
        sock = NonReadingSocket(
            slow_server.ws_url, payload={"token": desk.admin.access, "accountId": desk.admin.account_id}
        )
        try:
            await sock.connect()
            assert slow_server.run_on_loop(_pin_websocket_send_buffers(slow_server)) == 1
            # ~1 KB per event (the name three times), so the socket's buffers fill quickly.
            await sock.subscribe("subscription { accountEvents { cursor type contact { name a: name b: name } } }")
            await asyncio.sleep(0.3)
            total = 300
            names = [f"{i:03d} " + secrets.token_hex(120) for i in range(total)]
            largest = 0
            for i, name in enumerate(names):
                body = await gql.data(
                    f"mutation($n: String!) {{ contactCreate(input: {{name: $n}}) {{ {ERR} }} }}",
                    {"n": name},
                    headers=desk.admin.headers(),
                )
                assert body["contactCreate"]["errors"] == []
                if i % 10 == 0:
                    largest = max([largest, *slow_server.run_on_loop(_queue_sizes(slow_server))])
            largest = max([largest, *slow_server.run_on_loop(_queue_sizes(slow_server))])
            assert largest <= queue_size

            received, ended = [], None
            for _ in range(total + 2):
                msg = await sock.receive(timeout=10)
                if msg["type"] != "next":
                    ended = msg
                    break
                payload = msg["payload"]
                if payload.get("errors"):
                    assert payload["errors"][0]["extensions"]["code"] == "STREAM_OVERFLOW", payload
                    continue
                received.append(payload["data"]["accountEvents"])
            assert ended is not None and ended["type"] == "complete", ended
            assert 0 < len(received) < total
        finally:
            await sock.close()

        async with socket_for(slow_server.ws_url, desk.admin) as again:
            await again.subscribe(
                "subscription($a: String) { accountEvents(after: $a) { cursor type contact { name } } }",
                {"a": received[-1]["cursor"]},
            )
            rest = await events_until(again, lambda e: e["contact"]["name"] == names[-1], timeout=20)
        await gql.aclose()
    got = [e["contact"]["name"] for e in [*received, *rest]]
    assert got == names


async def _queue_sizes(server: LiveServer) -> list[int]:
    hub = server.app.state.services.hub
    return hub.queue_sizes() if hub is not None else []


async def test_removing_a_member_closes_their_sockets_on_that_account(server: LiveServer, desk: Desk):
    members = await desk.data(desk.admin, "{ memberships { edges { node { id user { email } } } } }")
    membership = {e["node"]["user"]["email"]: e["node"]["id"] for e in members["memberships"]["edges"]}[
        desk.agent.email
    ]
    sock = socket_for(server.ws_url, desk.agent)
    await sock.connect()
    try:
        await sock.subscribe(ACCOUNT_EVENTS)
        removed = await desk.data(
            desk.admin, f"mutation($id: ID!) {{ membershipRemove(id: $id) {{ {ERR} }} }}", {"id": membership}
        )
        assert removed["membershipRemove"]["errors"] == []
        with pytest.raises(Exception) as closed:
            for _ in range(100):
                await sock.receive(timeout=5)
        assert getattr(closed.value, "rcvd", None) is not None and closed.value.rcvd.code == 4401
    finally:
        await sock.close()


async def test_an_assignment_reaches_the_assignee_as_a_notification_event(server: LiveServer, desk: Desk):
    conversation = await desk.new_conversation("assign me")
    stream = "subscription { notificationEvents { cursor type notification { notificationType title conversation { id } } } }"
    async with socket_for(server.ws_url, desk.agent) as sock:
        await sock.subscribe(stream)
        await asyncio.sleep(0.3)
        body = await desk.data(
            desk.admin,
            f"""mutation($c: ID!, $a: ID) {{ conversationAssign(id: $c, input: {{assigneeId: $a}}) {{ {ERR} }} }}""",
            {"c": conversation["id"], "a": desk.user_ids["agent"]},
        )
        assert body["conversationAssign"]["errors"] == []
        item = (await sock.next_data(timeout=15))["notificationEvents"]
    assert item["type"] == "notification.created"
    assert item["notification"]["notificationType"] == "CONVERSATION_ASSIGNMENT"
    assert item["notification"]["conversation"]["id"] == conversation["id"]


async def test_a_cursor_older_than_the_kept_log_is_refused(server: LiveServer, desk: Desk, db_engine):
    conversation = await desk.new_conversation("old")
    async with socket_for(server.ws_url, desk.agent) as sock:
        await sock.subscribe(CONVERSATION_EVENTS, {"id": conversation["id"]})
        await asyncio.sleep(0.2)
        await desk.data(desk.agent, REPLY, {"c": conversation["id"], "t": "one"})
        cursor = (await events_until(sock, lambda e: e["type"] == "message.created", field="conversationEvents"))[-1][
            "cursor"
        ]
    await desk.data(desk.agent, REPLY, {"c": conversation["id"], "t": "two"})
    sessions = create_session_factory(db_engine)
    async with sessions() as s, s.begin():  # what the pruning job does to old events
        await s.execute(Event.__table__.delete())
    async with socket_for(server.ws_url, desk.agent) as sock:
        await sock.subscribe(CONVERSATION_EVENTS, {"id": conversation["id"], "after": cursor})
        msg = await sock.receive()
        errors = msg["payload"] if msg["type"] == "error" else msg["payload"]["errors"]
        assert errors[0]["extensions"]["code"] == "CURSOR_EXPIRED", msg


async def test_a_cursor_read_before_loading_covers_what_happens_before_subscribing(server: LiveServer, desk: Desk):
    conversation = await desk.new_conversation("before")
    cursor = (await desk.data(desk.agent, "{ eventCursor }"))["eventCursor"]
    await desk.data(desk.admin, REPLY, {"c": conversation["id"], "t": "between load and subscribe"})
    async with socket_for(server.ws_url, desk.agent) as sock:
        await sock.subscribe(ACCOUNT_EVENTS, {"after": cursor})
        got = await events_until(sock, lambda e: e["type"] == "message.created")
    assert got[-1]["message"]["content"] == "between load and subscribe"
    assert got[-1]["cursor"] != cursor
