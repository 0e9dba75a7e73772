"""GraphQL over HTTP as the spec says (media types, status codes, GET and POST rules, CORS), automatic
persisted queries over POST and GET with caching headers, and two real JavaScript clients: Apollo
Client's persisted query link and the graphql-http audit suite (npm packages in tests/node)."""

from __future__ import annotations

import hashlib
import json
import subprocess
from pathlib import Path

import pytest

from tests.conftest import make_settings
from tests.support.accounts import signup
from tests.support.gql import GraphQLHTTP
from tests.support.server import LiveServer

GRAPHQL_RESPONSE = "application/graphql-response+json"
INFO = "query Info { serverInfo { name version } }"


def sha(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


def apq(hash_: str) -> dict:
    return {"persistedQuery": {"version": 1, "sha256Hash": hash_}}


# --- media types and status codes -------------------------------------------------------------------------


async def test_content_negotiation_and_status_codes(gql):
    ok = await gql.client.post("/graphql", json={"query": INFO}, headers={"Accept": GRAPHQL_RESPONSE})
    assert ok.status_code == 200 and ok.headers["content-type"] == f"{GRAPHQL_RESPONSE}; charset=utf-8"
    legacy = await gql.client.post("/graphql", json={"query": INFO}, headers={"Accept": "application/json"})
    assert legacy.headers["content-type"] == "application/json; charset=utf-8"
    preferred = await gql.client.post(
        "/graphql", json={"query": INFO}, headers={"Accept": f"application/json;q=0.5, {GRAPHQL_RESPONSE}"}
    )
    assert preferred.headers["content-type"].startswith(GRAPHQL_RESPONSE)

    # A document that does not validate: a request error, without `data`; 400 with the new media type,
    # 200 with application/json (the spec's rule for legacy clients).
    invalid = {"query": "{ serverInfo { nope } }"}
    new = await gql.client.post("/graphql", json=invalid, headers={"Accept": GRAPHQL_RESPONSE})
    assert new.status_code == 400 and "data" not in new.json()
    assert new.json()["errors"][0]["extensions"]["code"] == "GRAPHQL_VALIDATION_FAILED"
    old = await gql.client.post("/graphql", json=invalid, headers={"Accept": "application/json"})
    assert old.status_code == 200 and "data" not in old.json()

    # A field error is not a request error: `data` is there (null) and the status is 200.
    field_error = await gql.client.post(
        "/graphql", json={"query": "{ me { user { email } } }"}, headers={"Accept": GRAPHQL_RESPONSE}
    )
    assert field_error.status_code == 200 and field_error.json()["data"] is None

    refused = await gql.client.post("/graphql", json={"query": INFO}, headers={"Accept": "text/plain"})
    assert refused.status_code == 406 and refused.json()["errors"][0]["message"]


async def test_post_rules(gql):
    for content_type, body in [
        ("text/plain", json.dumps({"query": INFO})),
        ("application/x-www-form-urlencoded", "query=%7B__typename%7D"),
        ("multipart/form-data; boundary=x", "--x--"),
        ("application/json; charset=latin-1", json.dumps({"query": INFO})),
    ]:
        resp = await gql.client.post("/graphql", content=body, headers={"Content-Type": content_type})
        assert resp.status_code == 415, (content_type, resp.text)
    no_type = await gql.client.post("/graphql", content=json.dumps({"query": INFO}), headers={"Content-Type": ""})
    assert no_type.status_code == 415
    broken = await gql.client.post("/graphql", content="{not json", headers={"Content-Type": "application/json"})
    assert broken.status_code == 400 and broken.json()["errors"][0]["extensions"]["code"] == "BAD_USER_INPUT"
    for bad in ({"query": 1}, {"query": INFO, "variables": []}, {"query": INFO, "extensions": "x"}, {}):
        resp = await gql.client.post("/graphql", json=bad)
        assert resp.status_code == 400, (bad, resp.text)
    assert (await gql.client.put("/graphql", json={"query": INFO})).status_code == 405
    assert (await gql.client.post("/graphql", json={"query": INFO})).headers["cache-control"] == "no-store"


async def test_get_is_for_queries_and_cacheable_when_public(gql):
    mutation = 'mutation { diagnosticsPing(input: {topic: "t", message: "m"}) { accepted } }'
    resp = await gql.client.get("/graphql", params={"query": mutation})
    assert resp.status_code == 405 and resp.headers["allow"] == "POST"
    public = await gql.client.get("/graphql", params={"query": INFO})
    assert public.status_code == 200
    assert public.headers["cache-control"] == "public, max-age=60"
    assert {"Accept", "Authorization", "Cookie", "X-Parley-Account"} <= {
        v.strip() for v in public.headers["vary"].split(",")
    }
    admin = await signup(gql)
    private = await gql.client.get("/graphql", params={"query": INFO}, headers=admin.headers())
    assert private.status_code == 200 and private.headers["cache-control"] == "private, no-store"
    failed = await gql.client.get("/graphql", params={"query": "{ nope }"})
    assert failed.headers["cache-control"] == "private, no-store"


# --- automatic persisted queries ---------------------------------------------------------------------------


async def test_apq_miss_register_hit_and_get(gql):
    hash_ = sha(INFO)
    miss = await gql.client.post("/graphql", json={"extensions": apq(hash_)})
    assert miss.status_code == 200
    error = miss.json()["errors"][0]
    assert error["message"] == "PersistedQueryNotFound" and error["extensions"]["code"] == "PERSISTED_QUERY_NOT_FOUND"
    # A wrong hash for the text is refused and nothing is remembered under it.
    wrong = await gql.client.post("/graphql", json={"query": INFO, "extensions": apq(sha("something else"))})
    assert wrong.json()["errors"][0]["extensions"]["code"] == "BAD_USER_INPUT"
    # A document that does not validate is answered but not remembered.
    invalid = "{ serverInfo { nope } }"
    await gql.client.post("/graphql", json={"query": invalid, "extensions": apq(sha(invalid))})
    assert (await gql.client.post("/graphql", json={"extensions": apq(sha(invalid))})).json()["errors"][0][
        "extensions"
    ]["code"] == "PERSISTED_QUERY_NOT_FOUND"

    registered = await gql.client.post("/graphql", json={"query": INFO, "extensions": apq(hash_)})
    assert registered.json()["data"] == {
        "serverInfo": {"name": "Parley", "version": registered.json()["data"]["serverInfo"]["version"]}
    }
    hit = await gql.client.post("/graphql", json={"extensions": apq(hash_), "operationName": "Info"})
    assert hit.json()["data"]["serverInfo"]["name"] == "Parley"
    get = await gql.client.get("/graphql", params={"extensions": json.dumps(apq(hash_))})
    assert get.status_code == 200 and get.json() == {"data": registered.json()["data"]}
    assert get.headers["cache-control"] == "public, max-age=60"
    # A persisted mutation still may not run over GET.
    mutation = 'mutation Ping { diagnosticsPing(input: {topic: "t", message: "m"}) { accepted } }'
    await gql.client.post("/graphql", json={"query": mutation, "extensions": apq(sha(mutation))})
    assert (await gql.client.get("/graphql", params={"extensions": json.dumps(apq(sha(mutation)))})).status_code == 405
    # Malformed persisted query extensions are the client's mistake.
    for ext in (
        {"persistedQuery": {"version": 2, "sha256Hash": hash_}},
        {"persistedQuery": {"version": 1, "sha256Hash": "abc"}},
    ):
        body = (await gql.client.post("/graphql", json={"extensions": ext})).json()
        assert body["errors"][0]["extensions"]["code"] == "BAD_USER_INPUT", body
    # Document ids are for partners' registered operations.
    body = (await gql.client.post("/graphql", json={"documentId": "anything"})).json()
    assert body["errors"][0]["extensions"]["code"] == "PERSISTED_QUERY_NOT_FOUND"


async def test_apq_cache_is_bounded(tmp_path, database_url, redis_client):
    with LiveServer(make_settings(tmp_path, worker_in_process=False, apq_max_entries=2)) as live:
        client = GraphQLHTTP(live.url)
        try:
            docs = [f"query Q{i} {{ serverInfo {{ name }} }}" for i in range(3)]
            for doc in docs:
                await client.client.post("/graphql", json={"query": doc, "extensions": apq(sha(doc))})
            answers = [(await client.client.post("/graphql", json={"extensions": apq(sha(d))})).json() for d in docs]
            assert answers[0]["errors"][0]["extensions"]["code"] == "PERSISTED_QUERY_NOT_FOUND"
            assert [a.get("data") for a in answers[1:]] == [{"serverInfo": {"name": "Parley"}}] * 2
            assert await redis_client.zcard("parley:apq:index") == 2
            ttl = await redis_client.ttl("parley:apq:doc:" + sha(docs[2]))
            assert 0 < ttl <= 7 * 24 * 3600
        finally:
            await client.aclose()


# --- CORS ---------------------------------------------------------------------------------------------------


async def test_cors_for_configured_origins_only(tmp_path, database_url):
    settings = make_settings(tmp_path, worker_in_process=False, cors_origins=["https://partner.example"])
    with LiveServer(settings) as live:
        client = GraphQLHTTP(live.url)
        try:
            preflight = await client.client.options(
                "/graphql",
                headers={
                    "Origin": "https://partner.example",
                    "Access-Control-Request-Method": "POST",
                    "Access-Control-Request-Headers": "authorization, content-type",
                },
            )
            assert preflight.status_code == 200
            assert preflight.headers["access-control-allow-origin"] == "https://partner.example"
            assert "authorization" in preflight.headers["access-control-allow-headers"].lower()
            simple = await client.client.post(
                "/graphql", json={"query": INFO}, headers={"Origin": "https://partner.example"}
            )
            assert simple.headers["access-control-allow-origin"] == "https://partner.example"
            assert "retry-after" in simple.headers["access-control-expose-headers"].lower()
            # Any site may embed the website widget, so a preflight from an unlisted origin is answered
            # (a preflight carries no token) — but never with credentials: cookies stay same-origin.
            other = await client.client.options(
                "/graphql", headers={"Origin": "https://evil.example", "Access-Control-Request-Method": "POST"}
            )
            assert other.status_code == 204 and "access-control-allow-credentials" not in other.headers
            # Its page may read public answers to requests without credentials...
            stranger = await client.client.post(
                "/graphql", json={"query": INFO}, headers={"Origin": "https://evil.example"}
            )
            assert stranger.headers["access-control-allow-origin"] == "https://evil.example"
            assert "access-control-allow-credentials" not in stranger.headers
            # ...but not answers to an agent's bearer token (only widget session tokens are served cross-origin).
            agent = await client.client.post(
                "/graphql",
                json={"query": INFO},
                headers={"Origin": "https://evil.example", "Authorization": "Bearer not-a-widget-token"},
            )
            assert "access-control-allow-origin" not in agent.headers
        finally:
            await client.aclose()


# --- real JavaScript clients ------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def node_clients() -> Path:
    from tests.support.node import ensure_node_clients

    return ensure_node_clients()


def run_node(node_dir: Path, script: str, url: str) -> object:
    result = subprocess.run(["node", script, url], cwd=node_dir, capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr[-3000:]
    return json.loads(result.stdout)


def test_apollo_clients_persisted_query_link(node_clients, server):
    """Apollo Client's own link: a miss over GET, the document sent once over POST, then a GET hit that
    a CDN may cache."""
    out = run_node(node_clients, "apq.mjs", server.url + "/graphql")
    assert [(e["method"], e["sentQuery"], e["sentHash"], e["status"]) for e in out["first"]] == [
        ("GET", False, True, 200),
        ("POST", True, True, 200),
    ]
    assert [(e["method"], e["sentQuery"], e["status"], e["cacheControl"]) for e in out["second"]] == [
        ("GET", False, 200, "public, max-age=60")
    ]
    assert out["firstData"]["serverInfo"]["name"] == out["secondData"]["serverInfo"]["name"] == "Parley"


def test_graphql_http_audit_suite_passes(node_clients, server):
    results = run_node(node_clients, "audit.mjs", server.url + "/graphql")
    assert len(results) > 50
    failures = [r for r in results if r["status"] == "error"]
    assert not failures, failures
    warnings = [r for r in results if r["status"] == "warn"]
    assert not warnings, warnings


@pytest.mark.embedded
async def test_embedded_default_keeps_persisted_queries_and_budgets_in_memory(embedded_gql):
    doc = "query EmbeddedInfo { serverInfo { name } }"
    miss = await embedded_gql.client.post("/graphql", json={"extensions": apq(sha(doc))})
    assert miss.json()["errors"][0]["extensions"]["code"] == "PERSISTED_QUERY_NOT_FOUND"
    await embedded_gql.client.post("/graphql", json={"query": doc, "extensions": apq(sha(doc))})
    hit = await embedded_gql.client.get("/graphql", params={"extensions": json.dumps(apq(sha(doc)))})
    assert hit.json() == {"data": {"serverInfo": {"name": "Parley"}}}
    admin = await signup(embedded_gql)
    # Signing up spent a little (choosing the new account); the budget counts on from there.
    first = await embedded_gql.execute("{ rateLimit { cost used remaining } }", headers=admin.headers())
    second = await embedded_gql.execute("{ account { name } rateLimit { used } }", headers=admin.headers())
    spent = first["data"]["rateLimit"]["used"]
    assert first["data"]["rateLimit"]["cost"] == 0 and second["data"]["rateLimit"]["used"] == spent + 1
    assert second["extensions"]["cost"]["budget"]["limit"] == 500_000
