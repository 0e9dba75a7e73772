"""The stack wired end to end: HTTP, WebSocket subscriptions, broadcast through Redis, jobs, health."""

from __future__ import annotations

import pytest

from tests.conftest import make_settings
from tests.support.gql import GraphQLHTTP, SubscriptionSocket
from tests.support.server import LiveServer

PING = """mutation Ping($topic: String!, $message: String!, $viaWorker: Boolean! = false) {
  diagnosticsPing(input: {topic: $topic, message: $message, viaWorker: $viaWorker}) {
    accepted errors { field code message }
  }
}"""
PINGS = "subscription Pings($topic: String!) { diagnosticsPings(topic: $topic) { topic message via } }"


async def ping_until_received(gql: GraphQLHTTP, sock: SubscriptionSocket, topic: str, message: str, **kw) -> dict:
    """A subscription has no 'subscribed' acknowledgement; publish until the first ping arrives."""
    for _ in range(50):
        data = await gql.data(PING, {"topic": topic, "message": message, **kw})
        assert data["diagnosticsPing"] == {"accepted": True, "errors": []}
        try:
            return (await sock.next_data(timeout=0.3))["diagnosticsPings"]
        except TimeoutError:
            continue
    raise AssertionError("no ping arrived")


async def test_query_over_http_post_and_get(gql: GraphQLHTTP):
    data = await gql.data("{ serverInfo { name version } }")
    assert data["serverInfo"]["name"] == "Parley"
    resp = await gql.client.get("/graphql", params={"query": "{ serverInfo { name } }"})
    assert resp.status_code == 200
    assert resp.json() == {"data": {"serverInfo": {"name": "Parley"}}}


async def test_request_id_is_echoed_or_generated(gql: GraphQLHTTP):
    resp = await gql.post("{ serverInfo { name } }", headers={"X-Request-ID": "abc-123"})
    assert resp.headers["x-request-id"] == "abc-123"
    resp = await gql.post("{ serverInfo { name } }")
    assert len(resp.headers["x-request-id"]) == 32
    # A header that could forge log lines is replaced, not echoed.
    resp = await gql.post("{ serverInfo { name } }", headers={"X-Request-ID": "bad id\twith tabs"})
    assert resp.headers["x-request-id"] != "bad id\twith tabs"


async def test_mutation_user_errors_are_typed_and_nothing_is_published(gql: GraphQLHTTP, server: LiveServer):
    async with SubscriptionSocket(server.ws_url) as sock:
        await sock.subscribe(PINGS, {"topic": "t1"})
        body = await gql.data(PING, {"topic": "no spaces allowed", "message": "x" * 1001})
        errors = body["diagnosticsPing"]["errors"]
        assert body["diagnosticsPing"]["accepted"] is False
        assert [(e["field"], e["code"]) for e in errors] == [("topic", "INVALID"), ("message", "TOO_LONG")]
        assert all(e["message"] for e in errors)


async def test_validation_errors_carry_a_code(gql: GraphQLHTTP):
    body = await gql.execute("{ serverInfo { nope } }")
    assert len(body["errors"]) == 1
    assert body["errors"][0]["extensions"]["code"] == "GRAPHQL_VALIDATION_FAILED"
    assert "nope" in body["errors"][0]["message"]


async def test_a_variable_graphql_cannot_coerce_is_bad_user_input_not_a_server_error(gql: GraphQLHTTP):
    body = await gql.execute(
        'mutation($n: Int!) { attachmentUploadCreate(input: {fileName: "a.png", contentType: "image/png", byteSize: $n}) '
        "{ errors { code } } }",
        {"n": 2**40},
    )
    assert len(body["errors"]) == 1 and body.get("data") is None
    assert body["errors"][0]["extensions"]["code"] == "BAD_USER_INPUT"
    assert "32-bit" in body["errors"][0]["message"]


async def test_subscription_receives_pings_published_by_a_request(gql: GraphQLHTTP, server: LiveServer):
    async with SubscriptionSocket(server.ws_url) as sock:
        await sock.subscribe(PINGS, {"topic": "hello"})
        ping = await ping_until_received(gql, sock, "hello", "first")
        assert ping == {"topic": "hello", "message": "first", "via": "request"}


async def test_subscription_receives_pings_published_by_a_worker_job(gql: GraphQLHTTP, server: LiveServer):
    async with SubscriptionSocket(server.ws_url) as sock:
        await sock.subscribe(PINGS, {"topic": "jobs"})
        ping = await ping_until_received(gql, sock, "jobs", "from a job", viaWorker=True)
        assert ping == {"topic": "jobs", "message": "from a job", "via": "worker"}


async def test_event_published_on_one_instance_reaches_a_subscriber_on_another(server: LiveServer, settings, tmp_path):
    """Two API processes share Redis: a ping published through B arrives on a socket held by A."""
    with LiveServer(make_settings(tmp_path, worker_in_process=False)) as other:
        b = GraphQLHTTP(other.url)
        try:
            async with SubscriptionSocket(server.ws_url) as sock:
                await sock.subscribe(PINGS, {"topic": "cross"})
                ping = await ping_until_received(b, sock, "cross", "from B")
                assert ping == {"topic": "cross", "message": "from B", "via": "request"}
        finally:
            await b.aclose()


async def test_health_and_readiness(gql: GraphQLHTTP):
    resp = await gql.client.get("/healthz")
    assert resp.status_code == 200 and resp.json()["status"] == "ok"
    resp = await gql.client.get("/readyz")
    assert resp.status_code == 200, resp.text
    assert resp.json()["checks"] == {"database": "ok", "redis": "ok", "broadcast": "ok", "broker": "ok"}


@pytest.mark.embedded
async def test_embedded_default_serves_queries_subscriptions_and_jobs(embedded_server, embedded_gql):
    data = await embedded_gql.data("{ serverInfo { name } }")
    assert data == {"serverInfo": {"name": "Parley"}}
    ready = await embedded_gql.client.get("/readyz")
    assert ready.status_code == 200
    assert ready.json()["checks"] == {"database": "ok", "broker": "ok"}
    async with SubscriptionSocket(embedded_server.ws_url) as sock:
        await sock.subscribe(PINGS, {"topic": "embedded"})
        ping = await ping_until_received(embedded_gql, sock, "embedded", "memory")
        assert ping["via"] == "request"
        ping = await ping_until_received(embedded_gql, sock, "embedded", "in-process job", viaWorker=True)
        assert ping == {"topic": "embedded", "message": "in-process job", "via": "worker"}
