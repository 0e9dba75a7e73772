"""Bounded under overload: one `parley serve` process (a child process, configured by its environment)
with a small concurrency limit and database pool, hit by 200 concurrent writers, answers every one
within seconds — done, or 503 with Retry-After before anything ran — and what it refused is not in
the database. And with Redis's connection pool exhausted, the rate limit still refuses (429): it
counts in the process rather than failing open."""

from __future__ import annotations

import asyncio
import time
import uuid

import httpx
import pytest
from sqlalchemy import text

from tests.support.accounts import signup
from tests.support.gql import GraphQLHTTP
from tests.support.server import ProcessServer
from tests.test_idempotency import CONTACT, CONVERSATION, ERR, MESSAGE
from tests.test_worker_runtime import own_server, worker_env

WRITERS = 200
ANSWER_WITHIN = 5.0


async def _desk(gql: GraphQLHTTP) -> tuple[dict[str, str], str]:
    admin = await signup(gql, account="Rush")
    h = admin.headers()
    inbox = (
        await gql.data(
            f'mutation {{ inboxCreate(input: {{name: "API", channelType: API}}) {{ inbox {{ id }} {ERR} }} }}',
            headers=h,
        )
    )["inboxCreate"]["inbox"]["id"]
    contact = (await gql.data(CONTACT, {"n": "Rae", "e": None}, headers=h))["contactCreate"]["contact"]["id"]
    conversation = await gql.data(CONVERSATION, {"i": inbox, "c": contact, "m": None}, headers=h)
    return h, conversation["conversationCreate"]["conversation"]["id"]


@pytest.mark.alone  # 200 writers against the clock: another worker's test beside it made answers miss it by 0.1 s
async def test_two_hundred_writers_get_an_answer_within_seconds_and_nothing_refused_is_committed(db_engine):
    env = worker_env(
        f"parley-rush-{uuid.uuid4().hex[:6]}",
        PARLEY_LOG_LEVEL="WARNING",
        PARLEY_HTTP_MAX_CONCURRENCY="6",
        PARLEY_HTTP_QUEUE_SIZE="12",
        PARLEY_HTTP_QUEUE_TIMEOUT_SECONDS="0.5",
        PARLEY_DATABASE_POOL_SIZE="4",
        PARLEY_DATABASE_MAX_OVERFLOW="0",
        PARLEY_DATABASE_POOL_TIMEOUT_SECONDS="2",
        PARLEY_RATE_LIMIT_AUTHENTICATED_PER_MINUTE="100000",
        PARLEY_RATE_LIMIT_IP_PER_MINUTE="100000",
        PARLEY_SIGNUP_PER_IP_PER_HOUR="1000",
    )
    with ProcessServer(env) as server:
        gql = GraphQLHTTP(server.url)
        readiness: list[tuple[int, str]] = []
        try:
            headers, conversation = await _desk(gql)
            limits = httpx.Limits(max_connections=WRITERS + 10, max_keepalive_connections=WRITERS + 10)
            async with httpx.AsyncClient(base_url=server.url, limits=limits, timeout=ANSWER_WITHIN * 3) as client:

                async def write(i: int) -> tuple[str, httpx.Response, float]:
                    content = f"rush {i}"
                    started = time.monotonic()
                    resp = await client.post(
                        "/graphql",
                        json={"query": MESSAGE, "variables": {"c": conversation, "t": content}},
                        headers=headers,
                    )
                    return content, resp, time.monotonic() - started

                async def watch_readiness(stop: asyncio.Event) -> None:
                    while not stop.is_set():
                        resp = await client.get("/readyz")
                        readiness.append((resp.status_code, resp.json()["status"]))
                        await asyncio.sleep(0.02)

                stop = asyncio.Event()
                writers = asyncio.gather(*(write(i) for i in range(WRITERS)))
                await asyncio.sleep(0.05)  # the writers are in: probe readiness while they are served
                watcher = asyncio.create_task(watch_readiness(stop))
                results = await writers
                stop.set()
                await watcher
                live = await client.get("/healthz")
        finally:
            await gql.aclose()
        output = server.read_output()

    assert live.status_code == 200  # liveness holds throughout: nothing would restart the process
    slow = [round(elapsed, 2) for _, _, elapsed in results if elapsed >= ANSWER_WITHIN]
    assert slow == [], f"{len(slow)} answers took {ANSWER_WITHIN} s or more: {slow[:10]}"
    accepted, refused = set(), set()
    for content, resp, _ in results:
        if resp.status_code == 200:
            body = resp.json()
            assert body.get("errors") is None and body["data"]["messageCreate"]["errors"] == [], body
            accepted.add(content)
        else:
            assert resp.status_code == 503, (resp.status_code, resp.text)
            assert resp.headers["retry-after"] == "1"
            [error] = resp.json()["errors"]
            assert error["extensions"]["code"] == "OVERLOADED"
            refused.add(content)
    assert accepted and refused, (len(accepted), len(refused))  # the load did overload it, and work got done
    async with db_engine.connect() as conn:
        stored = set((await conn.execute(text("SELECT content FROM messages WHERE content LIKE 'rush %'"))).scalars())
    assert stored == accepted  # every accepted write is committed, nothing refused is
    assert "Traceback" not in output
    # Readiness said "saturated" (not "unavailable") while the queue was full.
    assert (503, "saturated") in readiness, readiness[:20]
    assert all(status != "unavailable" for _, status in readiness), readiness


async def test_with_the_redis_pool_exhausted_requests_beyond_the_rate_limit_still_get_429(settings, tmp_path):
    own = settings.model_copy(
        update={
            "data_dir": tmp_path,
            "dramatiq_namespace": f"parley-pool-{uuid.uuid4().hex[:6]}",
            "redis_max_connections": 2,
            "redis_pool_timeout_seconds": 0.1,
            "rate_limit_redis_timeout_seconds": 0.2,
            "rate_limit_ip_per_minute": 5,
            "rate_limit_anonymous_per_minute": 1000,
        }
    )
    with own_server(own, settings) as server:
        redis = server.app.state.services.redis
        pool = redis.connection_pool
        held = [server.run_on_loop(pool.get_connection()) for _ in range(2)]
        try:
            # The pool is spent: nothing else gets a Redis connection now.
            try:
                server.run_on_loop(redis.ping())
                raise AssertionError("the exhausted pool still gave a connection")
            except AssertionError:
                raise
            except Exception:  # noqa: BLE001 - redis-py's ConnectionError: "No connection available"
                pass
            async with httpx.AsyncClient(base_url=server.url, timeout=10) as client:
                statuses = []
                for _ in range(8):
                    resp = await client.post("/graphql", json={"query": "{ __typename }"})
                    statuses.append(resp.status_code)
                    if resp.status_code == 429:
                        assert int(resp.headers["retry-after"]) >= 1
                        assert resp.json()["errors"][0]["extensions"]["code"] == "RATE_LIMITED"
        finally:
            for connection in held:
                server.run_on_loop(pool.release(connection))
    assert statuses[:5] == [200] * 5, statuses
    assert statuses[5:] == [429] * 3, statuses
