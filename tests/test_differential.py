"""Differential suite: Parley's execution shortcuts (schema/execution/: documents compiled to SQL,
compiled completion) against stock graphql-core execution, over HTTP on the same server and data.
Every query field of the schema is called with a selection generated from the schema (every field without required arguments, three object levels
deep, unions and interfaces through inline fragments), by an administrator, an agent and a widget
visitor; hand-written documents add aliases, fragments, directives, variables, pagination and
errors. Each answer — data and errors — must be identical with the compiled path on (twice: the
second run uses the cached plans and statements) and off.

A new query field fails `test_every_query_field_is_compared` until it is covered here (the tenancy
walk's probe gives its arguments)."""

from __future__ import annotations

import asyncio
import contextlib
from dataclasses import dataclass, field

import pytest
from graphql import (
    GraphQLInterfaceType,
    GraphQLList,
    GraphQLNonNull,
    GraphQLObjectType,
    GraphQLUnionType,
    OperationDefinitionNode,
    parse,
    print_ast,
)
from sqlalchemy import text

from schema.execution import completion
from schema.root import schema
from tests.probes import PROBES
from tests.probes.base import Probe
from tests.support.accounts import Member, add_agent, login, signup
from tests.support.worlds import SharedWorld
from tests.test_tenancy_walk import World, make_world

pytestmark = pytest.mark.keep_tables

GQL = schema._schema
QUERY_FIELDS = sorted(GQL.query_type.fields)
DEPTH = 3
# Query fields whose answer changes between two identical calls, and why; their volatile part is
# dropped before comparing (the rest still must match).
VOLATILE = {
    "rateLimit": (("used", "remaining", "resetAt"), "each call spends the cost budget the field reports"),
    "inboxImap": (("lastPolledAt", "lastError", "lastUid"), "the mailbox poller runs between the calls"),
    "reportExport": (("downloadUrl",), "each call signs a fresh download link"),
}


def _unwrap(gtype):
    while isinstance(gtype, (GraphQLNonNull, GraphQLList)):
        gtype = gtype.of_type
    return gtype


def _required_args(fdef) -> bool:
    return any(isinstance(a.type, GraphQLNonNull) and a.default_value is None for a in fdef.args.values())


def selection(gtype, depth: int = DEPTH) -> str:
    """Every field of `gtype` that needs no argument, objects `depth` levels deep."""
    gtype = _unwrap(gtype)
    if isinstance(gtype, (GraphQLUnionType, GraphQLInterfaceType)):
        parts = ["__typename"]
        for possible in GQL.get_possible_types(gtype):
            inner = selection(possible, depth)
            if inner:
                parts.append(f"... on {possible.name} {inner}")
        return "{ " + " ".join(parts) + " }"
    if not isinstance(gtype, GraphQLObjectType):
        return ""
    parts = ["__typename"]
    for name, fdef in gtype.fields.items():
        if _required_args(fdef):
            continue
        inner_type = _unwrap(fdef.type)
        if isinstance(inner_type, (GraphQLObjectType, GraphQLUnionType, GraphQLInterfaceType)):
            if depth > 1:
                parts.append(f"{name} {selection(inner_type, depth - 1)}")
        else:
            parts.append(name)
    return "{ " + " ".join(parts) + " }"


def document_for(name: str, probe_document: str | None) -> str:
    """The probe's call of the root field (its arguments and variables) with the full selection."""
    sub = selection(GQL.query_type.fields[name].type)
    if probe_document is None:
        return "{ " + name + (" " + sub if sub else "") + " }"
    doc = parse(probe_document)
    op = next(d for d in doc.definitions if isinstance(d, OperationDefinitionNode))
    root = next(s for s in op.selection_set.selections if s.name.value == name)  # type: ignore[attr-defined]
    var_defs = ", ".join(print_ast(v) for v in op.variable_definitions or ())
    args = ", ".join(print_ast(a) for a in root.arguments or ())  # type: ignore[attr-defined]
    head = f"query({var_defs})" if var_defs else "query"
    return f"{head} {{ {name}{f'({args})' if args else ''} {sub} }}"


@dataclass
class Differential(World):
    agent_b: Member | None = None
    visitor: dict = field(default_factory=dict)
    website_token: str = ""
    visitor_conversation: str = ""
    super_admin: dict = field(default_factory=dict)  # headers of an installation super admin


async def build(gql, smtp, db_engine) -> Differential:
    base = await make_world(gql, smtp)
    w = Differential(base.admin_a, base.agent_a, base.admin_b, base.b)
    w.agent_b = await add_agent(gql, w.admin_b, smtp)
    h = w.admin_b.headers()
    inboxes = await gql.data("{ inboxes { id websiteToken } }", headers=h)
    w.website_token = next(i["websiteToken"] for i in inboxes["inboxes"] if i["websiteToken"])
    started = await gql.data(
        "mutation($w: String!) { widgetSessionStart(input: {websiteToken: $w}) { token } }", {"w": w.website_token}
    )
    w.visitor = {"Authorization": f"Bearer {started['widgetSessionStart']['token']}"}
    sent = await gql.data(
        'mutation { widgetMessageCreate(input: {content: "Hello <b>there</b> 🦓"}) { conversation { id } } }',
        headers=w.visitor,
    )
    w.visitor_conversation = sent["widgetMessageCreate"]["conversation"]["id"]
    # An installation super admin (the `installation` field answers only them): made by hand, then
    # signed in afresh, so no credential of theirs was cached before the grant.
    root = await signup(gql, account="Operator")
    async with db_engine.begin() as conn:
        await conn.execute(text("UPDATE users SET is_super_admin = true WHERE email = :e"), {"e": root.email})
    w.super_admin = {"Authorization": f"Bearer {(await login(gql, root.email))['tokens']['accessToken']}"}
    # The report export is built by a job: wait for it, so that two calls see the same export.
    for _ in range(100):
        done = await gql.data(
            "query($id: ID!) { reportExport(id: $id) { status } }", {"id": w.b["report_export"]}, headers=h
        )
        if done["reportExport"]["status"] not in ("PENDING", "RUNNING"):
            break
        await asyncio.sleep(0.1)
    return w


WORLD: SharedWorld[Differential] = SharedWorld()


FAST_PATHS = ("compiled_completion", "fast_reads")  # every shortcut of schema/execution/, on or off


@contextlib.contextmanager
def compiled(server, on: bool):
    before = {name: getattr(server.settings, name) for name in FAST_PATHS}
    for name in FAST_PATHS:
        setattr(server.settings, name, on)
    try:
        yield
    finally:
        for name, value in before.items():
            setattr(server.settings, name, value)


def _drop_volatile(body: dict, name: str) -> dict:
    # Every answer reports the cost budget it leaves, which each call spends.
    cost = (body.get("extensions") or {}).get("cost")
    if isinstance(cost, dict):
        cost.pop("budget", None)
    if name in VOLATILE and isinstance(body.get("data"), dict) and isinstance(body["data"].get(name), dict):
        for key in VOLATILE[name][0]:
            body["data"][name].pop(key, None)
    return body


async def compare(gql, server, document: str, variables: dict | None, headers: dict, name: str = "") -> dict:
    """The answer with the compiled path on (twice) and off; fails unless all three are the same."""
    answers = []
    for on in (True, False, True):
        with compiled(server, on):
            resp = await gql.post(document, variables, headers=headers)
        answers.append((resp.status_code, _drop_volatile(resp.json(), name)))
    assert answers[0] == answers[1], f"compiled != stock for\n{document}\n{answers[0]}\n{answers[1]}"
    assert answers[2] == answers[1], f"cached plan != stock for\n{document}"
    return answers[0][1]


def _probe(name: str) -> Probe | None:
    probe = PROBES.get(name)
    return probe if isinstance(probe, Probe) else None


def _call(name: str, w: Differential) -> tuple[str, dict, list[dict]]:
    """(document, variables, the callers' headers) for one query field."""
    probe = _probe(name)
    if name == "widgetConfig":
        return (
            document_for(name, "query($w: String!) { widgetConfig(websiteToken: $w) { __typename } }"),
            {"w": w.website_token},
            [{}],
        )
    if name.startswith("widget"):
        variables = {"c": w.visitor_conversation} if name == "widgetMessages" else {}
        return document_for(name, probe.document if probe else None), variables, [w.visitor]
    document = document_for(name, probe.document if probe else None)
    variables = probe.variables(w) if probe else {}
    assert w.agent_b is not None
    if name == "installation":
        return document, variables, [w.super_admin, w.admin_b.headers()]
    return document, variables, [w.admin_b.headers(), w.agent_b.headers()]


def test_every_query_field_is_compared():
    uncovered = [n for n in QUERY_FIELDS if n != "widgetConfig" and _probe(n) is None and _required_args_root(n)]
    assert not uncovered, f"query fields the differential suite cannot call yet: {uncovered}"


def _required_args_root(name: str) -> bool:
    return _required_args(GQL.query_type.fields[name])


@pytest.mark.parametrize("name", QUERY_FIELDS)
async def test_query_field_answers_the_same_compiled_and_stock(name, gql, server, smtp, tables, db_engine):
    w = await WORLD.get(tables, lambda: build(gql, smtp, db_engine))
    document, variables, callers = _call(name, w)
    answered = []
    for headers in callers:
        body = await compare(gql, server, document, variables, headers, name)
        answered.append(not body.get("errors") and (body.get("data") or {}).get(name) is not None)
    # The first caller (the account's administrator, or the widget's visitor) gets an answer: a
    # comparison of two identical refusals would say nothing about completion.
    assert answered[0], f"{name}: no data for the first caller"


CONVERSATION = """fragment Who on User { id name email availability }
fragment Row on Conversation {
  id displayId status priority lastActivityAt createdAt customAttributes additionalAttributes
  assignee { ...Who } contact { id name email phoneNumber } inbox { id name channelType }
  labels { title color } lastMessage { id content messageType private createdAt } unreadCount
}"""

HAND_WRITTEN = [
    # the dashboard list, with fragments and aliases at every level
    (
        CONVERSATION
        + """
query($first: Int, $after: String) {
  list: conversations(first: $first, after: $after) {
    pageInfo { hasNextPage endCursor }
    edges { cursor item: node { ...Row t: __typename } }
  }
  __typename
}""",
        {"first": 2},
    ),
    (CONVERSATION + "\nquery { conversations(first: 0) { edges { node { ...Row } } } }", None),
    (CONVERSATION + "\nquery { conversations(first: 500) { edges { node { ...Row } } } }", None),
    # directives driven by variables, both ways
    (
        """query($yes: Boolean!, $no: Boolean!) { conversations(first: 5) { edges { node {
        id status @include(if: $yes) priority @skip(if: $yes) contact @include(if: $no) { name }
        ... on Conversation @skip(if: $no) { displayId labels { title } } } } } }""",
        {"yes": True, "no": False},
    ),
    (
        """query($yes: Boolean!, $no: Boolean!) { conversations(first: 5) { edges { node {
        id status @include(if: $yes) priority @skip(if: $yes) contact @include(if: $no) { name }
        ... on Conversation @skip(if: $no) { displayId labels { title } } } } } }""",
        {"yes": False, "no": True},
    ),
    # every sort and status filter
    *[
        (f"{{ conversations(sort: {sort}, first: 10) {{ edges {{ cursor node {{ id status priority }} }} }} }}", None)
        for sort in ("LAST_ACTIVITY", "CREATED_AT", "PRIORITY")
    ],
    *[
        (f"{{ conversations(filter: {{status: {s}}}) {{ edges {{ node {{ id status }} }} }} }}", None)
        for s in ("OPEN", "PENDING", "RESOLVED", "SNOOZED")
    ],
    # errors: a bad cursor, a bad ID, a required variable missing, a wrong variable type
    ('{ conversations(after: "nonsense") { edges { node { id } } } }', None),
    ('{ conversation(id: "Q29udmVyc2F0aW9uOjk5OTk5OTk=") { id } }', None),
    ('{ conversation(id: "not-an-id") { id displayId } }', None),
    ("query($id: ID!) { conversation(id: $id) { id } }", {}),
    ("query($n: Int) { conversations(first: $n) { edges { node { id } } } }", {"n": "many"}),
    ("query($n: Int) { conversations(first: $n) { edges { node { id } } } }", {"n": 2**40}),
    # the root's own __typename and introspection of a type
    ('{ __typename __type(name: "Conversation") { name fields { name type { name kind } } } }', None),
    # the same object reached twice under different aliases with different selections
    ("{ a: me { user { id } } b: me { user { name email } } }", None),
]


@pytest.mark.parametrize("index", range(len(HAND_WRITTEN)))
async def test_hand_written_documents_answer_the_same(index, gql, server, smtp, tables, db_engine):
    w = await WORLD.get(tables, lambda: build(gql, smtp, db_engine))
    document, variables = HAND_WRITTEN[index]
    assert w.agent_b is not None
    for headers in (w.admin_b.headers(), w.agent_b.headers(), w.admin_a.headers()):
        await compare(gql, server, document, variables, headers)


async def test_pages_of_the_dashboard_list_chain_the_same(gql, server, smtp, tables, db_engine):
    w = await WORLD.get(tables, lambda: build(gql, smtp, db_engine))
    document = "query($after: String) { conversations(first: 1, after: $after) { pageInfo { hasNextPage endCursor } edges { node { id } } } }"
    after, pages = None, 0
    while True:
        body = await compare(gql, server, document, {"after": after}, w.admin_b.headers())
        page = body["data"]["conversations"]
        pages += 1
        if not page["pageInfo"]["hasNextPage"]:
            break
        after = page["pageInfo"]["endCursor"]
    assert pages >= 2, "the world needs more than one conversation for this test to mean anything"


async def test_the_compiled_path_is_what_answers(gql, server, smtp, tables, db_engine):
    """The comparisons above would pass if the compiled path never ran: it does, for plain parts."""
    w = await WORLD.get(tables, lambda: build(gql, smtp, db_engine))
    # (The dashboard's conversation documents are compiled to SQL instead: tests/test_fast_reads.py.)
    document = "{ labels { id title description color } }"
    completion._PLAN_CACHE.clear()
    with compiled(server, False):
        await gql.data(document, headers=w.admin_b.headers())
    assert not completion._PLAN_CACHE
    with compiled(server, True):
        await gql.data(document, headers=w.admin_b.headers())
    sources = [getattr(plan, "__source__", "") for _, plan in completion._PLAN_CACHE.values()]
    sources += [getattr(getattr(plan, "plain", None), "__source__", "") for _, plan in completion._PLAN_CACHE.values()]
    assert any("'title'" in s and "'color'" in s for s in sources), sources
