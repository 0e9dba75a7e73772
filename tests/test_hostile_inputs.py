"""Hostile input at the public entry points of `parley serve` in a child process (PostgreSQL + Redis):
emails, global ids, cursors, variables, JSON bodies and documents that are huge (up to 1 MB), deeply
nested, hold NUL characters or lone surrogates, or repeat one pattern for ever.

Every answer must be a typed error — a JSON body whose first top-level error has `extensions.code`, or a
mutation payload whose `errors` carry a `code` — with the `X-Request-ID` header and nothing of the
server's internals, and the server must refuse within a small CPU budget. The budget is measured on
the server process itself (its user + system time from /proc), not by the wall clock, so a slow shared
machine does not make the test flaky and a backtracking regular expression cannot hide in it.
"""

from __future__ import annotations

import json
import os
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from tests.conftest import TEST_DATABASE_URL, TEST_REDIS_URL
from tests.support.demo import demo_admin
from tests.support.gql import GraphQLHTTP
from tests.support.server import ProcessServer

pytestmark = [
    pytest.mark.skipif(not os.path.exists("/proc/self/stat"), reason="server CPU time is read from /proc"),
    pytest.mark.alone,  # CPU budgets and wall times
]

CPU_BUDGET = 0.100  # seconds of server CPU before a refusal (the bound)
_TICK = 1 / os.sysconf("SC_CLK_TCK")
# /proc counts CPU time in clock ticks: a measurement may be one tick high on either end.
TOLERANCE = 2 * _TICK
MB = 1_000_000

INTERNALS = (
    "Traceback",
    'File "',
    "sqlalchemy",
    "asyncpg",
    "psycopg",
    "RecursionError",
    "TypeError",
    "ValueError",
    "KeyError",
    "UnicodeEncodeError",
    "OverflowError",
    "site-packages",
    "/parley/",
)


def server_cpu(pid: int) -> float:
    """User + system CPU seconds of a process (fields 14 and 15 of /proc/<pid>/stat)."""
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) * _TICK


@pytest.fixture(scope="module")
def hostile_server(tmp_path_factory, database_url) -> ProcessServer:
    server = ProcessServer(
        {
            "PARLEY_ENV": "test",  # sign-ups answer with tokens at once (tests.support.accounts.signup)
            "PARLEY_SECRET_KEY": "hostile-input-test-secret-key-0123456789abcdef",
            "PARLEY_WORKER_IN_PROCESS": "false",
            "PARLEY_DATABASE_URL": TEST_DATABASE_URL,
            "PARLEY_REDIS_URL": TEST_REDIS_URL,
            "PARLEY_DATA_DIR": str(tmp_path_factory.mktemp("hostile")),
            "PARLEY_DRAMATIQ_NAMESPACE": "parley-test",
            "PARLEY_LOG_LEVEL": "CRITICAL",
            # The corpus sends hundreds of requests from one address: the rate limits would answer most of
            # them (typed, but without exercising validation).
            "PARLEY_RATE_LIMIT_ANONYMOUS_PER_MINUTE": "0",
            "PARLEY_RATE_LIMIT_IP_PER_MINUTE": "0",
            "PARLEY_RATE_LIMIT_AUTHENTICATED_PER_MINUTE": "0",
            "PARLEY_WIDGET_SESSIONS_PER_IP_PER_MINUTE": "0",
            "PARLEY_SIGNUP_PER_IP_PER_HOUR": "0",
            "PARLEY_QUERY_COST_BUDGET_PER_HOUR": "0",
            "PARLEY_QUERY_LIMITS_BY_CALLER": "{}",
        }
    )
    server.start()
    try:
        yield server
    finally:
        server.stop()


# --- the corpus ------------------------------------------------------------------------------------------

LONE_SURROGATE = "\ud800"  # json.dumps writes it as the escape \ud800, which no UTF-8 text can hold


def hostile_strings() -> dict[str, str]:
    """Values for string arguments (emails, ids, cursors, names): each fits a 1 MB body."""
    return {
        "redos-email": "a@" + "." * 900_000 + "@",
        "redos-email-short": "a@" + "." * 5_000 + "@",
        "dots-domain": "a@" + "a." * 400_000 + "a",
        "huge": "a" * 900_000,
        "huge-digits": "9" * 900_000,
        "huge-multibyte": "é" * 300_000,
        "long-repeat": "ab@" * 250_000,
        "spaces": "a" + " " * 800_000 + "@example.com",
        "nul": "ada\x00@example.com",
        "nul-run": "\x00" * 10_000,
        "lone-surrogate": f"ada{LONE_SURROGATE}@example.com",
        "surrogates": LONE_SURROGATE * 50_000,
        "unicode-digits": "²" * 1_000,
        "control": "\x01\x02\x1b[31m\x7f" * 1_000,
        "base64ish": "Q29udmVyc2F0aW9uOjE" * 40_000,
        "many-at": "@" * 900_000,
    }


@dataclass
class Probe:
    name: str
    request: Callable[[httpx.Client], httpx.Response]
    mutation: str | None = None  # the mutation whose payload may carry the typed errors
    # widgetSessionStart starts a session whatever the visitor's details: invalid ones are dropped.
    may_succeed: bool = False


def encode(body: object) -> bytes:
    """JSON as UTF-8, lone surrogates written as `\\ud800` escapes (the only way JSON can carry them)."""
    return json.dumps(body, ensure_ascii=False).encode("utf-8", "backslashreplace")


def _post(body: object, headers: dict[str, str] | None = None) -> Callable[[httpx.Client], httpx.Response]:
    raw = body if isinstance(body, bytes) else encode(body)
    assert len(raw) <= MB, (len(raw), str(body)[:80])  # what the server accepts (PARLEY_MAX_BODY_BYTES)
    headers = {**(headers or {}), "Content-Type": "application/json"}
    return lambda client: client.post("/graphql", content=raw, headers=headers)


def _get(params: dict[str, str]) -> Callable[[httpx.Client], httpx.Response]:
    return lambda client: client.get("/graphql", params=params, headers={"Accept": "application/json"})


WIDGET_START = """mutation($i: WidgetSessionStartInput!) { widgetSessionStart(input: $i) {
  token errors { field code message } } }"""
ACCOUNT_CREATE = """mutation($i: AccountCreateInput!) { accountCreate(input: $i) {
  account { id } errors { field code message } } }"""
LOGIN = """mutation($i: LoginInput!) { login(input: $i) { user { id } errors { field code message } } }"""
CONVERSATIONS = """query($a: String, $n: Int) { conversations(first: $n, after: $a) { edges { cursor } } }"""
CONVERSATION = """query($id: ID) { conversation(id: $id) { id } }"""
CONTACT = """query($id: ID!) { contact(id: $id) { id } }"""


def string_probes(website_token: str, headers: dict[str, str]) -> list[Probe]:
    def widget(**fields: str) -> dict:
        return {"query": WIDGET_START, "variables": {"i": {"websiteToken": website_token, **fields}}}

    def signup(**fields: str) -> dict:
        values = {"accountName": "Shop", "name": "Ada", "email": "ada@example.com", "password": "correct horse battery"}
        return {"query": ACCOUNT_CREATE, "variables": {"i": {**values, **fields}}}

    probes = []
    for label, value in hostile_strings().items():
        probes += [
            Probe(
                f"widgetSessionStart.email/{label}",
                _post(widget(email=value, name="Visitor")),
                "widgetSessionStart",
                may_succeed=True,
            ),
            Probe(
                f"widgetSessionStart.name/{label}", _post(widget(name=value)), "widgetSessionStart", may_succeed=True
            ),
            Probe(
                f"widgetSessionStart.identifier/{label}",
                _post(widget(identifier=value, identifierHash="00")),
                "widgetSessionStart",
            ),
            Probe(
                f"widgetSessionStart.identifierHash/{label}",
                _post(widget(identifier="user-1", identifierHash=value)),
                "widgetSessionStart",
            ),
            Probe(
                f"widgetSessionStart.websiteToken/{label}",
                _post({"query": WIDGET_START, "variables": {"i": {"websiteToken": value}}}),
                "widgetSessionStart",
            ),
            Probe(f"accountCreate.email/{label}", _post(signup(email=value)), "accountCreate"),
            Probe(f"accountCreate.name/{label}", _post(signup(name=value, password="x")), "accountCreate"),
            Probe(
                f"accountCreate.accountName/{label}", _post(signup(accountName=value, password="x")), "accountCreate"
            ),
            Probe(
                f"login.email/{label}",
                _post({"query": LOGIN, "variables": {"i": {"email": value, "password": "x"}}}),
                "login",
            ),
            Probe(f"conversations.after/{label}", _post({"query": CONVERSATIONS, "variables": {"a": value}}, headers)),
            Probe(f"conversation.id/{label}", _post({"query": CONVERSATION, "variables": {"id": value}}, headers)),
            Probe(f"contact.id/{label}", _post({"query": CONTACT, "variables": {"id": value}}, headers)),
        ]
    return probes


def nested(depth: int, inner: str = "1") -> str:
    return "[" * depth + inner + "]" * depth


def body_probes(headers: dict[str, str]) -> list[Probe]:
    """Variables, JSON bodies and documents."""
    q = "{ __typename }"
    huge_int = '{"query": "query($n: Int) { conversations(first: $n) { edges { cursor } } }", "variables": {"n": %s}}'
    probes = [
        Probe("variables/int-10e30", _post((huge_int % (10**30)).encode(), headers)),
        Probe("variables/int-900k-digits", _post((huge_int % ("9" * 900_000)).encode(), headers)),
        Probe("variables/int-2**63", _post(huge_int.replace("%s", str(2**63)).encode())),
        Probe(
            "document/first-literal-10e30",
            _post({"query": "{ conversations(first: " + str(10**30) + ") { edges { cursor } } }"}),
        ),
        Probe(
            "variables/deep-3000",
            _post(('{"query": "{ __typename }", "variables": {"a": ' + nested(3000) + "}}").encode()),
        ),
        Probe(
            "variables/deep-1000",
            _post(('{"query": "{ __typename }", "variables": {"a": ' + nested(1000) + "}}").encode()),
        ),
        Probe(
            "variables/deep-objects",
            _post(('{"query": "{ __typename }", "variables": %s}' % ('{"a":' * 3000 + "1" + "}" * 3000)).encode()),
        ),
        # Well-formed, merely large: unused variables are ignored (GraphQL over HTTP), a long list is coerced.
        Probe(
            "variables/wide", _post({"query": q, "variables": {f"v{i}": i for i in range(60_000)}}), may_succeed=True
        ),
        Probe(
            "variables/long-list",
            _post({"query": "query($a: [Int]) { __typename }", "variables": {"a": [0] * 300_000}}),
            may_succeed=True,
        ),
        Probe("variables/not-object", _post({"query": q, "variables": [1, 2, 3]})),
        Probe("variables/nul", _post({"query": q, "variables": {"a": "\x00" * 1000}})),
        Probe("variables/nul-key", _post({"query": q, "variables": {"\x00": 1}})),
        Probe("variables/lone-surrogate", _post({"query": q, "variables": {"a": LONE_SURROGATE}})),
        Probe("body/deep-array-3000", _post(nested(3000).encode())),
        Probe("body/deep-array-100000", _post(nested(100_000).encode())),
        Probe("body/deep-object", _post(('{"a":' * 3000 + "1" + "}" * 3000).encode())),
        Probe("body/batch-10000", _post([{"query": q}] * 10_000)),
        Probe("body/not-json", _post(b"{" * 900_000)),
        Probe("body/invalid-utf8", _post(b'{"query": "\xff\xfe' + b"\xff" * 1000 + b'"}')),
        Probe("body/raw-nul", _post(b'{"query": "{ __typename }\x00"}')),
        Probe("body/lone-surrogate-query", _post(b'{"query": "{ __typename } #\\ud800"}')),
        Probe("body/string", _post(b'"' + b"a" * 900_000 + b'"')),
        Probe("body/number", _post(b"9" * 900_000)),
        Probe("body/empty", _post(b"")),
        Probe("document/comments-900k", _post({"query": "{ __typename }\n" + ("#" + "a" * 98 + "\n") * 9_000})),
        Probe("document/comments-100k", _post({"query": "{ __typename }\n" + ("#" + "a" * 98 + "\n") * 1_000})),
        Probe("document/whitespace-900k", _post({"query": "{" + " " * 900_000 + "__typename }"})),
        Probe(
            "document/aliases-10000", _post({"query": "{" + " ".join(f"a{i}: __typename" for i in range(10_000)) + "}"})
        ),
        Probe("document/aliases-tokens", _post({"query": "{" + "a:__typename " * 2_000 + "}"})),
        Probe("document/deep-selection", _post({"query": "{" * 5_000 + "}" * 5_000})),
        Probe("document/deep-short", _post({"query": "{ a " * 1_000 + "}" * 1_000})),
        Probe("document/deep-list-value", _post({"query": "{ __typename(a: " + nested(5_000) + ") }"})),
        Probe(
            "document/deep-object-value",
            _post({"query": "{ __typename(a: " + "{a:" * 3_000 + "1" + "}" * 3_000 + ") }"}),
        ),
        Probe("document/string-literal-900k", _post({"query": '{ __typename(a: "' + "a" * 900_000 + '") }'})),
        Probe("document/block-string", _post({"query": '{ __typename(a: """' + '\\"""' * 100_000 + '""") }'})),
        Probe("document/nul", _post({"query": "{ __typename \x00 }"})),
        Probe("document/lone-surrogate-escape", _post({"query": '{ __typename(a: "\\ud800") }'})),
        Probe(
            "document/fragments-cycle",
            _post({"query": "{ ...A } fragment A on Query { ...B } fragment B on Query { ...A }"}),
        ),
        Probe(
            "document/fragment-fanout",
            _post(
                {
                    "query": "query { ...F0 } "
                    + " ".join(f"fragment F{i} on Query {{ ...F{i + 1} ...F{i + 1} }}" for i in range(400))
                    + " fragment F400 on Query { __typename }"
                }
            ),
        ),
        Probe("document/directives", _post({"query": "{ __typename " + "@include(if: true) " * 20_000 + "}"})),
        Probe(
            "document/operations",
            _post({"query": " ".join(f"query Q{i} {{ __typename }}" for i in range(20_000)), "operationName": "Q1"}),
        ),
        Probe("document/operation-name-huge", _post({"query": q, "operationName": "a" * 900_000})),
        Probe(
            "document/extensions-huge",
            _post({"query": q, "extensions": {"persistedQuery": {"version": 1, "sha256Hash": "a" * 900_000}}}),
        ),
        Probe("document/document-id-huge", _post({"documentId": "a" * 900_000})),
        Probe(
            "document/variable-definitions",
            _post({"query": "query(" + " ".join(f"$v{i}: Int" for i in range(50_000)) + ") { __typename }"}),
        ),
        Probe(
            "document/priority-without-argument",
            _post(
                {"query": 'mutation { conversationPriorityUpdate(id: "Q29udmVyc2F0aW9uOjA") { errors { code } } }'},
                headers,
            ),
            "conversationPriorityUpdate",
        ),
        Probe("get/whitespace", _get({"query": "{ __typename }" + " " * 40_000})),
        Probe("get/variables-deep", _get({"query": "query($a: Int) { __typename }", "variables": nested(2_000)})),
        Probe(
            "get/variables-surrogate",
            _get({"query": "query($a: String) { __typename }", "variables": json.dumps({"a": LONE_SURROGATE})}),
        ),
        Probe(
            "get/variables-nul", _get({"query": "query($a: String) { __typename }", "variables": '{"a": "\\u0000"}'})
        ),
        Probe(
            "get/invalid-utf8",
            lambda c: c.get("/graphql?query=%7B%20__typename%20%FF%FE%7D", headers={"Accept": "application/json"}),
        ),
        Probe(
            "get/mutation",
            _get({"query": 'mutation { login(input: {email: "a@b.cd", password: "x"}) { user { id } } }'}),
        ),
        Probe("get/extensions-deep", _get({"query": "{ __typename }", "extensions": nested(3_000)})),
    ]
    return probes


# --- the assertions --------------------------------------------------------------------------------------


def typed_error(resp: httpx.Response, mutation: str | None, may_succeed: bool = False) -> str:
    """The error code of a refusal ("OK" for an accepted request that may be); fails unless the answer
    is in the contract."""
    assert resp.headers.get("x-request-id"), (resp.status_code, resp.headers)
    assert "json" in resp.headers.get("content-type", ""), (resp.status_code, resp.text[:300])
    for internal in INTERNALS:
        assert internal not in resp.text, (internal, resp.text[:500])
    body = resp.json()
    assert isinstance(body, dict), body
    errors = body.get("errors")
    if errors:
        code = errors[0].get("extensions", {}).get("code")
        assert code, errors[0]
        return code
    if may_succeed and mutation is None and "data" in body:
        return "OK"
    assert mutation is not None, f"accepted: {resp.text[:300]}"
    payload = (body.get("data") or {}).get(mutation) or {}
    if may_succeed and payload.get("errors") == []:
        return "OK"
    assert payload.get("errors"), f"accepted: {resp.text[:300]}"
    code = payload["errors"][0].get("code")
    assert code, payload["errors"][0]
    return code


def run_corpus(server: ProcessServer, probes: list[Probe]) -> list[str]:
    """Each probe once (twice when over budget: a measurement caught by a scheduler tick or a garbage
    collection is not the probe's cost); returns the failures."""
    pid = server.proc.pid
    failures = []
    with httpx.Client(base_url=server.url, timeout=60) as client:
        client.get("/healthz")
        for probe in probes:
            spent = []
            for _attempt in range(2):
                before = server_cpu(pid)
                started = time.monotonic()
                try:
                    resp = probe.request(client)
                except httpx.TransportError as exc:
                    failures.append(f"{probe.name}: no answer ({type(exc).__name__})")
                    break
                wall = time.monotonic() - started
                spent.append(server_cpu(pid) - before)
                try:
                    code = typed_error(resp, probe.mutation, probe.may_succeed)
                except AssertionError as exc:
                    failures.append(f"{probe.name}: not a typed error ({resp.status_code}): {exc}")
                    break
                if spent[-1] <= CPU_BUDGET + TOLERANCE:
                    break
            else:
                failures.append(
                    f"{probe.name}: {min(spent) * 1000:.0f} ms of server CPU ({wall * 1000:.0f} ms wall, answer {code})"
                )
    return failures


async def _setup(server: ProcessServer) -> tuple[str, dict[str, str]]:
    """The demo account (`parley seed-demo`): its website widget's token and its administrator's headers."""
    from parley.demo import demo_widget_token
    from tests.conftest import make_settings

    settings = make_settings(Path(server.env["PARLEY_DATA_DIR"]), secret_key=server.env["PARLEY_SECRET_KEY"])
    gql = GraphQLHTTP(server.url)
    try:
        headers = await demo_admin(gql, settings)
    finally:
        await gql.aclose()
    token = await demo_widget_token(settings)
    # Warm up each entry point once (imports, parser and validation caches).
    with httpx.Client(base_url=server.url, timeout=30) as client:
        for probe in string_probes(token, headers):
            if probe.name.endswith("/redos-email-short"):
                probe.request(client)
    return token, headers


async def test_hostile_strings_are_refused_typed_and_cheaply(hostile_server: ProcessServer):
    token, headers = await _setup(hostile_server)
    failures = run_corpus(hostile_server, string_probes(token, headers))
    assert not failures, "\n".join(failures)


async def test_hostile_bodies_and_documents_are_refused_typed_and_cheaply(hostile_server: ProcessServer):
    _token, headers = await _setup(hostile_server)
    failures = run_corpus(hostile_server, body_probes(headers))
    assert not failures, "\n".join(failures)


async def test_the_event_loop_keeps_serving_while_hostile_input_arrives(hostile_server: ProcessServer):
    """The ReDoS stalled every request; now /healthz answers at once beside a stream of crafted emails."""
    import asyncio

    token, _headers = await _setup(hostile_server)
    crafted = json.dumps(
        {"query": WIDGET_START, "variables": {"i": {"websiteToken": token, "email": "a@" + "." * 900_000 + "@"}}}
    ).encode()
    async with httpx.AsyncClient(base_url=hostile_server.url, timeout=60) as client:

        async def flood() -> None:
            for _ in range(5):
                resp = await client.post("/graphql", content=crafted, headers={"Content-Type": "application/json"})
                typed_error(resp, "widgetSessionStart", may_succeed=True)

        task = asyncio.create_task(flood())
        await asyncio.sleep(0.05)
        started = time.monotonic()
        health = await client.get("/healthz")
        waited = time.monotonic() - started
        await task
    assert health.status_code == 200
    assert waited < 2.0, f"/healthz waited {waited:.2f} s behind the crafted emails"
