"""Subscriptions with stock clients, unmodified, from npm (graphql-ws with ws, urql, Apollo Client over
WebSocket and multipart HTTP, graphql-sse), and the transports under them: text frames on every
WebSocket protocol, GraphQL over Server-Sent Events with the socket's authentication, per-event
authorization, cursors and limits, and a typed error for a subscription sent as plain JSON."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Iterator

import httpx
import pytest
import websockets

from schema.core.ids import decode_id
from tests.conftest import make_settings
from tests.support.accounts import Member
from tests.support.desk import ERR, Desk, build_desk
from tests.support.gql import GraphQLHTTP, SubscriptionSocket
from tests.support.node import NodeScript, ensure_node_clients
from tests.support.server import LiveServer

ACCOUNT_EVENTS = """subscription($after: String) { accountEvents(after: $after) {
  cursor type message { id content } conversation { id } contact { name } } }"""
REPLY = f"""mutation($c: ID!, $t: String!) {{ messageCreate(input: {{conversationId: $c, content: $t}}) {{
  message {{ id }} {ERR} }} }}"""
SSE = {"Accept": "text/event-stream"}


@pytest.fixture(scope="module")
def node_clients():
    return ensure_node_clients()


@pytest.fixture
async def desk(gql: GraphQLHTTP, smtp) -> Desk:
    return await build_desk(gql, smtp)


@pytest.fixture(scope="module")
def strict_server(tmp_path_factory, database_url) -> Iterator[LiveServer]:
    """A server with the legacy graphql-ws protocol switched on and two HTTP streams per caller."""
    settings = make_settings(
        tmp_path_factory.mktemp("parley-strict"),
        legacy_graphql_ws=True,
        http_max_streams_per_caller=2,
        worker_in_process=False,
    )  # only the session server runs an in-process worker
    with LiveServer(settings) as live:
        yield live


async def event_cursor(desk: Desk, member: Member) -> str:
    return (await desk.data(member, "{ eventCursor }"))["eventCursor"]


def position(cursor: str) -> int:
    return decode_id(cursor, "Event")


def js_config(server: LiveServer, member: Member, scenario: str, after: str | None = None) -> dict:
    return {
        "scenario": scenario,
        "url": server.url + "/graphql",
        "wsUrl": server.ws_url,
        "token": member.access,
        "accountId": member.account_id,
        "after": after,
    }


async def reference_events(server: LiveServer, member: Member, after: str, last_content: str) -> list[dict]:
    """What our own client receives from `after` up to the message `last_content`, then in a quiet second."""
    async with SubscriptionSocket(
        server.ws_url, payload={"token": member.access, "accountId": member.account_id}
    ) as sock:
        await sock.subscribe(ACCOUNT_EVENTS, {"after": after})
        items = []
        while not any((i.get("message") or {}).get("content") == last_content for i in items):
            items.append((await sock.next_data())["accountEvents"])
        while True:
            try:
                items.append((await sock.next_data(timeout=1.0))["accountEvents"])
            except TimeoutError:
                return items


async def disconnect_and_resume(server: LiveServer, desk: Desk, scenario: str) -> None:
    """The stock client subscribes from a cursor, receives a reply made over HTTP, disconnects;
    three messages arrive meanwhile; it resumes with `after` = its last cursor and gets exactly them."""
    conversation = await desk.new_conversation("start")
    after = await event_cursor(desk, desk.agent)
    async with NodeScript("subscriptions.mjs", js_config(server, desk.agent, scenario, after)) as js:
        await js.expect("ready")
        await desk.data(desk.agent, REPLY, {"c": conversation["id"], "t": "live one"})
        await js.send({"content": "live one"})
        last = (await js.expect("disconnected"))["disconnected"]
        missed = [f"missed {i}" for i in range(1, 4)]
        for content in missed:
            await desk.incoming(conversation["id"], content)
        await js.send({"lastContent": missed[-1]})
        result = (await js.expect("result", timeout=40))["result"]
        await js.finish()
    before, resumed = result["before"], result["resumed"]
    live = [i for i in before if i["type"] == "message.created"]
    assert [i["message"]["content"] for i in live] == ["live one"]
    assert live[0]["conversation"]["id"] == conversation["id"]
    assert before[-1]["cursor"] == last
    # Exactly what was missed: the three messages in order, nothing already seen, nothing twice.
    assert [i["message"]["content"] for i in resumed if i["type"] == "message.created"] == missed
    positions = [position(i["cursor"]) for i in resumed]
    assert positions == sorted(set(positions)) and positions[0] > position(last)
    assert not {i["cursor"] for i in resumed} & {i["cursor"] for i in before}
    # No gap: the same as our own client replays from that cursor.
    reference = await reference_events(server, desk.agent, last, missed[-1])
    assert [(i["cursor"], i["type"]) for i in resumed] == [(i["cursor"], i["type"]) for i in reference]


# --- stock clients over WebSocket -----------------------------------------------------------------------


async def test_graphql_ws_client_resumes_after_a_disconnect_with_exactly_the_missed_events(node_clients, server, desk):
    await disconnect_and_resume(server, desk, "graphql-ws")


async def test_urql_subscription_exchange_receives_a_message_event(node_clients, server, desk):
    conversation = await desk.new_conversation("start")
    after = await event_cursor(desk, desk.agent)
    async with NodeScript("subscriptions.mjs", js_config(server, desk.agent, "urql", after)) as js:
        await js.expect("ready")
        await desk.data(desk.admin, REPLY, {"c": conversation["id"], "t": "hello urql"})
        await js.send({"content": "hello urql"})
        items = (await js.expect("result"))["result"]["items"]
        await js.finish()
    created = [i for i in items if i["type"] == "message.created"]
    assert [(i["message"]["content"], i["conversation"]["id"]) for i in created] == [("hello urql", conversation["id"])]


async def test_apollo_client_splits_queries_over_http_with_persisted_queries_and_subscriptions_over_websocket(
    node_clients, server, desk
):
    conversation = await desk.new_conversation("start")
    async with NodeScript("subscriptions.mjs", js_config(server, desk.agent, "apollo")) as js:
        ready = await js.expect("ready")
        assert ready["cursor"] == await event_cursor(desk, desk.agent)
        await desk.data(desk.admin, REPLY, {"c": conversation["id"], "t": "hello apollo"})
        await js.send({"content": "hello apollo"})
        result = (await js.expect("result"))["result"]
        await js.finish()
    created = [i for i in result["items"] if i["type"] == "message.created"]
    assert [(i["message"]["content"], i["conversation"]["id"]) for i in created] == [
        ("hello apollo", conversation["id"])
    ]
    # The query went over HTTP through the persisted-query link (hash first, then the document);
    # the subscription never touched HTTP.
    assert [
        (e["method"], e["operationName"], e["sentQuery"], e["sentHash"], e["status"]) for e in result["exchanges"]
    ] == [("GET", "Cursor", False, True, 200), ("POST", "Cursor", True, True, 200)]


# --- stock clients over HTTP ------------------------------------------------------------------------------


async def test_graphql_sse_client_receives_events_and_resumes_by_cursor(node_clients, server, desk):
    await disconnect_and_resume(server, desk, "graphql-sse")


async def test_apollo_multipart_subscription_receives_events_and_resumes_by_cursor(node_clients, server, desk):
    await disconnect_and_resume(server, desk, "apollo-multipart")


# --- text frames ----------------------------------------------------------------------------------------


async def frames(ws, count: int, timeout: float = 10) -> list[str | bytes]:
    return [await asyncio.wait_for(ws.recv(), timeout) for _ in range(count)]


async def test_every_graphql_transport_ws_message_is_a_text_frame(server, desk):
    conversation = await desk.new_conversation("start")
    after = await event_cursor(desk, desk.agent)
    received: list[str | bytes] = []
    async with websockets.connect(server.ws_url, subprotocols=["graphql-transport-ws"]) as ws:
        await ws.send(
            json.dumps(
                {"type": "connection_init", "payload": {"token": desk.agent.access, "accountId": desk.agent.account_id}}
            )
        )
        received += await frames(ws, 1)  # connection_ack
        await ws.send(json.dumps({"type": "ping"}))
        received += await frames(ws, 1)  # pong
        await ws.send(
            json.dumps(
                {"id": "1", "type": "subscribe", "payload": {"query": ACCOUNT_EVENTS, "variables": {"after": after}}}
            )
        )
        await desk.data(desk.agent, REPLY, {"c": conversation["id"], "t": "over text"})
        received += await frames(ws, 1)  # next
        await ws.send(json.dumps({"id": "2", "type": "subscribe", "payload": {"query": "subscription { nope }"}}))
        await ws.send(
            json.dumps(
                {
                    "id": "3",
                    "type": "subscribe",
                    "payload": {"query": ACCOUNT_EVENTS, "variables": {"after": "not-a-cursor"}},
                }
            )
        )
        types: set[str] = set()
        while not {"error", "complete"} <= types:
            received += await frames(ws, 1)
            types = {json.loads(m)["type"] for m in received}
    assert all(isinstance(m, str) for m in received), [type(m).__name__ for m in received]
    messages = [json.loads(m) for m in received]
    assert {"connection_ack", "pong", "next", "error", "complete"} <= {m["type"] for m in messages}
    assert any(m["type"] == "error" and m["id"] == "2" for m in messages)
    assert any(m["type"] == "complete" and m["id"] == "3" for m in messages)


async def test_every_legacy_graphql_ws_message_is_a_text_frame_when_switched_on(strict_server):
    gql = GraphQLHTTP(strict_server.url)
    try:
        from tests.support.accounts import signup

        admin = await signup(gql, account="Legacy")
    finally:
        await gql.aclose()
    async with websockets.connect(strict_server.ws_url, subprotocols=["graphql-ws"]) as ws:
        assert ws.subprotocol == "graphql-ws"
        await ws.send(
            json.dumps({"type": "connection_init", "payload": {"token": admin.access, "accountId": admin.account_id}})
        )
        received = await frames(ws, 2)  # connection_ack, ka
        await ws.send(json.dumps({"id": "1", "type": "start", "payload": {"query": ACCOUNT_EVENTS}}))
        await ws.send(json.dumps({"id": "2", "type": "start", "payload": {"query": "subscription { nope }"}}))
        received += await frames(ws, 1)  # error
        gql = GraphQLHTTP(strict_server.url)
        try:
            await gql.data(
                'mutation { contactCreate(input: {name: "Legacy Lee"}) { contact { id } errors { code } } }',
                headers=admin.headers(),
            )
        finally:
            await gql.aclose()
        while not any(json.loads(m)["type"] == "data" for m in received):
            received += await frames(ws, 1)
        await ws.send(json.dumps({"id": "1", "type": "stop"}))
        while not any(json.loads(m)["type"] == "complete" for m in received):
            received += await frames(ws, 1)
    assert all(isinstance(m, str) for m in received), [type(m).__name__ for m in received]
    messages = [json.loads(m) for m in received]
    assert {"connection_ack", "ka", "error", "data", "complete"} <= {m["type"] for m in messages}
    data = next(m for m in messages if m["type"] == "data")
    assert data["payload"]["data"]["accountEvents"]["contact"]["name"] == "Legacy Lee"


# --- subscriptions over HTTP: the transports themselves -------------------------------------------------


async def sse_events(response: httpx.Response) -> AsyncIterator[tuple[str, dict | None]]:
    """(event, data) of a text/event-stream; comments (keep-alives) skipped."""
    event, data = None, []
    async for line in response.aiter_lines():
        if line == "":
            if event is not None:
                text = "\n".join(data)
                yield event, json.loads(text) if text else None
            event, data = None, []
        elif line.startswith(":"):
            continue
        elif line.startswith("event:"):
            event = line[6:].strip()
        elif line.startswith("data:"):
            data.append(line[5:].strip())


async def next_event(events: AsyncIterator[tuple[str, dict | None]], timeout: float = 10) -> tuple[str, dict | None]:
    return await asyncio.wait_for(anext(events), timeout)


def sse_request(client: httpx.AsyncClient, member: Member | None, query: str, variables: dict | None = None, **headers):
    auth = member.headers() if member is not None else {}
    return client.stream(
        "POST", "/graphql", json={"query": query, "variables": variables or {}}, headers={**SSE, **auth, **headers}
    )


async def test_sse_stream_authorizes_every_event_like_the_socket(server, desk):
    """An outsider (an agent not in the inbox) hears contacts but not the inbox's messages."""
    conversation = await desk.new_conversation("start")
    after = await event_cursor(desk, desk.outsider)
    async with httpx.AsyncClient(base_url=server.url, timeout=30) as client:
        async with sse_request(client, desk.outsider, ACCOUNT_EVENTS, {"after": after}) as response:
            assert response.status_code == 200
            assert response.headers["content-type"].startswith("text/event-stream")
            assert response.headers["cache-control"] == "no-cache, no-transform"
            events = sse_events(response)
            await desk.data(desk.agent, REPLY, {"c": conversation["id"], "t": "not for outsiders"})
            await desk.data(
                desk.admin,
                'mutation { contactCreate(input: {name: "Seen by all"}) { contact { id } errors { code } } }',
            )
            kind, data = await next_event(events)
            assert kind == "next"
            assert data["data"]["accountEvents"]["type"] == "contact.created"
            assert data["data"]["accountEvents"]["contact"]["name"] == "Seen by all"
            assert position(data["data"]["accountEvents"]["cursor"]) > position(after)


async def test_sse_stream_without_credentials_gets_one_typed_error_and_completes(server):
    async with httpx.AsyncClient(base_url=server.url, timeout=30) as client:
        async with sse_request(client, None, ACCOUNT_EVENTS) as response:
            assert response.status_code == 200
            got = [item async for item in sse_events(response)]
    assert [kind for kind, _ in got] == ["next", "complete"]
    errors = got[0][1]["errors"]
    assert len(errors) == 1 and errors[0]["extensions"]["code"] == "UNAUTHENTICATED"


async def test_sse_stream_with_a_cookie_but_no_csrf_header_is_refused(server, desk):
    async with httpx.AsyncClient(base_url=server.url, timeout=30) as client:
        client.cookies.set("parley_access", desk.agent.access)
        async with client.stream("POST", "/graphql", json={"query": ACCOUNT_EVENTS}, headers=SSE) as response:
            got = [item async for item in sse_events(response)]
    assert [kind for kind, _ in got] == ["next", "complete"]
    errors = got[0][1]["errors"]
    assert len(errors) == 1 and errors[0]["extensions"]["code"] == "FORBIDDEN"
    assert "X-Parley-CSRF" in errors[0]["message"]


async def test_sse_stream_ends_when_its_session_is_logged_out(server, desk):
    # From a cursor: a stream without one starts at its subscription, which the contact created
    # right after the request may beat.
    after = await event_cursor(desk, desk.agent)
    async with httpx.AsyncClient(base_url=server.url, timeout=30) as client:
        async with sse_request(client, desk.agent, ACCOUNT_EVENTS, {"after": after}) as response:
            events = sse_events(response)
            await desk.data(
                desk.admin, 'mutation { contactCreate(input: {name: "First"}) { contact { id } errors { code } } }'
            )
            kind, _ = await next_event(events)
            assert kind == "next"
            await asyncio.sleep(0.5)  # the stream's session watch is listening by now
            out = await desk.data(desk.agent, "mutation { logout { revokedSessions errors { code } } }")
            assert out["logout"]["errors"] == []
            rest = []
            async for item in events:
                rest.append(item)
    assert [kind for kind, _ in rest] == ["next", "complete"]
    errors = rest[0][1]["errors"]
    assert len(errors) == 1 and errors[0]["extensions"]["code"] == "UNAUTHENTICATED"
    assert errors[0]["message"] == "Subscription closed: session ended"


async def test_open_streams_per_caller_are_limited_and_freed_when_a_stream_ends(strict_server):
    gql = GraphQLHTTP(strict_server.url)
    try:
        from tests.support.accounts import signup

        admin = await signup(gql, account="Streams")
    finally:
        await gql.aclose()
    async with httpx.AsyncClient(base_url=strict_server.url, timeout=30) as client:
        async with (
            sse_request(client, admin, ACCOUNT_EVENTS) as first,
            sse_request(client, admin, ACCOUNT_EVENTS) as second,
        ):
            assert first.status_code == second.status_code == 200
            async with sse_request(client, admin, ACCOUNT_EVENTS) as third:
                assert third.status_code == 429
                body = json.loads(await third.aread())
            assert len(body["errors"]) == 1 and body["errors"][0]["extensions"]["code"] == "RATE_LIMITED"
            assert "at most 2" in body["errors"][0]["message"]
        # Both closed by the client: their slots come back.
        for _ in range(50):
            async with sse_request(client, admin, ACCOUNT_EVENTS) as again:
                if again.status_code == 200:
                    break
            await asyncio.sleep(0.1)
        assert again.status_code == 200


# --- a subscription sent as plain JSON ------------------------------------------------------------------


@pytest.mark.parametrize("method", ["POST", "GET"])
async def test_subscription_over_plain_json_gets_a_typed_error_naming_the_transports(server, desk, method):
    query = "subscription { accountEvents { cursor } }"
    async with httpx.AsyncClient(base_url=server.url, timeout=30) as client:
        if method == "POST":
            response = await client.post("/graphql", json={"query": query}, headers=desk.agent.headers())
        else:
            response = await client.get(
                "/graphql", params={"query": query}, headers={**desk.agent.headers(), "Accept": "application/json"}
            )
    assert response.status_code == 400
    body = response.json()
    assert "data" not in body
    assert len(body["errors"]) == 1
    error = body["errors"][0]
    assert error["extensions"]["code"] == "BAD_USER_INPUT"
    for transport in ("WebSocket", "Server-Sent Events", "multipart"):
        assert transport in error["message"]
