"""What a request costs besides its data: at most one Redis round trip (rate limits, cost budget and
persisted documents together), and a document's cost measured once."""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import threading

from redis.asyncio.connection import AbstractConnection

from infra.logs import request_id_var
from schema.extensions import guard
from tests.support.accounts import signup

LIST = "query($first: Int) { conversations(first: $first) { edges { node { id status } } } }"


@contextlib.contextmanager
def redis_round_trips(server):
    """Commands (a pipeline or a script counts once) that the server's requests send to Redis."""
    sent: list[bytes] = []
    original = AbstractConnection.send_packed_command

    async def counting(self, command, check_health: bool = True):
        if threading.current_thread() is server.thread and request_id_var.get() is not None:
            sent.append(command if isinstance(command, bytes) else b"".join(command))
        return await original(self, command, check_health)

    AbstractConnection.send_packed_command = counting  # type: ignore[method-assign]
    try:
        yield sent
    finally:
        AbstractConnection.send_packed_command = original  # type: ignore[method-assign]


def persisted(sha: str) -> dict:
    return {"persistedQuery": {"version": 1, "sha256Hash": sha}}


async def test_a_request_makes_at_most_one_redis_round_trip(gql, server):
    admin = await signup(gql)
    sha = hashlib.sha256(LIST.encode()).hexdigest()
    # Registered (and the credential resolved) once.
    body = await gql.post(LIST, {"first": 5}, headers=admin.headers(), extensions=persisted(sha))
    assert body.json()["data"]["conversations"]["edges"] == []
    for payload in (
        {"query": LIST, "variables": {"first": 5}},
        {"variables": {"first": 5}, "extensions": persisted(sha)},
    ):
        with redis_round_trips(server) as sent:
            response = await gql.client.post("/graphql", json=payload, headers=admin.headers())
        assert response.status_code == 200 and "errors" not in response.json(), response.json()
        assert response.json()["extensions"]["cost"]["budget"]["used"] > 0  # the budget was charged
        assert len(sent) <= 1, sent


async def test_a_documents_cost_is_measured_once_per_page_size(gql):
    admin = await signup(gql)
    document = LIST + " "  # a text of this test's own, so nothing measured it before

    async def cost(first: int) -> int:
        body = await gql.execute(document, {"first": first}, headers=admin.headers())
        return body["extensions"]["cost"]["requestedQueryCost"]

    walks = guard._costs.walks
    small = await cost(5)
    assert guard._costs.walks == walks + 1
    assert await cost(5) == small and guard._costs.walks == walks + 1
    large = await cost(50)
    assert large > small and guard._costs.walks == walks + 2
    assert await cost(50) == large and await cost(5) == small
    assert guard._costs.walks == walks + 2


async def test_requests_survive_backends_killed_while_their_connections_idle(gql, db_engine):
    """No pre-ping: the pool refuses connections asyncpg saw closed and opens new ones."""
    from sqlalchemy import text

    admin = await signup(gql)
    for _ in range(3):
        assert (await gql.data(LIST, {"first": 1}, headers=admin.headers()))["conversations"]["edges"] == []
    async with db_engine.connect() as c:
        killed = (
            await c.execute(
                text(
                    "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity "
                    "WHERE datname = current_database() AND pid <> pg_backend_pid() AND backend_type = 'client backend'"
                )
            )
        ).scalar()
    assert killed >= 1
    await asyncio.sleep(0.2)
    assert (await gql.data(LIST, {"first": 1}, headers=admin.headers()))["conversations"]["edges"] == []
    created = await gql.data(
        'mutation { labelCreate(input: {title: "after"}) { errors { code } } }', headers=admin.headers()
    )
    assert created["labelCreate"]["errors"] == []
