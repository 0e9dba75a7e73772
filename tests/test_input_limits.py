"""Limits on what a request may carry and the error contract at its edges, over HTTP: the document size
(checked before parsing, and a refused document parsed at most once), JSON nesting and NUL
characters, integers beyond GraphQL's Int, omitted optional arguments, the last-resort error answer,
and GraphiQL in production."""

from __future__ import annotations

import httpx
import pytest
from starlette.routing import Route

from domain.partners.manifest import sha256
from infra.settings import Environment
from tests.conftest import make_settings
from tests.support.demo import demo_admin
from tests.support.server import LiveServer

INTERNALS = ("Traceback", 'File "', "RecursionError", "TypeError", "OverflowError", "Integer exceeds")


def contract_error(resp: httpx.Response, status: int | None = None) -> dict:
    """The first top-level error of a JSON answer with the request id, and nothing internal."""
    assert resp.headers.get("x-request-id"), resp.headers
    assert resp.headers["content-type"].startswith(("application/json", "application/graphql-response+json")), resp.text
    for internal in INTERNALS:
        assert internal not in resp.text, resp.text
    if status is not None:
        assert resp.status_code == status, (resp.status_code, resp.text)
    body = resp.json()
    assert body["errors"] and "data" not in body, body
    return body["errors"][0]


# --- documents -----------------------------------------------------------------------------------------


@pytest.mark.parametrize("padding", ["comments", "whitespace"])
async def test_a_document_beyond_the_size_limit_is_refused_before_parsing(gql, server, padding):
    limit = server.settings.query_max_document_chars
    filler = ("# " + "x" * 97 + "\n") * 1_000 if padding == "comments" else " " * 100_000
    resp = await gql.post("{ __typename }\n" + filler)
    error = contract_error(resp, 200)
    ext = error["extensions"]
    assert (ext["code"], ext["details"]["limit"], ext["details"]["max"]) == ("QUERY_TOO_COMPLEX", "documentSize", limit)
    assert ext["details"]["actual"] == len("{ __typename }\n" + filler)
    # Just below the limit, the same padding is fine.
    small = "{ __typename }\n" + filler[: limit - 20]
    assert (await gql.data(small)) == {"__typename": "Query"}


async def test_a_refused_document_is_parsed_once(gql, monkeypatch):
    """The token limit's syntax error is the answer: nothing parses the document a second time."""
    import graphql
    import strawberry.schema.schema as strawberry_schema

    import schema.extensions.guard as limits

    calls: list[int] = []
    real = graphql.parse

    def counting_parse(source, *args, **kwargs):
        calls.append(len(source if isinstance(source, str) else source.body))
        return real(source, *args, **kwargs)

    monkeypatch.setattr(limits, "parse", counting_parse)
    monkeypatch.setattr(strawberry_schema, "parse", counting_parse)
    document = "{ " + "a " * 6_000 + "}"  # 6,002 tokens in 12 kB: under the size limit, over the token limit
    body = await gql.execute(document)
    [error] = body["errors"]
    assert (error["extensions"]["code"], error["extensions"]["details"]["limit"]) == ("QUERY_TOO_COMPLEX", "tokens")
    assert calls == [len(document)]
    # A syntax error is reported once, from the one parse, too.
    calls.clear()
    [error] = (await gql.execute("{ __typename ")).get("errors")
    assert error["extensions"]["name"] == "GraphQLSyntaxError" and "Syntax Error" in error["message"]
    assert calls == [len("{ __typename ")]


async def test_persisted_queries_still_work_beside_the_document_limit(gql, server):
    document = "query Persisted { __typename }"
    ext = {"persistedQuery": {"version": 1, "sha256Hash": sha256(document)}}
    missing = await gql.execute(None, extensions=ext)  # type: ignore[arg-type]
    assert missing["errors"][0]["extensions"]["code"] == "PERSISTED_QUERY_NOT_FOUND"
    assert (await gql.data(document, extensions=ext)) == {"__typename": "Query"}
    assert (await gql.data(None, extensions=ext)) == {"__typename": "Query"}  # type: ignore[arg-type]
    # A document over the size limit is neither run nor remembered under its hash.
    big = "query Big { __typename }" + " " * server.settings.query_max_document_chars
    big_ext = {"persistedQuery": {"version": 1, "sha256Hash": sha256(big)}}
    refused = await gql.execute(big, extensions=big_ext)
    assert refused["errors"][0]["extensions"]["details"]["limit"] == "documentSize"
    again = await gql.execute(None, extensions=big_ext)  # type: ignore[arg-type]
    assert again["errors"][0]["extensions"]["code"] == "PERSISTED_QUERY_NOT_FOUND"


# --- JSON and variables ----------------------------------------------------------------------------------


async def test_deeply_nested_json_is_refused_with_a_json_error(gql):
    for raw in (
        "[" * 3000 + "]" * 3000,
        '{"query": "{ __typename }", "variables": {"a": ' + "[" * 3000 + "]" * 3000 + "}}",
        '{"query": "{ __typename }", "variables": {"a": ' + "[" * 70 + "]" * 70 + "}}",
    ):
        resp = await gql.client.post("/graphql", content=raw, headers={"Content-Type": "application/json"})
        error = contract_error(resp, 400)
        assert error["extensions"]["code"] == "BAD_USER_INPUT"
        # Past 1,024 levels the JSON parser itself stops; below that, our limit.
        assert "nested more than 64 levels" in error["message"] or "Unable to parse" in error["message"], error
    # Nesting within the limit is ordinary input (unused variables are ignored).
    ok = '{"query": "{ __typename }", "variables": {"a": ' + "[" * 60 + "]" * 60 + "}}"
    resp = await gql.client.post("/graphql", content=ok, headers={"Content-Type": "application/json"})
    assert resp.status_code == 200 and resp.json() == {"data": {"__typename": "Query"}}, resp.text


async def test_nul_characters_and_lone_surrogates_in_json_are_refused(gql):
    for raw, message in (
        ('{"query": "{ __typename }", "variables": {"a": "x\\u0000y"}}', "NUL"),
        ('{"query": "{ __typename }", "variables": {"\\u0000": 1}}', "NUL"),
        ('{"query": "{ __typename }", "variables": {"a": "\\ud800"}}', "Unable to parse"),
    ):
        resp = await gql.client.post("/graphql", content=raw, headers={"Content-Type": "application/json"})
        error = contract_error(resp, 400)
        assert error["extensions"]["code"] == "BAD_USER_INPUT" and message in error["message"], error
    # The literal text "\u0000" (an escaped backslash) is not a NUL.
    resp = await gql.client.post(
        "/graphql",
        headers={"Content-Type": "application/json"},
        content='{"query": "{ __typename }", "variables": {"a": "\\\\u0000"}}',
    )
    assert resp.json() == {"data": {"__typename": "Query"}}, resp.text


@pytest.mark.parametrize(
    "value, status, message",
    [
        (10**30, 200, "Int cannot represent"),
        (2**63, 200, "Int cannot represent"),
        (-(2**70), 200, "Int cannot represent"),
        ("9" * 5000, 400, "Unable to parse"),  # beyond even a double: not a JSON number we read
    ],
)
async def test_an_int_variable_beyond_graphql_int_is_a_typed_error(gql, settings, value, status, message):
    headers = await demo_admin(gql, settings)
    raw = (
        '{"query": "query($n: Int) { conversations(first: $n) { edges { cursor } } }", "variables": {"n": '
        + str(value)
        + "}}"
    )
    resp = await gql.client.post("/graphql", content=raw, headers={**headers, "Content-Type": "application/json"})
    error = contract_error(resp, status)
    assert error["extensions"]["code"] == "BAD_USER_INPUT", error
    assert message in error["message"], error


async def test_a_huge_page_size_literal_is_a_typed_error_not_an_overflow(gql, settings):
    headers = await demo_admin(gql, settings)
    body = await gql.execute("{ conversations(first: " + str(10**30) + ") { edges { cursor } } }", headers=headers)
    [error] = body["errors"]
    assert error["extensions"]["code"] == "GRAPHQL_VALIDATION_FAILED" and "Int cannot represent" in error["message"]
    # Nested lists of the largest page multiply far beyond 64 bits: the cost stays a JSON-safe number.
    deep = "{ conversations(first: 2147483647) { edges { node { messages(first: 2147483647) { edges { node { id } } } } } } }"
    [error] = (await gql.execute(deep, headers=headers))["errors"]
    assert error["extensions"]["details"]["limit"] == "cost" and error["extensions"]["details"]["actual"] <= 2**53


async def test_priority_update_without_the_argument_clears_the_priority(gql, settings):
    headers = await demo_admin(gql, settings)
    conversations = await gql.data("{ conversations(first: 1) { edges { node { id } } } }", headers=headers)
    conversation_id = conversations["conversations"]["edges"][0]["node"]["id"]
    set_high = await gql.data(
        """mutation($id: ID!) { conversationPriorityUpdate(id: $id, priority: HIGH) {
        conversation { priority } errors { code } } }""",
        {"id": conversation_id},
        headers=headers,
    )
    assert set_high["conversationPriorityUpdate"] == {"conversation": {"priority": "HIGH"}, "errors": []}
    cleared = await gql.data(
        """mutation($id: ID!) { conversationPriorityUpdate(id: $id) {
        conversation { priority } errors { code } } }""",
        {"id": conversation_id},
        headers=headers,
    )
    assert cleared["conversationPriorityUpdate"] == {"conversation": {"priority": None}, "errors": []}


# --- the last resort -------------------------------------------------------------------------------------


async def test_an_error_nothing_else_answered_is_a_json_error_with_the_request_id(tmp_path, database_url):
    """A route of the application that fails outside GraphQL: the masked error body, never plain text."""

    async def broken(request):
        raise RuntimeError("secret internal detail")

    live = LiveServer(make_settings(tmp_path, worker_in_process=False))
    live.app.router.routes.append(Route("/broken", broken))
    with live:
        async with httpx.AsyncClient(base_url=live.url) as client:
            resp = await client.get("/broken", headers={"X-Request-ID": "req-123"})
            generated = await client.get("/broken")
    assert resp.status_code == 500
    assert resp.headers["x-request-id"] == "req-123"
    assert resp.headers["content-type"].startswith("application/json")
    assert "secret internal detail" not in resp.text and "RuntimeError" not in resp.text
    assert resp.json() == {
        "errors": [
            {
                "message": "Internal server error",
                "extensions": {
                    "code": "INTERNAL_SERVER_ERROR",
                    "status": 500,
                    "name": "ApplicationError",
                    "details": {"requestId": "req-123"},
                    "requestId": "req-123",
                },
            }
        ]
    }
    rid = generated.headers["x-request-id"]
    assert rid and generated.json()["errors"][0]["extensions"]["requestId"] == rid


# --- GraphiQL --------------------------------------------------------------------------------------------


def _production(tmp_path, **overrides):
    return make_settings(
        tmp_path,
        env=Environment.production,
        secret_key="production-test-secret-" + "k" * 32,
        worker_in_process=False,
        **overrides,
    )


@pytest.mark.parametrize("configured, served", [(None, False), (True, True)])
async def test_production_serves_graphiql_only_when_enabled(tmp_path, database_url, configured, served):
    settings = _production(tmp_path, graphiql=configured)
    with LiveServer(settings) as live:
        async with httpx.AsyncClient(base_url=live.url) as client:
            resp = await client.get("/graphql", headers={"Accept": "text/html"})
    if served:
        assert resp.status_code == 200 and resp.headers["content-type"].startswith("text/html")
        assert "graphiql" in resp.text.lower()
    else:
        assert not resp.headers["content-type"].startswith("text/html")
        assert "graphiql" not in resp.text.lower()
        assert contract_error(resp)["extensions"]["code"] in ("NOT_FOUND", "BAD_USER_INPUT")


def test_graphiql_follows_the_environment_and_introspection():
    from infra.settings import Settings

    assert Settings(env=Environment.development).graphiql_enabled
    assert not Settings(env=Environment.development, introspection="false").graphiql_enabled
    assert not Settings(env=Environment.production).graphiql_enabled
    assert Settings(env=Environment.production, graphiql=True).graphiql_enabled
