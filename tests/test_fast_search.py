"""The compiled `search` (resolvers/fast_reads.py, served by the view's fast lane) against stock
execution: the same documents and callers with PARLEY_FAST_READS on and off give byte-for-byte the
same JSON (data and errors) for words, stems, phrases, negation, partial words (the SQL snippet),
short terms, displayIds, contacts, pages and bad arguments; and a search costs one data statement."""

from __future__ import annotations

from bench.product.scenarios import GLOBAL_SEARCH
from parley import fast_lane
from tests.support.accounts import Member
from tests.support.desk import ERR, build_desk
from tests.test_fast_reads import ALL_CONVERSATION, ALL_MESSAGE, fast_reads, seed
from tests.test_query_counts import count_statements

FULL = f"""query($q: String!, $first: Int, $after: String) {{ __typename
  found: search(query: $q, first: $first, after: $after) {{ __typename
    conversations {{ {ALL_CONVERSATION} }}
    messages {{ __typename snippet s2: snippet message {{ {ALL_MESSAGE} }} conversation {{ id displayId contact {{ name }} }} }}
    contacts {{ __typename id name email phoneNumber identifier additionalAttributes customAttributes contactType
      blocked lastActivityAt createdAt }}
    endCursor hasNextPage }} }}"""
PARTS = """query($q: String!) { search(query: $q, first: 2) { hasNextPage messages { snippet } } }"""
ONLY_CURSOR = """query($q: String!, $after: String) { search(query: $q, first: 1, after: $after) { endCursor } }"""
TWICE = """query($q: String!) { a: search(query: $q, first: 1) { contacts { id } }
  b: search(query: $q, first: 3) { conversations { id } } conversations(first: 2) { nodes { id } } }"""
NOTE = f"""mutation($c: ID!, $t: String!) {{
  messageCreate(input: {{conversationId: $c, content: $t, private: true}}) {{ message {{ id }} {ERR} }} }}"""
REPLY = f"""mutation($c: ID!, $t: String!) {{
  messageCreate(input: {{conversationId: $c, content: $t}}) {{ message {{ id }} {ERR} }} }}"""

TERMS = [
    "order",
    "orders",
    "late",
    "reply",
    '"order 3"',
    '"late order"',
    "order -late",
    "rde",  # a partial word: the trigram path, the plain snippet
    "RDE",
    "zür",
    "ünchen",
    "refund",
    "password reset",
    "100%",
    "e_t",
    "o'clock",
    "'",
    "a & b | !c",
    "ca",
    "ot",
    "1",
    "#2",
    "Otto",
    "otto@example",
    "carla customer",
    "zzzz",
    "x" * 200,
]


async def test_search_compiled_answers_exactly_as_stock_execution(gql, smtp, server, redis_client):
    desk = await build_desk(gql, smtp)
    s = await seed(gql, smtp, desk)
    c = s["ids"]
    long_text = "Intro words " * 12 + "then the refund for the Zürich order arrives " + "and more words " * 12
    for cid, text, note in (
        (c[0], "Customer in München wants a refund, the password reset mail never came", False),
        (c[1], "Internal: refund approved for order 3 (private)", True),
        (c[2], long_text, False),
        (c[3], "Price 100% off, code pre_thanks, o'clock (today) a:b", False),
        (c[4], "the order is late again", False),
    ):
        out = await desk.data(desk.admin, NOTE if note else REPLY, {"c": cid, "t": text})
        assert out["messageCreate"]["errors"] == [], out
    callers: dict[str, Member | None] = {
        "admin": desk.admin,
        "agent": desk.agent,
        "outsider": desk.outsider,
        "restricted": s["restricted"],
        "no conversation permission": s["reports"],
        "other account": s["other"],
        "anonymous": None,
    }
    lane = fast_lane.stats["served"]
    found = 0

    async def run(who: Member | None, doc: str, variables: dict) -> dict:
        body = await gql.execute(doc, variables, headers=who.headers() if who else {})
        body.get("extensions", {}).get("cost", {}).pop("budget", None)
        return body

    cases: list[tuple[str, dict]] = [(FULL, {"q": q, "first": 5}) for q in TERMS]
    cases += [
        (GLOBAL_SEARCH, {"query": "order", "first": 10}),
        (GLOBAL_SEARCH, {"query": "ma", "first": 10}),
        (FULL, {"q": "order", "first": 0}),
        (FULL, {"q": "order", "first": 1}),
        (FULL, {"q": "order", "first": 2, "after": "YzoyIg"}),
        (FULL, {"q": "order", "first": 2, "after": "YzoyMDAwMA"}),  # past 10,000
        (FULL, {"q": "order", "first": 26}),
        (FULL, {"q": "order", "first": -1}),
        (FULL, {"q": "order", "after": "bad"}),
        (FULL, {"q": "   "}),
        (FULL, {"q": "x" * 201}),
        (PARTS, {"q": "order"}),
        ('{ search(query: "order") { m: messages { snippet } n: messages { message { id } } } }', {}),
        (TWICE, {"q": "o"}),
        ('{ search(query: "order") { messages { message { attachments { id } } } } }', {}),
    ]
    after = None
    for _ in range(4):  # pages of one section after another
        cases.append((ONLY_CURSOR, {"q": "order", "after": after}))
        with fast_reads(server, False):
            page = await run(desk.admin, ONLY_CURSOR, {"q": "order", "after": after})
        after = page["data"]["search"]["endCursor"]
        if after is None:
            break
    for doc, variables in cases:
        # Each case runs twice per caller; all of them together cost the administrator more than
        # an hour's query budget (a refusal here would compare two 429s, not the two paths).
        async for key in redis_client.scan_iter(match="parley:cost:*"):
            await redis_client.delete(key)
        for name, who in callers.items():
            with fast_reads(server, False):
                stock = await run(who, doc, variables)
            with fast_reads(server, True):
                fast = await run(who, doc, variables)
            assert fast == stock, (name, doc, variables)
            result = (fast.get("data") or {}).get("found") or {}
            found += bool(result.get("messages") or result.get("conversations") or result.get("contacts"))
    assert found >= 40, found
    # partial words got their snippet from the SQL twin of plain_snippet
    with fast_reads(server, True):
        partial = await run(desk.admin, FULL, {"q": "rde", "first": 5})
    assert any("o<mark>rde</mark>r" in h["snippet"] for h in partial["data"]["found"]["messages"]), partial
    assert fast_lane.stats["served"] - lane >= 100, fast_lane.stats


async def test_a_search_costs_one_data_statement(gql, smtp, server):
    desk = await build_desk(gql, smtp)
    await seed(gql, smtp, desk)
    engine = server.app.state.services.engine
    variables = {"query": "order", "first": 10}
    await desk.data(desk.agent, "{ me { user { id } } }")  # the actor's token is now known
    with fast_reads(server, False), count_statements(engine) as stock:
        stock_body = await desk.data(desk.agent, GLOBAL_SEARCH, variables)
    with fast_reads(server, True), count_statements(engine) as fast:
        assert await desk.data(desk.agent, GLOBAL_SEARCH, variables) == stock_body
    assert len(stock_body["search"]["messages"]) >= 5
    compiled = [st for st in fast if "json_build_object" in st]
    auth = [st for st in fast if st not in compiled]
    assert len(compiled) == 1 and all("user_sessions" in st or "account_memberships" in st for st in auth), fast
    assert auth == [] and len(stock) == 3, stock  # conversations, messages, contacts
