"""Protection over HTTP: query limits (depth, aliases, tokens, root fields, mutations, directives,
cost), the hourly cost budget, request rate limits, batching, introspection per caller and the error
contract (code, status, name, details; unexpected errors masked with the request id)."""

from __future__ import annotations

import asyncio
import json
import time
from datetime import UTC, datetime

import pytest

from domain.accounts import tokens
from tests.conftest import TEST_DATABASE_URL, make_settings
from tests.support.accounts import LOGIN, signup
from tests.support.gql import GraphQLHTTP
from tests.support.server import LiveServer

MEMBERS = "query Members($n: Int) { memberships(first: $n) { edges { node { user { id } account { id } } } } }"


def errors_of(body: dict) -> list[dict]:
    assert body.get("errors"), body
    return body["errors"]


def too_complex(body: dict, limit: str) -> dict:
    """The details of the QUERY_TOO_COMPLEX error about `limit` (every error is one of those)."""
    assert "data" not in body, body
    found = {}
    for error in errors_of(body):
        ext = error["extensions"]
        assert (ext["code"], ext["status"], ext["name"]) == ("QUERY_TOO_COMPLEX", 400, "QueryTooComplexError"), body
        found[ext["details"]["limit"]] = ext["details"]
    assert limit in found, body
    return found[limit]


@pytest.fixture(scope="module")
def strict(tmp_path_factory, database_url):
    """Small cost limits and budget (a 3-second window), introspection for signed-in users only,
    batches of up to 10 operations."""
    settings = make_settings(
        tmp_path_factory.mktemp("strict"),
        worker_in_process=False,  # only the session server runs an in-process worker (one per process)
        introspection="users",
        max_batch_operations=10,
        query_cost_window_seconds=3,
        query_limits_by_caller={
            "user": {"max_cost": 300, "cost_budget_per_hour": 100},
            "anonymous": {"max_cost": 300, "max_depth": 3},
        },
    )
    with LiveServer(settings) as live:
        yield live


@pytest.fixture
async def strict_gql(strict):
    client = GraphQLHTTP(strict.url)
    yield client
    await client.aclose()


async def fresh_window(gql: GraphQLHTTP, member) -> None:
    """Wait until the member's cost budget is unspent: signing up spends a little of it (choosing the
    new account), and these tests count the budget exactly. `rateLimit` itself costs nothing."""
    deadline = time.monotonic() + 10
    while (await gql.execute("{ rateLimit { used } }", headers=member.headers()))["data"]["rateLimit"]["used"]:
        assert time.monotonic() < deadline, "the cost window did not reset"
        await asyncio.sleep(0.25)


# --- each limit trips with its code ------------------------------------------------------------------


async def test_depth_is_limited_through_fragments_and_whatever_the_names(strict_gql):
    # The strict server lets anonymous callers nest 3 levels; limits apply before authorization.
    assert too_complex(await strict_gql.execute(MEMBERS), "depth") == {"limit": "depth", "max": 3, "actual": 5}
    # Naming the operation or a fragment `__schema` changes nothing (GraphQL Armor's bypass).
    named = (
        "query __schema { ...__schema } fragment __schema on Query { memberships { edges { node { user { id } } } } }"
    )
    assert too_complex(await strict_gql.execute(named), "depth")["actual"] == 5
    nested = "query Q { ...A } fragment A on Query { memberships { ...B } } fragment B on MembershipConnection { edges { node { id } } }"
    assert too_complex(await strict_gql.execute(nested), "depth")["actual"] == 4
    assert (await strict_gql.execute("{ serverInfo { name } }"))["data"] == {"serverInfo": {"name": "Parley"}}


async def test_circular_introspection_is_refused_but_graphiqls_query_runs(gql):
    from graphql import get_introspection_query

    circular = "{ __schema { types { fields { type { fields { type { fields { name } } } } } } } }"
    assert too_complex(await gql.execute(circular), "introspection")["actual"] == 4
    full = get_introspection_query(descriptions=True, directive_is_repeatable=True, input_value_deprecation=True)
    body = await gql.execute(full)
    assert "errors" not in body and body["data"]["__schema"]["queryType"]["name"] == "Query"


@pytest.mark.alone  # measured in under 2 s
async def test_aliases_are_counted_through_every_fragment_spread(gql):
    many = "{ " + " ".join(f"a{i}: __typename" for i in range(101)) + " }"
    assert too_complex(await gql.execute(many), "aliases") == {"limit": "aliases", "max": 30, "actual": 101}
    fragment = "fragment F on Query { " + " ".join(f"f{i}: __typename" for i in range(20)) + " }"
    spread = "{ " + "...F " * 10 + "} " + fragment
    assert too_complex(await gql.execute(spread), "aliases")["actual"] == 200
    # Exponential nesting of spreads is measured once per fragment, not expanded.
    chain = ["fragment L0 on Query { x: __typename }"]
    for i in range(1, 30):
        chain.append(f"fragment L{i} on Query {{ ...L{i - 1} ...L{i - 1} }}")
    started = time.monotonic()
    body = await gql.execute("{ ...L29 } " + " ".join(chain))
    assert time.monotonic() - started < 2
    assert too_complex(body, "aliases")["actual"] == 2**29


async def test_token_root_field_and_directive_limits(gql):
    tokens_body = await gql.execute("{ " + "a " * 6000 + "}")  # 12 kB: within the document size limit
    [error] = errors_of(tokens_body)
    assert error["extensions"]["code"] == "QUERY_TOO_COMPLEX" and error["extensions"]["details"]["limit"] == "tokens"
    roots = "{ " + "__typename " * 21 + "}"
    assert too_complex(await gql.execute(roots), "rootFields") == {"limit": "rootFields", "max": 20, "actual": 21}
    directives = "{ __typename " + "@include(if: true) " * 51 + "}"
    assert too_complex(await gql.execute(directives), "directives")["actual"] == 51
    # A thousand unknown directives: one error, not a thousand (directive overloading).
    overloaded = "{ __typename " + "@aa " * 40 + "}"
    body = await gql.execute(overloaded)
    assert len(errors_of(body)) == 1 and body["errors"][0]["extensions"]["code"] == "GRAPHQL_VALIDATION_FAILED"


async def test_batching_login_attacks_are_refused(gql):
    admin = await signup(gql)
    attempts = " ".join(
        f'l{i}: login(input: {{email: "{admin.email}", password: "guess {i}"}}) {{ errors {{ code }} }}'
        for i in range(100)
    )
    body = await gql.execute(f"mutation {{ {attempts} }}")
    assert too_complex(body, "aliases")["actual"] == 100
    assert too_complex(body, "mutations")["actual"] == 100
    assert too_complex(body, "sensitiveMutations")["actual"] == 100
    # Even two sign-ins in one request are one too many, whatever the other limits say.
    two = " ".join(
        f'l{i}: login(input: {{email: "{admin.email}", password: "guess {i}"}}) {{ errors {{ code }} }}'
        for i in range(2)
    )
    assert too_complex(await gql.execute(f"mutation {{ {two} }}"), "sensitiveMutations")["actual"] == 2
    six = " ".join(f'p{i}: diagnosticsPing(input: {{topic: "t", message: "m"}}) {{ accepted }}' for i in range(6))
    assert too_complex(await gql.execute(f"mutation {{ {six} }}"), "mutations") == {
        "limit": "mutations",
        "max": 5,
        "actual": 6,
    }
    # None of them ran: the account is not locked out by 100 failed sign-ins.
    assert (await gql.data(LOGIN, {"input": {"email": admin.email, "password": "correct horse battery"}}))["login"][
        "errors"
    ] == []
    # Array batching is off by default.
    batch = [{"query": LOGIN, "variables": {"input": {"email": admin.email, "password": f"g{i}"}}} for i in range(100)]
    resp = await gql.client.post("/graphql", json=batch)
    assert resp.status_code == 400 and "Batching is not enabled" in resp.json()["errors"][0]["message"]


# --- cost and budget --------------------------------------------------------------------------------------


async def test_cost_is_computed_reported_and_limited(strict_gql):
    admin = await signup(strict_gql)
    await fresh_window(strict_gql, admin)
    body = await strict_gql.execute(MEMBERS, {"n": 10}, headers=admin.headers())
    # memberships 1 + 10 × (edges 1 + node 1 + user 1 + account 1)
    cost = body["extensions"]["cost"]
    assert cost["requestedQueryCost"] == 41 and cost["maximumQueryCost"] == 300
    assert cost["budget"]["limit"] == 100 and cost["budget"]["used"] == 41 and cost["budget"]["remaining"] == 59
    # The rateLimit field costs nothing and says the same.
    rate = await strict_gql.execute(
        "{ rateLimit { cost maxCost limit used remaining resetAt } }", headers=admin.headers()
    )
    assert rate["data"]["rateLimit"]["cost"] == 0 and rate["data"]["rateLimit"]["used"] == 41
    assert rate["data"]["rateLimit"]["remaining"] == 59 and rate["data"]["rateLimit"]["maxCost"] == 300
    # `first` multiplies: 100 rows would cost 401, over the 300 a query may cost.
    details = too_complex(await strict_gql.execute(MEMBERS, {"n": 100}, headers=admin.headers()), "cost")
    assert details == {"limit": "cost", "max": 300, "actual": 401}
    # A connection without `first` counts its default page (25): 101, more than the 59 left this hour.
    over_budget = await strict_gql.post(MEMBERS, headers=admin.headers())
    assert over_budget.status_code == 429
    assert over_budget.json()["extensions"]["cost"]["requestedQueryCost"] == 101
    # Anonymous answers may be cached and shared, so they carry no caller-specific cost; the
    # rateLimit field tells an anonymous caller its budget (per IP).
    get = await strict_gql.client.get("/graphql", params={"query": "{ serverInfo { name } }"})
    assert "extensions" not in get.json()
    anonymous = await strict_gql.execute("{ serverInfo { name } rateLimit { cost used } }")
    assert "extensions" not in anonymous and anonymous["data"]["rateLimit"]["cost"] == 1


async def test_spent_budget_is_rate_limited_until_the_window_resets(strict_gql):
    admin = await signup(strict_gql)
    await fresh_window(strict_gql, admin)
    for used in (41, 82):
        body = await strict_gql.execute(MEMBERS, {"n": 10}, headers=admin.headers())
        assert body["extensions"]["cost"]["budget"]["used"] == used
    resp = await strict_gql.post(MEMBERS, {"n": 10}, headers=admin.headers())
    assert resp.status_code == 429 and 1 <= int(resp.headers["retry-after"]) <= 3
    body = resp.json()
    [error] = body["errors"]
    assert error["extensions"]["code"] == "RATE_LIMITED" and error["extensions"]["status"] == 429
    assert error["extensions"]["name"] == "RateLimitError" and error["extensions"]["details"]["remaining"] == 18
    assert body["extensions"]["cost"]["budget"]["used"] == 82  # a refused query is not charged
    # A cheaper query still fits what is left.
    assert (await strict_gql.execute(MEMBERS, {"n": 1}, headers=admin.headers()))["extensions"]["cost"]["budget"][
        "used"
    ] == 87
    reset_at = datetime.fromisoformat(body["extensions"]["cost"]["budget"]["resetAt"].replace("Z", "+00:00"))
    assert (reset_at - datetime.now(UTC)).total_seconds() <= 4
    deadline = time.monotonic() + 10
    while True:
        resp = await strict_gql.post(MEMBERS, {"n": 10}, headers=admin.headers())
        if resp.status_code == 200:
            break
        assert time.monotonic() < deadline, "the budget did not reset"
        await asyncio.sleep(0.5)
    assert resp.json()["extensions"]["cost"]["budget"]["used"] == 41


async def test_array_batches_are_capped_when_enabled(strict_gql):
    ok = await strict_gql.client.post("/graphql", json=[{"query": "{ serverInfo { name } }"}] * 10)
    assert ok.status_code == 200 and len(ok.json()) == 10
    over = await strict_gql.client.post("/graphql", json=[{"query": "{ serverInfo { name } }"}] * 11)
    assert over.status_code == 400 and "Too many operations" in over.json()["errors"][0]["message"]


# --- introspection per caller --------------------------------------------------------------------------


async def test_introspection_and_suggestions_only_for_signed_in_users(strict_gql):
    anonymous = await strict_gql.execute("{ __schema { types { name } } }")
    assert anonymous["errors"][0]["extensions"]["code"] == "GRAPHQL_VALIDATION_FAILED" and "data" not in anonymous
    assert (await strict_gql.execute('{ __type(name: "Query") { name } }'))["errors"]
    misspelt = await strict_gql.execute("{ serverInfo { nam } }")
    assert "Did you mean" not in json.dumps(misspelt) and "nam" in misspelt["errors"][0]["message"]
    admin = await signup(strict_gql)
    allowed = await strict_gql.execute('{ __type(name: "Query") { name } }', headers=admin.headers())
    assert allowed == {"data": {"__type": {"name": "Query"}}, "extensions": allowed["extensions"]}
    assert "Did you mean" in json.dumps(await strict_gql.execute("{ serverInfo { nam } }", headers=admin.headers()))
    # Partners may not register introspection either.
    app = await strict_gql.data(
        'mutation { partnerAppCreate(input: {name: "p"}) { partnerApp { id } } }', headers=admin.headers()
    )
    upload = await strict_gql.data(
        "mutation($a: ID!, $m: String!) { partnerManifestUpload(input: {partnerAppId: $a, manifest: $m}) "
        "{ invalidOperations { documentId messages } } }",
        {
            "a": app["partnerAppCreate"]["partnerApp"]["id"],
            "m": json.dumps({"peek": "query Peek { __schema { queryType { name } } }"}),
        },
        headers=admin.headers(),
    )
    assert upload["partnerManifestUpload"]["invalidOperations"][0]["documentId"] == "peek"
    # GraphiQL follows the setting: signed-in developers still get it.
    page = await strict_gql.client.get("/graphql", headers={"Accept": "text/html"})
    assert page.status_code == 200 and "graphiql" in page.text.lower()


async def test_introspection_off_for_everyone_also_removes_graphiql(tmp_path, database_url):
    with LiveServer(make_settings(tmp_path, introspection="false", worker_in_process=False)) as live:
        client = GraphQLHTTP(live.url)
        try:
            admin = await signup(client)
            body = await client.execute("{ __schema { types { name } } }", headers=admin.headers())
            assert body["errors"][0]["extensions"]["code"] == "GRAPHQL_VALIDATION_FAILED"
            page = await client.client.get("/graphql", headers={"Accept": "text/html"})
            assert page.status_code == 404
        finally:
            await client.aclose()


# --- request rate limits ---------------------------------------------------------------------------------


async def test_requests_over_the_rate_limit_get_429_with_retry_after(tmp_path, database_url):
    settings = make_settings(
        tmp_path,
        worker_in_process=False,
        rate_limit_anonymous_per_minute=5,
        rate_limit_authenticated_per_minute=8,
        max_batch_operations=5,
    )
    with LiveServer(settings) as live:
        client = GraphQLHTTP(live.url)
        try:
            admin = await signup(client)  # two anonymous requests: the sign-up and the sign-in
            for _ in range(3):
                assert (await client.post("{ serverInfo { name } }")).status_code == 200
            resp = await client.post("{ serverInfo { name } }")
            assert resp.status_code == 429
            retry_after = int(resp.headers["retry-after"])
            assert 1 <= retry_after <= 12
            body = resp.json()
            assert "data" not in body
            ext = body["errors"][0]["extensions"]
            assert (ext["code"], ext["status"], ext["name"], ext["retryAfter"]) == (
                "RATE_LIMITED",
                429,
                "RateLimitError",
                retry_after,
            )
            # GET is limited the same way.
            assert (await client.client.get("/graphql", params={"query": "{ serverInfo { name } }"})).status_code == 429
            # A signed-in user has a bucket of their own; a batch counts once per operation.
            batch = [{"query": "{ serverInfo { name } }"}] * 5
            assert (await client.client.post("/graphql", json=batch, headers=admin.headers())).status_code == 200
            assert (await client.post("{ serverInfo { name } }", headers=admin.headers())).status_code == 200
            assert (await client.post("{ serverInfo { name } }", headers=admin.headers())).status_code == 200
            limited = await client.client.post("/graphql", json=batch[:2], headers=admin.headers())
            assert limited.status_code == 429 and limited.json()["errors"][0]["extensions"]["limit"] == "caller"
            # Forged tokens do not buy fresh buckets: they are anonymous (and refused).
            forged = await client.post("{ serverInfo { name } }", headers={"Authorization": "Bearer not-a-token"})
            assert forged.status_code == 429
            # The window slides: after Retry-After, the anonymous caller is served again.
            await asyncio.sleep(min(retry_after, 12) + 0.2)
            assert (await client.post("{ serverInfo { name } }")).status_code == 200
        finally:
            await client.aclose()


# --- the error contract -----------------------------------------------------------------------------------


async def test_errors_carry_code_status_name_and_details(gql):
    admin = await signup(gql)
    forbidden = await gql.execute("{ partnerApps { id } }")
    ext = forbidden["errors"][0]["extensions"]
    assert (ext["code"], ext["status"], ext["name"], ext["details"]) == (
        "UNAUTHENTICATED",
        401,
        "UnauthorizedError",
        {},
    )
    bad_cursor = await gql.execute('{ memberships(after: "###") { edges { node { id } } } }', headers=admin.headers())
    ext = bad_cursor["errors"][0]["extensions"]
    assert (ext["code"], ext["status"], ext["name"]) == ("BAD_USER_INPUT", 400, "ValidationError")
    assert ext["details"]["errors"] == [{"path": ["after"], "message": "Invalid cursor", "name": "ValidationError"}]
    syntax = await gql.execute("{ serverInfo {")
    ext = syntax["errors"][0]["extensions"]
    assert (ext["code"], ext["name"]) == ("GRAPHQL_VALIDATION_FAILED", "GraphQLSyntaxError") and "data" not in syntax


async def test_unexpected_errors_are_masked_with_the_request_id(tmp_path, settings):
    """A real fault: the database is unreachable. The client learns only the request id."""
    broken = make_settings(
        tmp_path, worker_in_process=False, database_url=TEST_DATABASE_URL.rsplit("@", 1)[0] + "@127.0.0.1:1/nowhere"
    )
    with LiveServer(broken) as live:
        client = GraphQLHTTP(live.url)
        try:
            from uuid import uuid4

            access, _ = tokens.issue_access_token(broken.secret_key, 1, str(uuid4()), datetime.now(UTC))
            resp = await client.post(
                "{ me { user { email } } }",
                headers={"Authorization": f"Bearer {access}", "X-Request-ID": "trace-me-42"},
            )
            assert resp.status_code == 200
            body = resp.json()
            [error] = body["errors"]
            assert error["message"] == "Internal server error"
            ext = error["extensions"]
            assert (ext["code"], ext["status"], ext["name"]) == ("INTERNAL_SERVER_ERROR", 500, "ApplicationError")
            assert ext["requestId"] == "trace-me-42" == resp.headers["x-request-id"]
            text = resp.text.lower()
            for leak in ("traceback", "connect", "127.0.0.1", "sqlalchemy", "asyncpg", ".py", "exception"):
                assert leak not in text, leak
        finally:
            await client.aclose()
