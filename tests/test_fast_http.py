"""The fast lane's HTTP front (parley/fast_http.py) against the whole middleware stack: the same
requests with the front on and off must get the same status, headers and body, whether the front
answers them or hands them on; and the front must take the requests it is for."""

from __future__ import annotations

import contextlib
import hashlib
import re
from collections.abc import AsyncIterator

import pytest

from bench.product.scenarios import CONVERSATION, DASHBOARD
from resolvers.context import ACCESS_COOKIE
from schema.core.ids import encode_id
from tests.conftest import make_settings
from tests.support.desk import build_desk
from tests.support.gql import GraphQLHTTP
from tests.support.server import LiveServer
from tests.test_fast_reads import seed
from tests.test_query_counts import count_statements

DESK_ORIGIN = "https://desk.example"
VARIABLES = {"status": "OPEN", "first": 25}
VOLATILE = {"x-request-id", "date", "server", "content-length"}  # the budget left changes the length


@pytest.fixture
async def live(tmp_path, smtp_server) -> AsyncIterator[LiveServer]:
    settings = make_settings(
        tmp_path,
        cors_origins=[DESK_ORIGIN],
        smtp_host="127.0.0.1",
        smtp_port=smtp_server.port,
        smtp_starttls=False,
    )
    with LiveServer(settings) as server:
        yield server


@contextlib.contextmanager
def front(server: LiveServer, on: bool):
    lane = server.app.fast_http
    before = lane.enabled
    lane.enabled = on
    try:
        yield lane
    finally:
        lane.enabled = before


async def both(server: LiveServer, client: GraphQLHTTP, **request) -> tuple[object, object, int]:
    """(answer with the front, answer without it, requests the front answered) for one request."""
    answers = []
    with front(server, True) as lane:
        served = lane.served
        answers.append(shape(await client.client.post("/graphql", **request)))
        taken = lane.served - served
    with front(server, False):
        answers.append(shape(await client.client.post("/graphql", **request)))
    return answers[0], answers[1], taken


def shape(response) -> tuple:
    if "content-length" in response.headers:  # a stream (SSE) has none
        assert int(response.headers["content-length"]) == len(response.content)
    headers = sorted((k, v) for k, v in response.headers.items() if k not in VOLATILE)
    kind = response.headers.get("content-type", "")
    body = response.json() if response.content and "json" in kind else re.sub(r'"budget":{[^}]*}', "", response.text)
    if isinstance(body, dict) and isinstance(body.get("extensions"), dict):
        body["extensions"].get("cost", {}).pop("budget", None)  # what is left of the hour's budget
    return response.status_code, headers, body, bool(response.headers.get("x-request-id"))


async def test_the_front_answers_as_the_whole_stack(live, smtp):
    client = GraphQLHTTP(live.url)
    try:
        desk = await build_desk(client, smtp)
        await seed(client, smtp, desk)
        auth = desk.agent.headers()
        json = {"query": DASHBOARD, "variables": VARIABLES, "operationName": "Dashboard"}
        await client.client.post("/graphql", json=json, headers=auth)  # the caller and the plan are known

        taken_cases = {
            "bearer": dict(json=json, headers=auth),
            "listed origin": dict(json=json, headers={**auth, "Origin": DESK_ORIGIN}),
            "request id": dict(json=json, headers={**auth, "X-Request-ID": "abc-123"}),
            "graphql-response media": dict(json=json, headers={**auth, "Accept": "application/graphql-response+json"}),
        }
        for name, request in taken_cases.items():
            with_front, without, taken = await both(live, client, **request)
            assert taken == 1, name
            assert with_front == without, name
            assert with_front[0] == 200 and len(with_front[2]["data"]["conversations"]["nodes"]) == 5, name
        # The request id given is the one answered with, on both ways.
        with front(live, True):
            echoed = await client.client.post("/graphql", json=json, headers={**auth, "X-Request-ID": "abc-123"})
        assert echoed.headers["x-request-id"] == "abc-123"
        listed = taken_cases["listed origin"]
        with front(live, True):
            cors = await client.client.post("/graphql", **listed)
        assert cors.headers["access-control-allow-origin"] == DESK_ORIGIN
        assert cors.headers["access-control-allow-credentials"] == "true"

        handed_on = {
            "unlisted origin": dict(json=json, headers={**auth, "Origin": "https://evil.example"}),
            "no credentials": dict(json=json),
            "a batch": dict(json=[json, json], headers=auth),
            "not JSON": dict(content=b"{nope", headers={**auth, "Content-Type": "application/json"}),
            "another media type": dict(content=b"{}", headers={**auth, "Content-Type": "text/plain"}),
            "refused Accept": dict(json=json, headers={**auth, "Accept": "text/html"}),
            "a stream": dict(json=json, headers={**auth, "Accept": "text/event-stream"}),
            "over the body limit": dict(
                json={**json, "variables": {**VARIABLES, "pad": "x" * (live.settings.max_body_bytes + 10)}},
                headers=auth,
            ),
            "a mutation": dict(json={"query": "mutation { __typename }"}, headers=auth),
            "bad variables": dict(json={**json, "variables": {"status": "NOPE", "first": 25}}, headers=auth),
            "a bad token": dict(json=json, headers={**auth, "Authorization": "Bearer nope"}),
            "a cookie without the CSRF header": dict(
                json=json, headers={"Cookie": f"{ACCESS_COOKIE}={desk.agent.access}"}
            ),
        }
        for name, request in handed_on.items():
            with_front, without, taken = await both(live, client, **request)
            assert taken == 0, name
            assert with_front == without, name
        # A persisted query by its hash takes the front too.
        pq = {"persistedQuery": {"version": 1, "sha256Hash": hashlib.sha256(DASHBOARD.encode()).hexdigest()}}
        registered = await client.client.post(
            "/graphql", json={"query": DASHBOARD, "variables": VARIABLES, "extensions": pq}, headers=auth
        )
        assert registered.status_code == 200
        with_front, without, taken = await both(
            live, client, json={"variables": VARIABLES, "extensions": pq}, headers=auth
        )
        assert taken == 1 and with_front == without
    finally:
        await client.aclose()


async def test_the_front_sends_one_statement_and_refuses_over_the_rate_limit(live, smtp):
    client = GraphQLHTTP(live.url)
    try:
        desk = await build_desk(client, smtp)
        await seed(client, smtp, desk)
        auth = desk.agent.headers()
        json = {"query": DASHBOARD, "variables": VARIABLES}
        await client.client.post("/graphql", json=json, headers=auth)
        engine = live.app.state.services.engine
        with front(live, True) as lane, count_statements(engine) as sent:
            served = lane.served
            answer = await client.client.post("/graphql", json=json, headers=auth)
            assert answer.status_code == 200 and lane.served == served + 1
        assert len(sent) == 1 and "json_build_object" in sent[0], sent

        settings = live.app.state.services.settings
        before = settings.rate_limit_authenticated_per_minute
        settings.rate_limit_authenticated_per_minute = 3
        try:
            refusals = []
            for on in (True, False):
                with front(live, on) as lane:
                    served = lane.served
                    statuses, refused = [], None
                    for _ in range(5):
                        answer = await client.client.post("/graphql", json=json, headers=auth)
                        statuses.append(answer.status_code)
                        refused = answer if answer.status_code == 429 else refused
                    # 3 a minute: a refusal among 5 (the minute's window may roll over in between)
                    assert refused is not None and int(refused.headers["retry-after"]) > 0, statuses
                    resp = refused
                    assert lane.served - served == (5 if on else 0)  # the front answers its refusals too
                    error = resp.json()["errors"][0]
                    refusals.append((error["message"].split(";")[0], error["extensions"]["code"], sorted(resp.headers)))
            assert refusals[0] == refusals[1] and refusals[0][1] == "RATE_LIMITED"
        finally:
            settings.rate_limit_authenticated_per_minute = before
    finally:
        await client.aclose()


async def test_one_conversation_takes_the_front_and_one_not_found_the_stack(live, smtp):
    client = GraphQLHTTP(live.url)
    try:
        desk = await build_desk(client, smtp)
        s = await seed(client, smtp, desk)
        auth = desk.admin.headers()
        missing = encode_id("Conversation", 999_999)
        for cid, served in ((s["ids"][0], 1), (s["ids"][3], 1), (missing, 0)):
            json = {"query": CONVERSATION, "variables": {"id": cid, "first": 50}}
            await client.client.post("/graphql", json=json, headers=auth)  # the plan is known
            with_front, without, taken = await both(live, client, json=json, headers=auth)
            assert taken == served and with_front == without, cid
            if served:
                assert with_front[2]["data"]["conversation"]["messages"]["nodes"], with_front
            else:
                assert with_front[2]["errors"][0]["extensions"]["code"] == "NOT_FOUND", with_front
    finally:
        await client.aclose()


async def test_one_plan_opens_every_conversation_of_a_caller_and_none_of_another_account(live, smtp):
    """`conversation(id: $id)`'s id is a parameter of the lane's plan (parley/fast_lane.py): opening
    one conversation after another builds one statement for the caller, each answer as the stack
    gives it; the same plan given another account's conversation finds nothing (NOT_FOUND, the stack's
    answer), as does a conversation the agent's inboxes do not include."""
    from parley import fast_lane

    for key in [k for k in fast_lane._DOCUMENTS if k[0] == CONVERSATION]:
        del fast_lane._DOCUMENTS[key]  # plans other tests' callers left (the cache is the process's)
    client = GraphQLHTTP(live.url)
    try:
        desk = await build_desk(client, smtp)
        s = await seed(client, smtp, desk)
        other = await build_desk(client, smtp)
        theirs = await other.new_conversation("in another account")
        auth = desk.admin.headers()
        for cid in s["ids"][:4]:
            json = {"query": CONVERSATION, "variables": {"id": cid, "first": 50}}
            with_front, without, taken = await both(live, client, json=json, headers=auth)
            assert with_front == without and with_front[2]["data"]["conversation"]["id"] == cid, cid
        for cid in s["ids"][4:8]:
            json = {"query": CONVERSATION, "variables": {"id": cid, "first": 50}}
            with_front, without, taken = await both(live, client, json=json, headers=auth)
            assert taken == 1 and with_front == without, cid
        entries = [e for k, e in fast_lane._DOCUMENTS.items() if k[0] == CONVERSATION and e.document is not None]
        assert entries and all(e.params == {"id": "lane_id_id"} for e in entries)
        # One statement (and one prepared plan) for the eight conversations the administrator opened.
        assert sum(len(e.plans) for e in entries) == 1, [list(e.plans) for e in entries]
        assert sum(len(e.ready) for e in entries) == 1
        for cid, who in ((theirs["id"], auth), (theirs["id"], desk.agent.headers())):
            json = {"query": CONVERSATION, "variables": {"id": cid, "first": 50}}
            with_front, without, taken = await both(live, client, json=json, headers=who)
            assert taken == 0 and with_front == without, with_front
            assert with_front[2]["errors"][0]["extensions"]["code"] == "NOT_FOUND", with_front
    finally:
        await client.aclose()


LABELLED = """query Labelled($label: String!) {
  labelledPlanCheck: conversations(filter: {status: OPEN, label: $label}, first: 25) { nodes { id } }
}"""
PLAIN = """query Plain($status: ConversationStatus!) {
  plainPlanCheck: conversations(filter: {status: $status}, first: 25) { nodes { id displayId } }
}"""


async def test_a_plain_list_runs_planned_once_and_a_labelled_one_planned_for_its_values(live, smtp, db_engine):
    """A list filtered by status only runs on the lane's connections that plan a statement once
    (PostgreSQL's generic plan: `Services.lane_engine`); a list filtered by a label, whose best plan
    depends on how many conversations carry it, runs on the ordinary ones. The roots' aliases name
    the statements (they are keys of the JSON the SQL builds), whichever server sent them."""
    from sqlalchemy import text

    async def on_lane_connections(alias: str) -> bool:
        async with db_engine.connect() as conn:
            found = await conn.scalar(
                text(
                    "SELECT count(*) FROM pg_stat_activity WHERE application_name = 'parley-lane' "
                    "AND datname = current_database() AND query LIKE :pattern"
                ),
                {"pattern": f"%{alias}%"},
            )
            return bool(found)

    client = GraphQLHTTP(live.url)
    try:
        desk = await build_desk(client, smtp)
        await seed(client, smtp, desk)
        auth = desk.agent.headers()
        with front(live, True) as lane:
            served = lane.served
            # A statement's first use goes through SQLAlchemy, then a pooled connection. The labelled
            # list goes last: had it run on the lane's connection, its text would be the last there.
            for query, variables in ((PLAIN, {"status": "OPEN"}), (LABELLED, {"label": "billing"})):
                for _ in range(3):
                    answer = await client.client.post(
                        "/graphql", json={"query": query, "variables": variables}, headers=auth
                    )
                    assert answer.status_code == 200 and "errors" not in answer.json()
            assert lane.served == served + 6
        assert await on_lane_connections("plainPlanCheck")
        assert not await on_lane_connections("labelledPlanCheck")
    finally:
        await client.aclose()
