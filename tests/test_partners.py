"""Partner apps over HTTP: administrators create them, give them tokens and upload manifests (Apollo's
persisted query manifest or Relay's {id: body}, by mutation or with `parley partner-manifest upload`);
a partner token runs only the operations of its app's current manifest."""

from __future__ import annotations

import hashlib
import json
import subprocess
import sys
from pathlib import Path

from tests.support.accounts import signup

ROOT = Path(__file__).resolve().parent.parent

APP_CREATE = "mutation($n: String!) { partnerAppCreate(input: {name: $n}) { partnerApp { id name } errors { code } } }"
TOKEN_CREATE = """mutation($a: ID!) { partnerTokenCreate(input: {partnerAppId: $a, name: "ci"}) {
  secret partnerToken { id prefix } errors { code } } }"""
UPLOAD = """mutation($a: ID!, $m: String!, $skip: Boolean! = false) {
  partnerManifestUpload(input: {partnerAppId: $a, manifest: $m, skipInvalid: $skip}) {
    manifest { version format operationCount current operations { documentId name kind sha256 } }
    partnerApp { currentVersion }
    invalidOperations { documentId name messages }
    errors { field code message }
  } }"""
ACTIVATE = """mutation($a: ID!, $v: Int!) { partnerManifestActivate(input: {partnerAppId: $a, version: $v}) {
  partnerApp { currentVersion } errors { field code } } }"""

ACCOUNT_NAME = "query AccountName { account { name } }"
SERVER_NAME = "query ServerName { serverInfo { name } }"


def sha(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


def apollo_manifest(*bodies: tuple[str, str]) -> str:
    return json.dumps(
        {
            "format": "apollo-persisted-query-manifest",
            "version": 1,
            "operations": [{"id": sha(body), "name": name, "type": "query", "body": body} for name, body in bodies],
        }
    )


async def run_op(gql, headers: dict, query: str | None = None, **fields) -> dict:
    """POST a request with any top-level fields (documentId, extensions); the JSON answer."""
    body = {"query": query, **fields} if query is not None else fields
    resp = await gql.client.post("/graphql", json=body, headers=headers)
    assert resp.status_code == 200, (resp.status_code, resp.text)
    return resp.json()


def code_of(body: dict) -> str:
    assert body.get("errors"), body
    return body["errors"][0]["extensions"]["code"]


async def partner_app(gql, admin) -> tuple[str, str]:
    app = (await gql.data(APP_CREATE, {"n": "CRM sync"}, headers=admin.headers()))["partnerAppCreate"]["partnerApp"]
    token = (await gql.data(TOKEN_CREATE, {"a": app["id"]}, headers=admin.headers()))["partnerTokenCreate"]
    assert token["secret"].startswith("plya_") and token["partnerToken"]["prefix"] == token["secret"][:12]
    return app["id"], token["secret"]


def partner(secret: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {secret}"}


async def test_partner_token_runs_only_registered_operations(gql):
    admin = await signup(gql, account="Acme")
    app_id, secret = await partner_app(gql, admin)

    # Before any manifest, nothing runs.
    body = await run_op(gql, partner(secret), documentId=sha(ACCOUNT_NAME))
    assert code_of(body) == "PERSISTED_QUERY_NOT_ALLOWED" and "no manifest" in body["errors"][0]["message"]

    uploaded = (
        await gql.data(
            UPLOAD, {"a": app_id, "m": apollo_manifest(("AccountName", ACCOUNT_NAME))}, headers=admin.headers()
        )
    )["partnerManifestUpload"]
    assert uploaded["errors"] == [] and uploaded["invalidOperations"] == []
    assert uploaded["manifest"]["version"] == 1 and uploaded["manifest"]["format"] == "APOLLO"
    assert uploaded["manifest"]["operations"] == [
        {"documentId": sha(ACCOUNT_NAME), "name": "AccountName", "kind": "QUERY", "sha256": sha(ACCOUNT_NAME)}
    ]

    # A registered operation, by documentId or by Apollo's persisted query hash, over POST and GET.
    by_id = await run_op(gql, partner(secret), documentId=sha(ACCOUNT_NAME))
    assert by_id == {"data": {"account": {"name": "Acme"}}, "extensions": by_id["extensions"]}
    by_prefixed_id = await run_op(gql, partner(secret), documentId="sha256:" + sha(ACCOUNT_NAME))
    assert by_prefixed_id["data"] == {"account": {"name": "Acme"}}
    by_hash = await run_op(
        gql, partner(secret), extensions={"persistedQuery": {"version": 1, "sha256Hash": sha(ACCOUNT_NAME)}}
    )
    assert by_hash["data"] == {"account": {"name": "Acme"}}
    get = await gql.client.get("/graphql", params={"documentId": sha(ACCOUNT_NAME)}, headers=partner(secret))
    assert get.status_code == 200 and get.json()["data"] == {"account": {"name": "Acme"}}
    assert "private" in get.headers["cache-control"]  # a partner's answer is not for shared caches
    # The registered text with its id is fine too.
    same = await run_op(gql, partner(secret), ACCOUNT_NAME, documentId=sha(ACCOUNT_NAME))
    assert same["data"] == {"account": {"name": "Acme"}}

    # Anything else is refused before it runs.
    refusals = {
        "raw document": dict(query=ACCOUNT_NAME),
        "raw document with an APQ hash": dict(
            query=SERVER_NAME, extensions={"persistedQuery": {"version": 1, "sha256Hash": sha(SERVER_NAME)}}
        ),
        "unregistered id": dict(documentId=sha(SERVER_NAME)),
        "registered id with another text": dict(query=SERVER_NAME, documentId=sha(ACCOUNT_NAME)),
    }
    for name, extra in refusals.items():
        resp = await gql.client.post("/graphql", json=extra, headers=partner(secret))
        assert resp.status_code == 200, (name, resp.text)
        body = resp.json()
        assert code_of(body) == "PERSISTED_QUERY_NOT_ALLOWED", (name, body)
        assert "data" not in body, (name, body)
        assert body["errors"][0]["extensions"]["status"] == 403
        assert body["errors"][0]["extensions"]["name"] == "PersistedQueryNotAllowedError"
    # With the GraphQL-over-HTTP media type the refusal is a 403.
    resp = await gql.post(ACCOUNT_NAME, headers={**partner(secret), "Accept": "application/graphql-response+json"})
    assert resp.status_code == 403 and resp.headers["content-type"].startswith("application/graphql-response+json")


async def test_manifests_are_validated_versioned_and_can_be_rolled_back(gql):
    admin = await signup(gql, account="Acme")
    app_id, secret = await partner_app(gql, admin)
    stale = "query Stale { serverInfo { removedField } }"
    introspect = "query Peek { __schema { types { name } } }"
    manifest = apollo_manifest(("AccountName", ACCOUNT_NAME), ("Stale", stale), ("Peek", introspect))

    refused = (await gql.data(UPLOAD, {"a": app_id, "m": manifest}, headers=admin.headers()))["partnerManifestUpload"]
    assert refused["manifest"] is None and refused["partnerApp"]["currentVersion"] is None
    assert [(e["field"], e["code"]) for e in refused["errors"]] == [("manifest", "INVALID_OPERATIONS")]
    problems = {p["name"]: p["messages"] for p in refused["invalidOperations"]}
    assert set(problems) == {"Stale"}  # introspection is open to everyone outside production
    assert "removedField" in problems["Stale"][0]

    skipped = (await gql.data(UPLOAD, {"a": app_id, "m": manifest, "skip": True}, headers=admin.headers()))[
        "partnerManifestUpload"
    ]
    assert skipped["errors"] == [] and skipped["manifest"]["version"] == 1
    assert "Stale" in {p["name"] for p in skipped["invalidOperations"]}
    assert "Stale" not in {o["name"] for o in skipped["manifest"]["operations"]}

    # Version 2 in Relay's format replaces the set of operations.
    relay = json.dumps({"server-name": SERVER_NAME})
    v2 = (await gql.data(UPLOAD, {"a": app_id, "m": relay}, headers=admin.headers()))["partnerManifestUpload"]
    assert v2["manifest"]["version"] == 2 and v2["manifest"]["format"] == "RELAY" and v2["manifest"]["current"]
    ok = await run_op(gql, partner(secret), documentId="server-name")
    assert ok["data"] == {"serverInfo": {"name": "Parley"}}
    old = await run_op(gql, partner(secret), documentId=sha(ACCOUNT_NAME))
    assert code_of(old) == "PERSISTED_QUERY_NOT_ALLOWED" and "version 2" in old["errors"][0]["message"]

    # Back to version 1: its operations run again, version 2's no longer.
    back = (await gql.data(ACTIVATE, {"a": app_id, "v": 1}, headers=admin.headers()))["partnerManifestActivate"]
    assert back == {"partnerApp": {"currentVersion": 1}, "errors": []}
    again = await run_op(gql, partner(secret), documentId=sha(ACCOUNT_NAME))
    assert again["data"] == {"account": {"name": "Acme"}}
    assert code_of(await run_op(gql, partner(secret), documentId="server-name")) == "PERSISTED_QUERY_NOT_ALLOWED"
    missing = (await gql.data(ACTIVATE, {"a": app_id, "v": 9}, headers=admin.headers()))["partnerManifestActivate"]
    assert missing["errors"] == [{"field": "version", "code": "NOT_FOUND"}]

    listed = await gql.data(
        "{ partnerApps { currentVersion manifests { version current operationCount } } }", headers=admin.headers()
    )
    assert listed["partnerApps"][0]["manifests"] == [
        {"version": 2, "current": False, "operationCount": 1},
        {"version": 1, "current": True, "operationCount": len(skipped["manifest"]["operations"])},
    ]


async def test_malformed_manifests_and_forged_hash_ids_are_refused(gql):
    admin = await signup(gql)
    app_id, _secret = await partner_app(gql, admin)
    for text, needle in [
        ("not json", "not valid JSON"),
        ("[]", "JSON object"),
        ('{"a": 1}', "operation's text"),
        (json.dumps({"format": "apollo-persisted-query-manifest", "version": 2, "operations": []}), "version 1"),
        ("{}", "no operations"),
    ]:
        body = (await gql.data(UPLOAD, {"a": app_id, "m": text}, headers=admin.headers()))["partnerManifestUpload"]
        assert [e["code"] for e in body["errors"]] == ["INVALID_MANIFEST"], (text, body)
        assert needle in body["errors"][0]["message"], (text, body)
    # An id that looks like a SHA-256 must be the hash of its body.
    forged = json.dumps({"operations": [{"id": sha(SERVER_NAME), "body": ACCOUNT_NAME, "type": "query"}]})
    body = (await gql.data(UPLOAD, {"a": app_id, "m": forged}, headers=admin.headers()))["partnerManifestUpload"]
    assert body["manifest"] is None and "not the hash of the body" in body["invalidOperations"][0]["messages"][0]
    two_ops = json.dumps({"two": "query A { serverInfo { name } } query B { serverInfo { version } }"})
    body = (await gql.data(UPLOAD, {"a": app_id, "m": two_ops}, headers=admin.headers()))["partnerManifestUpload"]
    assert "exactly one operation" in body["invalidOperations"][0]["messages"][0]


async def test_partner_tokens_act_with_a_bots_rights_and_end_with_revocation_or_disabling(gql):
    admin = await signup(gql, account="Acme")
    app_id, secret = await partner_app(gql, admin)
    admin_only = "query Apps { partnerApps { id } }"
    change = 'mutation Spawn { partnerAppCreate(input: {name: "x"}) { errors { code } } }'
    manifest = json.dumps({"name": ACCOUNT_NAME, "apps": admin_only, "spawn": change})
    assert (await gql.data(UPLOAD, {"a": app_id, "m": manifest}, headers=admin.headers()))["partnerManifestUpload"][
        "errors"
    ] == []
    # A registered operation still meets the field's access rule: partners are not administrators.
    assert code_of(await run_op(gql, partner(secret), documentId="apps")) == "FORBIDDEN"
    assert code_of(await run_op(gql, partner(secret), documentId="spawn")) == "FORBIDDEN"
    # A registered mutation is not run over GET.
    get = await gql.client.get("/graphql", params={"documentId": "spawn"}, headers=partner(secret))
    assert get.status_code == 405

    disable = "mutation($id: ID!, $d: Boolean!) { partnerAppUpdate(id: $id, input: {disabled: $d}) { partnerApp { disabled } } }"
    await gql.data(disable, {"id": app_id, "d": True}, headers=admin.headers())
    assert code_of(await run_op(gql, partner(secret), documentId="name")) == "FORBIDDEN"
    await gql.data(disable, {"id": app_id, "d": False}, headers=admin.headers())
    assert (await run_op(gql, partner(secret), documentId="name"))["data"] == {"account": {"name": "Acme"}}

    tokens = await gql.data("{ partnerApps { tokens { id revokedAt lastUsedAt } } }", headers=admin.headers())
    [token] = tokens["partnerApps"][0]["tokens"]
    assert token["lastUsedAt"] is not None
    await gql.data(
        "mutation($id: ID!) { partnerTokenRevoke(id: $id) { partnerToken { revokedAt } } }",
        {"id": token["id"]},
        headers=admin.headers(),
    )
    assert code_of(await run_op(gql, partner(secret), documentId="name")) == "UNAUTHENTICATED"
    assert code_of(await run_op(gql, partner("plya_forged"), documentId="name")) == "UNAUTHENTICATED"


async def test_cli_uploads_a_manifest_through_the_api(gql, server, tmp_path):
    admin = await signup(gql, account="Acme")
    app_id, secret = await partner_app(gql, admin)
    manifest = tmp_path / "manifest.json"
    manifest.write_text(apollo_manifest(("AccountName", ACCOUNT_NAME), ("Stale", "query Stale { nope }")))

    def run(*args: str) -> subprocess.CompletedProcess:
        return subprocess.run(
            [
                sys.executable,
                "-m",
                "parley.cli",
                "partner-manifest",
                "upload",
                str(manifest),
                "--app",
                app_id,
                "--token",
                admin.access,
                "--url",
                server.url,
                *args,
            ],
            cwd=ROOT,
            capture_output=True,
            text=True,
            timeout=60,
        )

    refused = run()
    assert refused.returncode == 2, refused.stderr
    assert "invalid: " in refused.stderr and "Stale" in refused.stderr and "nothing was stored" in refused.stderr
    stored = run("--skip-invalid")
    assert stored.returncode == 0, stored.stderr
    assert "manifest version 1 is current: 1 operation(s)" in stored.stdout
    body = await run_op(gql, partner(secret), documentId=sha(ACCOUNT_NAME))
    assert body["data"] == {"account": {"name": "Acme"}}
    wrong_token = subprocess.run(
        [
            sys.executable,
            "-m",
            "parley.cli",
            "partner-manifest",
            "upload",
            str(manifest),
            "--app",
            app_id,
            "--token",
            "plyp_wrong",
            "--url",
            server.url,
        ],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert wrong_token.returncode == 2 and "UNAUTHENTICATED" in wrong_token.stderr
