"""The compiled read path (resolvers/fast_reads.py) against stock execution: the same documents, the
same callers, with PARLEY_FAST_READS on and off, must give byte-for-byte the same JSON (data and
errors); and the dashboard document costs one data statement."""

from __future__ import annotations

import contextlib
import hashlib
from collections.abc import Iterator

from bench.product.scenarios import CONVERSATION, DASHBOARD, FILTERED
from parley import fast_lane
from tests.support.accounts import Member, add_agent, signup
from tests.support.desk import ERR, Desk, build_desk
from tests.test_query_counts import count_statements

ALL_MESSAGE = """id __typename content messageType private senderType contentAttributes createdAt editedAt deletedAt
  senderUser { id name displayName email availability emailVerified } senderContact { id name email }"""
ALL_CONVERSATION = f"""id __typename displayId status priority snoozedUntil lastActivityAt waitingSince
  firstReplyCreatedAt agentLastSeenAt customAttributes additionalAttributes createdAt unreadCount
  inbox {{ id name channelType websiteToken apiIdentifier hmacMandatory greetingEnabled greetingMessage
    outOfOfficeMessage workingHoursEnabled timezone enableAutoAssignment }}
  contact {{ id name email phoneNumber identifier additionalAttributes customAttributes contactType blocked
    lastActivityAt createdAt }}
  assignee {{ id name displayName email availability emailVerified }}
  team {{ id name description allowAutoAssign createdAt }}
  labels {{ id title description color showOnSidebar createdAt }}
  lastMessage {{ {ALL_MESSAGE} }}"""
LIST_ALL = f"""query($first: Int, $after: String, $sort: ConversationSort, $filter: ConversationFilterInput) {{
  conversations(first: $first, after: $after, sort: $sort, filter: $filter) {{
    __typename
    edges {{ __typename cursor node {{ {ALL_CONVERSATION} }} }}
    pageInfo {{ __typename hasNextPage hasPreviousPage startCursor endCursor }}
  }} }}"""
ONE_ALL = f"""query($id: ID, $displayId: Int, $first: Int, $before: String) {{
  conversation(id: $id, displayId: $displayId) {{ {ALL_CONVERSATION}
    messages(first: $first, before: $before) {{ edges {{ cursor node {{ {ALL_MESSAGE} }} }} nodes {{ id }}
      pageInfo {{ hasNextPage hasPreviousPage startCursor endCursor }} }} }} }}"""
SHAPES = """query Shapes($withLabels: Boolean!, $skipContact: Boolean = false, $n: Int = 3, $s: ConversationStatus = OPEN) {
  __typename
  open: conversations(first: $n, filter: {status: $s}) { ...Page }
  everything: conversations(first: 50) {
    nodes { ... on Conversation { displayId } ...Who id @include(if: $withLabels) labels @include(if: $withLabels) { t: title } }
    nodes { contact { email } }
  }
}
fragment Page on ConversationConnection { edges { c: cursor n: node { ...Who k: status } } pageInfo { more: hasNextPage } }
fragment Who on Conversation { contact @skip(if: $skipContact) { name __typename } assignee { email } }"""
MIXED = "{ me { user { email } } conversations(first: 2) { nodes { displayId } } }"
BOTH = """query($id: ID!) { conversation(id: $id) { displayId messages(first: 1) { nodes { content } } }
  conversations(first: 3) { nodes { displayId } } }"""


@contextlib.contextmanager
def fast_reads(server, on: bool) -> Iterator[None]:
    settings = server.app.state.services.settings
    before = settings.fast_reads
    settings.fast_reads = on
    try:
        yield
    finally:
        settings.fast_reads = before


async def seed(gql, smtp, desk: Desk) -> dict:
    admin = desk.admin
    for title in ("billing", "vip"):
        await desk.data(admin, f'mutation {{ labelCreate(input: {{title: "{title}"}}) {{ {ERR} }} }}')
    team = await desk.data(admin, f'mutation {{ teamCreate(input: {{name: "Tier 1"}}) {{ team {{ id }} {ERR} }} }}')
    team_id = team["teamCreate"]["team"]["id"]
    role = await desk.data(
        admin,
        'mutation { customRoleCreate(input: {name: "Mine", permissions: [CONVERSATION_PARTICIPATING_MANAGE]}) '
        "{ customRole { id } } }",
    )
    restricted = await add_agent(gql, admin, smtp, custom_role_id=role["customRoleCreate"]["customRole"]["id"])
    restricted_id = (await desk.data(restricted, "{ me { user { id } } }"))["me"]["user"]["id"]
    members = [desk.user_ids["agent"], restricted_id]
    roles = {}
    for name, permissions in (("unassigned", "[CONVERSATION_UNASSIGNED_MANAGE]"), ("reports", "[REPORT_MANAGE]")):
        made = await desk.data(
            admin,
            f'mutation {{ customRoleCreate(input: {{name: "{name}", permissions: {permissions}}}) {{ customRole {{ id }} }} }}',
        )
        roles[name] = await add_agent(gql, admin, smtp, custom_role_id=made["customRoleCreate"]["customRole"]["id"])
        members.append((await desk.data(roles[name], "{ me { user { id } } }"))["me"]["user"]["id"])
    await desk.data(
        admin,
        "mutation($i: ID!, $u: [ID!]!) { inboxMembersSet(id: $i, userIds: $u) { errors { code } } }",
        {"i": desk.inbox_id, "u": members},
    )
    other_contact = await desk.data(
        admin,
        f'mutation {{ contactCreate(input: {{name: "Otto", email: "otto@example.test"}}) {{ contact {{ id }} {ERR} }} }}',
    )
    conversations = []
    for i in range(7):
        contact = other_contact["contactCreate"]["contact"]["id"] if i % 3 == 2 else None
        conversations.append(await desk.new_conversation(f"order {i} is late", contact_id=contact))
    c = [x["id"] for x in conversations]
    for cid, who in ((c[0], desk.user_ids["agent"]), (c[1], desk.user_ids["agent"]), (c[2], restricted_id)):
        await desk.data(
            admin,
            "mutation($id: ID!, $a: ID) { conversationAssign(id: $id, input: {assigneeId: $a}) { errors { code } } }",
            {"id": cid, "a": who},
        )
    await desk.data(
        admin,
        "mutation($id: ID!, $t: ID) { conversationAssign(id: $id, input: {teamId: $t}) { errors { code } } }",
        {"id": c[1], "t": team_id},
    )
    for cid, labels in ((c[0], ["billing", "vip"]), (c[3], ["vip"])):
        await desk.data(
            admin,
            "mutation($id: ID!, $a: [String!]!) { conversationLabelsUpdate(id: $id, input: {add: $a, remove: []}) { errors { code } } }",
            {"id": cid, "a": labels},
        )
    for cid, p in ((c[0], "URGENT"), (c[3], "LOW"), (c[4], "HIGH")):
        await desk.data(
            admin,
            "mutation($id: ID!, $p: Priority) { conversationPriorityUpdate(id: $id, priority: $p) { errors { code } } }",
            {"id": cid, "p": p},
        )
    for cid, s in ((c[5], "RESOLVED"), (c[6], "PENDING")):
        await desk.data(
            admin,
            "mutation($id: ID!, $s: ConversationStatus!) { conversationStatusUpdate(id: $id, input: {status: $s}) { errors { code } } }",
            {"id": cid, "s": s},
        )
    for n in range(4):
        await desk.data(
            desk.agent,
            "mutation($c: ID!, $t: String!) { messageCreate(input: {conversationId: $c, content: $t}) { errors { code } } }",
            {"c": c[0], "t": f"reply {n}"},
        )
    await desk.incoming(c[0], "thanks")
    await desk.data(
        desk.agent, "mutation($id: ID!) { conversationMarkRead(id: $id) { errors { code } } }", {"id": c[1]}
    )
    other = await signup(gql, account="Elsewhere")
    return {"ids": c, "restricted": restricted, "other": other, "team": team_id, **roles}


def documents(desk: Desk, s: dict) -> list[tuple[str, dict]]:
    c = s["ids"]
    docs: list[tuple[str, dict]] = [
        (DASHBOARD, {"status": "OPEN", "first": 25}),
        (DASHBOARD, {"status": "RESOLVED", "first": 25}),
        (DASHBOARD, {"status": "OPEN", "first": 2}),
        (DASHBOARD, {"status": "OPEN"}),  # a missing required variable
        (CONVERSATION, {"id": c[0], "first": 50}),
        (LIST_ALL, {}),
        (LIST_ALL, {"first": 0}),
        (LIST_ALL, {"first": 101}),
        (LIST_ALL, {"first": -1}),
        (LIST_ALL, {"after": "not a cursor"}),
        (LIST_ALL, {"after": "Yzp4fDE"}),
        (SHAPES, {"withLabels": True}),
        (SHAPES, {"withLabels": False, "skipContact": True, "n": 1, "s": "PENDING"}),
        (SHAPES, {}),
        (MIXED, {}),
        (BOTH, {"id": c[0]}),
        ("{ __typename }", {}),
        ("{ conversations { totalCount } }", {}),
        # Fields the compiler does not map: the whole document runs the stock way.
        ("{ conversations { nodes { inbox { hmacToken channelConfig workingHours { dayOfWeek } } } } }", {}),
        ("{ conversations { nodes { inbox { members { email } } team { members { email } } } } }", {}),
        ("query($id: ID!) { conversation(id: $id) { messages { nodes { attachments { id } } } } }", {"id": c[0]}),
        ("{ conversationCounts { open } conversations { nodes { id } } }", {}),
        ("query { ...Q } fragment Q on Query { conversations(first: 1) { nodes { displayId } } }", {}),
        ("query($s: ConversationSort!) { conversations(sort: $s) { edges { cursor } } }", {"s": "PRIORITY"}),
        ("query($s: ConversationSort!) { conversations(sort: $s) { edges { cursor } } }", {"s": "NOPE"}),
        (ONE_ALL, {"id": c[0], "first": 2}),
        (ONE_ALL, {"id": c[0], "first": 2, "before": "YzoxMDAwMDAw"}),
        (ONE_ALL, {"id": c[0], "before": "bad"}),
        (ONE_ALL, {"displayId": 1}),
        (ONE_ALL, {"displayId": 999}),
        (ONE_ALL, {"id": "nonsense"}),
        (ONE_ALL, {}),
        (ONE_ALL, {"id": c[5], "first": 0}),
    ]
    filters = [{"status": st} for st in ("OPEN", "PENDING", "RESOLVED", "SNOOZED")] + [
        {"inboxId": desk.inbox_id},
        {"inboxId": "bad"},
        {"assignee": "me"},
        {"assignee": "unassigned"},
        {"assignee": "assigned"},
        {"assignee": "bogus"},
        {"assigneeId": desk.user_ids["agent"]},
        {"teamId": s["team"]},
        {"label": "billing"},
        {"label": " VIP "},
        {"label": "nothing"},
        {"priority": "URGENT"},
        {"contactId": desk.contact_id},
        {"search": "late"},
        {"search": "x"},
        {"status": "OPEN", "label": "vip", "assignee": "unassigned"},
    ]
    docs += [(LIST_ALL, {"filter": f}) for f in filters]
    return docs


async def test_compiled_reads_answer_exactly_as_stock_execution(gql, smtp, server):
    desk = await build_desk(gql, smtp)
    s = await seed(gql, smtp, desk)
    callers: dict[str, Member | None] = {
        "admin": desk.admin,
        "agent": desk.agent,
        "outsider": desk.outsider,
        "restricted": s["restricted"],  # conversations assigned to them or that they take part in
        "unassigned manager": s["unassigned"],  # the inbox's unassigned ones and their own
        "no conversation permission": s["reports"],
        "other account": s["other"],
        "anonymous": None,
    }
    engine = server.app.state.services.engine
    compiled = 0
    lane = fast_lane.stats["served"]
    seen: dict[str, int | None] = {}

    async def run(who: Member | None, doc: str, variables: dict) -> dict:
        body = await gql.execute(doc, variables, headers=who.headers() if who else {})
        # The caller's cost budget counts every request: what it has used differs between the runs.
        body.get("extensions", {}).get("cost", {}).pop("budget", None)
        return body

    for doc, variables in documents(desk, s):
        for name, who in callers.items():
            with fast_reads(server, False):
                stock = await run(who, doc, variables)
            with fast_reads(server, True), count_statements(engine) as statements:
                fast = await run(who, doc, variables)
            assert fast == stock, (name, doc, variables)
            compiled += any("json_build_object" in st for st in statements)
            if doc == DASHBOARD and variables == {"status": "OPEN", "first": 25}:
                seen[name] = len(fast["data"]["conversations"]["nodes"]) if fast["data"] else None
    # Each caller saw what its role allows (so the comparisons above were not all of empty lists).
    assert seen == {
        "admin": 5,
        "agent": 5,
        "outsider": 0,
        "restricted": 1,
        "unassigned manager": 2,
        "no conversation permission": 0,
        "other account": 0,
        "anonymous": None,
    }, seen
    assert compiled >= 150, compiled
    # The view's fast lane (parley/fast_lane.py) answered the conversation lists of those runs.
    assert fast_lane.stats["served"] - lane >= 50, fast_lane.stats

    # Keyset pagination over several pages, for every sort.
    for sort in ("LAST_ACTIVITY", "CREATED", "WAITING_SINCE", "PRIORITY"):
        for who in (desk.admin, desk.agent):
            after, seen = None, []
            for _ in range(10):
                variables = {"first": 2, "after": after, "sort": sort}
                with fast_reads(server, False):
                    stock = await run(who, LIST_ALL, variables)
                with fast_reads(server, True):
                    fast = await run(who, LIST_ALL, variables)
                assert fast == stock, (sort, variables)
                page = fast["data"]["conversations"]
                seen += [e["node"]["id"] for e in page["edges"]]
                if not page["pageInfo"]["hasNextPage"]:
                    break
                after = page["pageInfo"]["endCursor"]
            assert len(seen) == len(set(seen)) and len(seen) >= 2, (sort, seen)

    # Messages, paged backwards.
    before = None
    for _ in range(5):
        variables = {"id": s["ids"][0], "first": 2, "before": before}
        with fast_reads(server, False):
            stock = await run(desk.agent, ONE_ALL, variables)
        with fast_reads(server, True):
            fast = await run(desk.agent, ONE_ALL, variables)
        assert fast == stock, variables
        info = fast["data"]["conversation"]["messages"]["pageInfo"]
        if not info["hasNextPage"]:
            break
        before = info["endCursor"]
    assert before is not None


async def test_the_dashboard_costs_one_data_statement(gql, smtp, server):
    desk = await build_desk(gql, smtp)
    await seed(gql, smtp, desk)
    engine = server.app.state.services.engine
    variables = {"status": "OPEN", "first": 25}
    await desk.data(desk.agent, DASHBOARD, variables)  # the actor's token is now known
    with fast_reads(server, True), count_statements(engine) as fast:
        body = await desk.data(desk.agent, DASHBOARD, variables)
    with fast_reads(server, False), count_statements(engine) as stock:
        assert await desk.data(desk.agent, DASHBOARD, variables) == body
    assert len(body["conversations"]["nodes"]) == 5
    compiled = [st for st in fast if "json_build_object" in st]
    # The rest is authentication (the session and the membership), the same in both runs.
    auth = [st for st in fast if st not in compiled]
    assert len(compiled) == 1 and all("user_sessions" in st or "account_memberships" in st for st in auth), fast
    assert stock[: len(auth)] == auth and len(stock) - len(auth) == 5, (
        stock
    )  # list, contact, assignee, labels, last message


async def test_the_fast_lane_answers_persisted_dashboards_as_stock_execution(gql, smtp, server):
    desk = await build_desk(gql, smtp)
    await seed(gql, smtp, desk)
    variables = {"status": "OPEN", "first": 25}
    sha = hashlib.sha256(DASHBOARD.encode()).hexdigest()
    pq = {"persistedQuery": {"version": 1, "sha256Hash": sha}}
    registered = await gql.execute(DASHBOARD, variables, headers=desk.agent.headers(), extensions=pq)
    assert not registered.get("errors"), registered
    answers = []
    for on in (False, True):
        with fast_reads(server, on):
            before = fast_lane.stats["served"]
            resp = await gql.client.post(
                "/graphql", json={"variables": variables, "extensions": pq}, headers=desk.agent.headers()
            )
            assert resp.status_code == 200 and resp.headers["cache-control"] == "no-store", resp
            assert fast_lane.stats["served"] - before == (1 if on else 0)
            body = resp.json()
            body["extensions"]["cost"].pop("budget")
            answers.append(body)
    assert answers[0] == answers[1] and len(answers[1]["data"]["conversations"]["nodes"]) == 5


def cond(key: str, op: str, *values: str, q: str | None = None) -> dict:
    return {"attributeKey": key, "filterOperator": op, "values": list(values), "queryOperator": q}


async def filtered_world(gql, smtp, desk: Desk) -> dict:
    s = await seed(gql, smtp, desk)
    c = s["ids"]
    for key, kind, extra in (
        ("plan", "TEXT", {}),
        ("seats", "NUMBER", {}),
        ("renewal", "DATE", {}),
        ("tier", "LIST", {"listValues": ["gold", "silver"]}),
        ("vip", "CHECKBOX", {}),
        ("site", "LINK", {}),
    ):
        made = await desk.data(
            desk.admin,
            "mutation($input: CustomAttributeDefinitionCreateInput!) { customAttributeDefinitionCreate(input: $input) "
            f"{{ {ERR} }} }}",
            {"input": {"model": "CONVERSATION", "key": key, "displayName": key, "displayType": kind, **extra}},
        )
        assert made["customAttributeDefinitionCreate"]["errors"] == []
    values = {
        c[0]: {"plan": "100% pro_plan", "seats": 5, "renewal": "2026-01-10", "tier": "gold", "vip": True},
        c[1]: {"plan": "O'Brien \\ Zürich", "seats": 50, "renewal": "2020-06-01", "tier": "silver", "vip": False},
        c[3]: {"plan": "basic", "seats": 7, "site": "https://a.example", "tier": "gold"},
    }
    for cid, v in values.items():
        out = await desk.data(
            desk.admin,
            f"mutation($id: ID!, $v: JSON!) {{ conversationCustomAttributesUpdate(id: $id, values: $v) {{ {ERR} }} }}",
            {"id": cid, "v": v},
        )
        assert out["conversationCustomAttributesUpdate"]["errors"] == []
    return s


def filtered_documents(desk: Desk, s: dict) -> list[dict]:
    """Condition sets: every operator of every kind, standard and custom, chains, and bad input."""
    agent = desk.user_ids["agent"]
    sets = [
        [cond("plan", "contains", "%")],
        [cond("plan", "contains", "zür")],
        [cond("plan", "does_not_contain", "'")],
        [cond("plan", "starts_with", "100%")],
        [cond("plan", "equal_to", "BASIC", "100% pro_plan")],
        [cond("plan", "not_equal_to", "basic")],
        [cond("plan", "is_present")],
        [cond("plan", "is_not_present")],
        [cond("site", "starts_with", "https://")],
        [cond("seats", "is_greater_than", "6")],
        [cond("seats", "is_less_than", "6")],
        [cond("seats", "equal_to", "5", "50")],
        [cond("seats", "not_equal_to", "5")],
        [cond("renewal", "is_greater_than", "2025-12-31")],
        [cond("renewal", "is_less_than", "2025-12-31")],
        [cond("renewal", "equal_to", "2020-06-01")],
        [cond("renewal", "days_before", "365")],
        [cond("tier", "equal_to", "gold")],
        [cond("tier", "not_equal_to", "gold")],
        [cond("vip", "equal_to", "true")],
        [cond("vip", "not_equal_to", "true")],
        [cond("status", "equal_to", "open", "pending")],
        [cond("status", "not_equal_to", "open")],
        [cond("priority", "is_present")],
        [cond("priority", "equal_to", "urgent", "low")],
        [cond("assignee_id", "equal_to", agent)],
        [cond("assignee_id", "is_not_present")],
        [cond("team_id", "equal_to", s["team"])],
        [cond("inbox_id", "equal_to", desk.inbox_id)],
        [cond("contact_id", "not_equal_to", desk.contact_id)],
        [cond("labels", "equal_to", "vip")],
        [cond("labels", "not_equal_to", "billing")],
        [cond("labels", "is_present")],
        [cond("contact_email", "contains", "otto@")],
        [cond("contact_name", "starts_with", "carla")],
        [cond("display_id", "is_greater_than", "3")],
        [cond("created_at", "is_greater_than", "2000-01-01")],
        [cond("last_activity_at", "days_before", "1")],
        [cond("referer", "is_not_present")],
        [
            cond("tier", "equal_to", "gold", q="or"),
            cond("tier", "equal_to", "silver", q="and"),
            cond("seats", "is_greater_than", "6"),
        ],
        [
            cond("status", "equal_to", "open", q="and"),
            cond("labels", "equal_to", "vip", q="and"),
            cond("tier", "equal_to", "gold"),
        ],
        # bad input: the stock way's typed errors
        [cond("nope", "equal_to", "x")],
        [cond("seats", "contains", "x")],
        [cond("seats", "is_greater_than", "ten")],
        [cond("tier", "equal_to", "bronze")],
        [cond("inbox_id", "equal_to", "not-an-id")],
        [cond("plan", "contains")],
        [cond("plan", "is_present", q="xor"), cond("plan", "is_present")],
        [cond("plan", "is_present")] * 21,
    ]
    out = [{"conditions": conditions} for conditions in sets]
    out += [
        {"status": "OPEN", "label": "vip", "conditions": [cond("tier", "is_present")]},
        {"assignee": "me", "conditions": [cond("seats", "is_present")]},
        {"tab": "UNASSIGNED", "conditions": [cond("plan", "is_present")]},
        {"conditions": []},
    ]
    return out


async def test_filtered_lists_answer_exactly_as_stock_execution(gql, smtp, server):
    desk = await build_desk(gql, smtp)
    s = await filtered_world(gql, smtp, desk)
    callers = {
        "admin": desk.admin,
        "agent": desk.agent,
        "outsider": desk.outsider,
        "restricted": s["restricted"],
        "other account": s["other"],
    }
    lane = fast_lane.stats["served"]
    nonempty = 0

    async def run(who: Member, doc: str, variables: dict) -> dict:
        body = await gql.execute(doc, variables, headers=who.headers())
        body.get("extensions", {}).get("cost", {}).pop("budget", None)
        return body

    for f in filtered_documents(desk, s):
        for name, who in callers.items():
            dashboard = {"status": "OPEN", "first": 25, "conditions": f.get("conditions")}
            for doc, variables in ((LIST_ALL, {"filter": f}), (FILTERED, dashboard)):
                with fast_reads(server, False):
                    stock = await run(who, doc, variables)
                with fast_reads(server, True):
                    fast = await run(who, doc, variables)
                assert fast == stock, (name, f, variables)
                data = fast.get("data") or {}
                page = data.get("conversations") or {}
                nonempty += bool(page.get("edges") or page.get("nodes"))
    assert nonempty >= 60, nonempty
    # The lane answered them (not the stock way after a failed compile).
    assert fast_lane.stats["served"] - lane >= 100, fast_lane.stats


async def test_a_filtered_list_costs_the_definitions_and_one_data_statement(gql, smtp, server):
    desk = await build_desk(gql, smtp)
    await filtered_world(gql, smtp, desk)
    engine = server.app.state.services.engine
    doc = "query($f: ConversationFilterInput) { conversations(filter: $f) { nodes { displayId } } }"
    variables = {"f": {"conditions": [cond("tier", "equal_to", "gold"), cond("status", "equal_to", "open")]}}
    first = await desk.data(desk.agent, doc, variables)
    assert len(first["conversations"]["nodes"]) == 2
    with fast_reads(server, True), count_statements(engine) as statements:
        assert await desk.data(desk.agent, doc, variables) == first
    compiled = [st for st in statements if "json_build_object" in st]
    definitions = [st for st in statements if "custom_attribute_definitions" in st]
    assert len(compiled) == 1 and len(definitions) == 1, statements
    # A definition that changes after the statement was cached is read again: a retyped attribute
    # compiles anew (here `seats` removed: the condition is now an unknown attribute, as stock says).
    by_seats = {"f": {"conditions": [cond("seats", "is_greater_than", "6")]}}
    assert len((await desk.data(desk.agent, doc, by_seats))["conversations"]["nodes"]) == 2
    defs = await desk.data(desk.admin, "{ customAttributeDefinitions(model: CONVERSATION) { id key } }")
    seats = next(d["id"] for d in defs["customAttributeDefinitions"] if d["key"] == "seats")
    gone = await desk.data(desk.admin, f'mutation {{ customAttributeDefinitionDelete(id: "{seats}") {{ {ERR} }} }}')
    assert gone["customAttributeDefinitionDelete"]["errors"] == []
    for on in (True, False):
        with fast_reads(server, on):
            body = await desk.run(desk.agent, doc, by_seats)
        assert body["errors"][0]["extensions"]["reason"] == "UNKNOWN_ATTRIBUTE", body


# the bench's filtered dashboard, by saved view too
FILTERED_BY_VIEW = FILTERED.replace("$first: Int!", "$first: Int!, $v: ID").replace(
    "status: $status,", "status: $status, viewId: $v,"
)


async def test_lists_by_saved_view_answer_exactly_as_stock_execution(gql, smtp, server):
    """`filter: {viewId}` is served the stock way (the view is read and its visibility checked
    there): the same answers, errors included, with the lane on and off."""
    desk = await build_desk(gql, smtp)
    s = await filtered_world(gql, smtp, desk)
    create = "mutation($in: SavedViewCreateInput!) { savedViewCreate(input: $in) { savedView { id } errors { code } } }"
    views = {}
    for key, who, fields in (
        ("shared", desk.admin, {"accountWide": True, "conditions": [cond("tier", "equal_to", "gold")]}),
        ("mine", desk.agent, {"tab": "MINE", "conditions": [cond("status", "equal_to", "open")]}),
        ("labels", desk.agent, {"conditions": [cond("labels", "equal_to", "vip")]}),
        ("contacts", desk.agent, {"kind": "CONTACT", "conditions": [cond("email", "contains", "x")]}),
    ):
        body = await desk.data(who, create, {"in": {"kind": "CONVERSATION", "name": key, **fields}})
        assert body["savedViewCreate"]["errors"] == [], body
        views[key] = body["savedViewCreate"]["savedView"]["id"]
    theirs = await gql.data(create, {"in": {"kind": "CONVERSATION", "name": "x"}}, headers=s["other"].headers())
    views["foreign"] = theirs["savedViewCreate"]["savedView"]["id"]
    filters = [{"viewId": v} for v in views.values()] + [
        {"viewId": views["shared"], "status": "OPEN", "label": "vip"},
        {"viewId": views["mine"], "tab": "ALL", "conditions": [cond("plan", "is_present")]},
        {"viewId": views["labels"], "conditions": [cond("nope", "equal_to", "x")]},
        {"viewId": "nonsense"},
    ]
    callers = [desk.admin, desk.agent, desk.outsider, s["restricted"], s["other"]]
    served = fast_lane.stats["served"]
    nonempty = 0
    for f in filters:
        for who in callers:
            dashboard = {"status": "OPEN", "first": 25, "conditions": f.get("conditions")}
            for doc, variables in (
                (LIST_ALL, {"filter": f}),
                (FILTERED_BY_VIEW, {**dashboard, "v": f["viewId"]}),
            ):
                answers = []
                for on in (False, True):
                    with fast_reads(server, on):
                        body = await gql.execute(doc, variables, headers=who.headers())
                    body.get("extensions", {}).get("cost", {}).pop("budget", None)
                    answers.append(body)
                assert answers[0] == answers[1], (f, variables)
                page = (answers[1].get("data") or {}).get("conversations") or {}
                nonempty += bool(page.get("edges") or page.get("nodes"))
    assert nonempty >= 8, nonempty
    assert fast_lane.stats["served"] == served, "a list by saved view is the stock resolver's"
