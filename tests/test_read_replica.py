"""Read replicas: with `PARLEY_DATABASE_READ_URL`, query operations read from a streaming hot standby,
except for a session that wrote within `PARLEY_DATABASE_READ_YOUR_WRITES_SECONDS` (it reads from the
primary, on every API process: the mark is in Redis); subscriptions replay the event log from the
primary. Against a real standby (pg_basebackup of a private cluster, streaming on loopback) whose
replay the test pauses, so the replica lags as long as it wants: what a query reads then says
which database answered it."""

from __future__ import annotations

import asyncio
import contextlib
import uuid
from collections.abc import Iterator
from dataclasses import dataclass

import pytest
from sqlalchemy import event

from db.migrate import upgrade
from infra.settings import Settings
from parley import fast_lane
from tests.conftest import make_settings
from tests.support.accounts import Member, login, signup
from tests.support.cluster import PostgresCluster
from tests.support.desk import ERR
from tests.support.gql import GraphQLHTTP, SubscriptionSocket
from tests.support.server import LiveServer

WINDOW = 2.0  # PARLEY_DATABASE_READ_YOUR_WRITES_SECONDS in these tests

CONVERSATIONS = "query { conversations(first: 10) { edges { node { id } } } }"
CONTACTS = 'query { contacts(first: 10, search: "Replica") { edges { node { id name } } } }'
CONVERSATION = f"""mutation($i: ID!, $c: ID!) {{ conversationCreate(input: {{inboxId: $i, contactId: $c}}) {{
  conversation {{ id }} {ERR} }} }}"""


@dataclass
class Replicated:
    primary: PostgresCluster
    replica: PostgresCluster
    servers: list[LiveServer]


@pytest.fixture(scope="module")
def replicated(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Replicated]:
    with contextlib.ExitStack() as cleanup:
        primary = cleanup.enter_context(PostgresCluster())
        upgrade(primary.url)
        replica = primary.standby()
        cleanup.callback(replica.remove)
        replica.start()
        replica.wait_replayed(primary)
        namespace = f"parley-replica-{uuid.uuid4().hex[:6]}"
        servers = []
        for name in ("a", "b"):  # two API processes: the read-your-writes mark travels through Redis
            settings = make_settings(
                tmp_path_factory.mktemp(f"replica-{name}"),
                database_url=primary.url,
                database_read_url=replica.url,
                database_read_your_writes_seconds=WINDOW,
                worker_in_process=False,
                dramatiq_namespace=namespace,
            )
            servers.append(cleanup.enter_context(LiveServer(settings)))
        yield Replicated(primary, replica, servers)


@pytest.fixture
def lagging(replicated: Replicated) -> Iterator[Replicated]:
    """The replica stops applying WAL for the test (it lags as far as the test goes), then catches up."""
    replicated.replica.wait_replayed(replicated.primary)
    replicated.replica.pause_replay()
    try:
        yield replicated
    finally:
        replicated.replica.resume_replay()
        replicated.replica.wait_replayed(replicated.primary)


async def _conversation_ids(gql: GraphQLHTTP, member: Member) -> list[str]:
    data = await gql.data(CONVERSATIONS, headers=member.headers())
    return [e["node"]["id"] for e in data["conversations"]["edges"]]


async def _second_session(gql: GraphQLHTTP, member: Member) -> Member:
    """The same user signed in again: another session, which has written nothing."""
    signed_in = await login(gql, member.email)
    assert signed_in["errors"] == [], signed_in
    return Member(
        member.email, signed_in["tokens"]["accessToken"], signed_in["tokens"]["refreshToken"], member.account_id
    )


async def test_lists_read_the_replica_and_a_writer_reads_its_own_writes_while_it_lags(lagging: Replicated):
    a, b = (GraphQLHTTP(s.url) for s in lagging.servers)
    try:
        # The replica is frozen: signing up, signing in and the first reads of the new session work,
        # because the new session reads from the primary for the window.
        admin = await signup(a, account="Replica")
        inbox = await a.data(
            f'mutation {{ inboxCreate(input: {{name: "API", channelType: API}}) {{ inbox {{ id }} {ERR} }} }}',
            headers=admin.headers(),
        )
        contact = await a.data(
            f'mutation {{ contactCreate(input: {{name: "Replica Kim"}}) {{ contact {{ id }} {ERR} }} }}',
            headers=admin.headers(),
        )
        cursor = (await a.data("{ eventCursor }", headers=admin.headers()))["eventCursor"]
        created = await a.data(
            CONVERSATION,
            {"i": inbox["inboxCreate"]["inbox"]["id"], "c": contact["contactCreate"]["contact"]["id"]},
            headers=admin.headers(),
        )
        assert created["conversationCreate"]["errors"] == [], created
        conversation_id = created["conversationCreate"]["conversation"]["id"]

        # Right after its write the writer sees it, on this process and on the other one.
        assert await _conversation_ids(a, admin) == [conversation_id]
        assert await _conversation_ids(b, admin) == [conversation_id]
        found = await b.data(CONTACTS, headers=admin.headers())
        assert [e["node"]["name"] for e in found["contacts"]["edges"]] == ["Replica Kim"]

        # Another session of the same user, once its own sign-in is out of the window, reads the
        # replica: it has not replayed any of this account's rows yet.
        other = await _second_session(b, admin)
        await asyncio.sleep(WINDOW + 0.5)
        assert await _conversation_ids(a, other) == []
        assert (await b.data(CONTACTS, headers=other.headers()))["contacts"]["edges"] == []
        # ...and so does the writer once its window has passed.
        assert await _conversation_ids(b, admin) == []

        # A subscription replays the event log from the primary, replica or not.
        async with SubscriptionSocket(
            lagging.servers[1].ws_url, payload={"token": other.access, "accountId": other.account_id}
        ) as sock:
            await sock.subscribe(
                "subscription($after: String) { accountEvents(after: $after) { type } }", {"after": cursor}
            )
            first = await sock.next_data()
            assert first["accountEvents"]["type"] == "conversation.created"

        # Writes go on while the replica lags, and reads stay served.
        again = await a.data(
            CONVERSATION,
            {"i": inbox["inboxCreate"]["inbox"]["id"], "c": contact["contactCreate"]["contact"]["id"]},
            headers=admin.headers(),
        )
        assert again["conversationCreate"]["errors"] == [], again
        assert len(await _conversation_ids(a, admin)) == 2
        assert await _conversation_ids(b, other) == []

        # Once it replays, the replica answers with everything.
        lagging.replica.resume_replay()
        lagging.replica.wait_replayed(lagging.primary)
        assert len(await _conversation_ids(b, other)) == 2
    finally:
        await a.aclose()
        await b.aclose()


async def test_list_statements_run_on_the_replica_engine(replicated: Replicated):
    """Proof from the engines' side: every statement each engine of the process sends, counted; a
    session that has not written lately sends its list statements through the replica's engine only,
    and right after a write through the primary's."""
    server = replicated.servers[0]
    services = server.app.state.services
    counted: dict[str, list[str]] = {"primary": [], "replica": []}

    def counter(name: str):
        def count(conn, cursor, statement, parameters, context, executemany) -> None:
            counted[name].append(statement)

        return count

    listeners = [(services.engine, counter("primary")), (services.replica_engine, counter("replica"))]
    for engine, listener in listeners:
        event.listen(engine.sync_engine, "before_cursor_execute", listener)

    def lane(engine, statement: str) -> None:  # the fast lane's statements, sent past SQLAlchemy's events
        counted["primary" if engine is services.engine else "replica"].append(statement)

    fast_lane.statement_observers.append(lane)
    gql = GraphQLHTTP(server.url)
    try:
        admin = await signup(gql, account="Counted")
        await asyncio.sleep(WINDOW + 0.5)

        def lists(name: str) -> int:
            return sum("FROM conversations" in s for s in counted[name])

        for statements in counted.values():
            statements.clear()  # what signing up sent, within its window
        for _ in range(3):
            assert await _conversation_ids(gql, admin) == []
        assert lists("replica") >= 3 and lists("primary") == 0, counted["primary"]

        body = await gql.data(
            f'mutation {{ contactCreate(input: {{name: "Counted Kim"}}) {{ contact {{ id }} {ERR} }} }}',
            headers=admin.headers(),
        )
        assert body["contactCreate"]["errors"] == [], body
        on_replica = lists("replica")
        assert await _conversation_ids(gql, admin) == []
        assert lists("primary") >= 1 and lists("replica") == on_replica
    finally:
        fast_lane.statement_observers.remove(lane)
        for engine, listener in listeners:
            event.remove(engine.sync_engine, "before_cursor_execute", listener)
        await gql.aclose()


def test_the_read_url_is_postgresql_and_unused_beside_sqlite():
    assert Settings(database_read_url="postgres://r@replica/parley").database_read_url.startswith(
        "postgresql+asyncpg://"
    )
    with pytest.raises(ValueError, match="replica is PostgreSQL"):
        Settings(database_read_url="sqlite:///x.db")
    assert not Settings(database_url="", database_read_url="postgresql+asyncpg://r@replica/parley").uses_read_replica
    assert not Settings(database_url="postgresql+asyncpg://p@primary/parley").uses_read_replica


async def test_a_replica_that_stops_answering_degrades_readiness_and_the_primary_serves_reads(
    replicated: Replicated,
):
    """Kept last: it stops the standby (and starts it again)."""
    server = replicated.servers[0]
    gql = GraphQLHTTP(server.url)

    async def readiness() -> dict:
        return (await gql.client.get("/readyz")).json()

    async def until(predicate, timeout: float = 20) -> dict:
        deadline = asyncio.get_running_loop().time() + timeout
        while True:
            body = await readiness()
            if predicate(body):
                return body
            assert asyncio.get_running_loop().time() < deadline, body
            await asyncio.sleep(0.2)

    try:
        member = await signup(gql, account="Fallback")
        assert (await readiness())["checks"]["database_replica"] == "ok"
        replicated.replica.stop()
        body = await until(lambda b: "database_replica" in b["degraded"])
        assert body["checks"]["database_replica"].startswith("unavailable") and body["failed"] == []
        await asyncio.sleep(WINDOW + 0.5)  # past the sign-up's read-your-writes window: reads go to the replica
        # Query operations still answer (gql.data refuses errors), from the primary: the replica
        # refuses connections.
        assert (await gql.data(CONVERSATIONS, headers=member.headers()))["conversations"]["edges"] == []
        found = await gql.data(CONTACTS, headers=member.headers())
        assert found["contacts"]["edges"] == []
    finally:
        replicated.replica.start()
        replicated.replica.wait_replayed(replicated.primary)
        try:
            await until(lambda b: b["checks"].get("database_replica") == "ok")
        finally:
            await gql.aclose()
