"""A saved view applied by id (`filter: {viewId}`) on the conversation list, its counts and the bulk
action: the view's conditions ANDed with the filter's, its tab unless the filter names one, only
views the caller may see (their own, the account's), NOT_FOUND for anyone else's; and the list's
walk of its index for conditions the planner cannot estimate, which must match what the plain
statement matches."""

from __future__ import annotations

import pytest
from sqlalchemy import text

from tests.support.accounts import signup
from tests.support.desk import ERR, Desk, build_desk
from tests.test_query_counts import count_statements
from tests.test_saved_views import BULK, cond, create

LIST = "query($f: ConversationFilterInput) { conversations(filter: $f, first: 50) { nodes { id } } }"
COUNTS = "query($f: ConversationFilterInput) { conversationCounts(filter: $f) { open resolved all } }"


@pytest.fixture
async def desk(gql, smtp) -> Desk:
    return await build_desk(gql, smtp)


async def listed(desk: Desk, who, f: dict) -> set[str]:
    return {n["id"] for n in (await desk.data(who, LIST, {"f": f}))["conversations"]["nodes"]}


async def world(desk: Desk) -> dict:
    """Three conversations of the agent's inbox: a (urgent, billing, assigned to the agent),
    b (urgent), c (plain); an account-wide `Urgent` view and the agent's own `Mine` view."""
    await desk.data(desk.admin, f'mutation {{ labelCreate(input: {{title: "billing"}}) {{ {ERR} }} }}')
    a, b, c = [await desk.new_conversation(m) for m in ("first", "second", "third")]
    for conv in (a, b):
        body = await desk.data(
            desk.agent,
            f"mutation($id: ID!) {{ conversationPriorityUpdate(id: $id, priority: URGENT) {{ {ERR} }} }}",
            {"id": conv["id"]},
        )
        assert body["conversationPriorityUpdate"]["errors"] == []
    body = await desk.data(
        desk.admin,
        'mutation($id: ID!) { conversationLabelsUpdate(id: $id, input: {add: ["billing"], remove: []}) '
        f"{{ {ERR} }} }}",
        {"id": a["id"]},
    )
    assert body["conversationLabelsUpdate"]["errors"] == []
    body = await desk.data(
        desk.admin,
        f"mutation($id: ID!, $u: ID) {{ conversationAssign(id: $id, input: {{assigneeId: $u}}) {{ {ERR} }} }}",
        {"id": a["id"], "u": desk.user_ids["agent"]},
    )
    assert body["conversationAssign"]["errors"] == []
    shared = await create(
        desk, desk.admin, name="Urgent", accountWide=True, conditions=[cond("priority", "equal_to", "urgent")]
    )
    mine = await create(desk, desk.agent, name="Mine", tab="MINE", conditions=[cond("status", "equal_to", "open")])
    contacts = await create(desk, desk.agent, name="Gmail", kind="CONTACT", conditions=[cond("email", "contains", "x")])
    for made in (shared, mine, contacts):
        assert made["errors"] == [], made
    return {
        "a": a["id"],
        "b": b["id"],
        "c": c["id"],
        "shared": shared["savedView"]["id"],
        "mine": mine["savedView"]["id"],
        "contacts": contacts["savedView"]["id"],
    }


async def test_a_view_filters_the_list_and_the_counts_per_role(desk: Desk):
    w = await world(desk)
    a, b, c = w["a"], w["b"], w["c"]
    # the account's view, for the agent who works the inbox and for the administrator
    for who in (desk.agent, desk.admin):
        assert await listed(desk, who, {"viewId": w["shared"]}) == {a, b}
        # ANDed with the filter's own fields and conditions
        assert await listed(desk, who, {"viewId": w["shared"], "label": "billing"}) == {a}
        assert await listed(desk, who, {"viewId": w["shared"], "conditions": [cond("labels", "is_not_present")]}) == {b}
        counts = (await desk.data(who, COUNTS, {"f": {"viewId": w["shared"]}}))["conversationCounts"]
        assert counts["open"] == 2 and counts["all"] == 2
    # an agent outside the inbox may apply the account's view, and still sees none of the inbox
    assert await listed(desk, desk.outsider, {"viewId": w["shared"]}) == set()
    # the agent's own view opens on its tab (mine); a tab in the filter wins over it
    assert await listed(desk, desk.agent, {"viewId": w["mine"]}) == {a}
    assert await listed(desk, desk.agent, {"viewId": w["mine"], "tab": "ALL"}) == {a, b, c}
    # another member's personal view, a contact view, or no view at all: NOT_FOUND, for every role
    for who, view in (
        (desk.outsider, w["mine"]),
        (desk.admin, w["mine"]),
        (desk.agent, w["contacts"]),
        (desk.agent, "U2F2ZWRWaWV3Ojk5OTk5"),  # SavedView:99999
        (desk.agent, "nonsense"),
    ):
        for doc in (LIST, COUNTS):
            body = await desk.run(who, doc, {"f": {"viewId": view}})
            assert body["errors"][0]["extensions"]["code"] == "NOT_FOUND", body


async def test_a_bulk_update_by_view_changes_what_the_view_matches(desk: Desk, db_engine):
    w = await world(desk)
    # someone else's view: NOT_FOUND and nothing changes
    body = await desk.run(desk.outsider, BULK, {"f": {"viewId": w["mine"]}, "s": "RESOLVED"})
    assert body["errors"][0]["extensions"]["code"] == "NOT_FOUND", body
    assert await listed(desk, desk.agent, {"status": "RESOLVED", "tab": "ALL"}) == set()
    body = await desk.data(desk.agent, BULK, {"f": {"viewId": w["shared"], "label": "billing"}, "s": "RESOLVED"})
    assert body["conversationsBulkUpdate"] == {"matched": 1, "changed": 1, "errors": []}
    body = await desk.data(desk.agent, BULK, {"f": {"viewId": w["shared"]}, "s": "RESOLVED"})
    assert body["conversationsBulkUpdate"] == {"matched": 2, "changed": 1, "errors": []}
    assert await listed(desk, desk.agent, {"status": "RESOLVED", "tab": "ALL"}) == {w["a"], w["b"]}
    async with db_engine.connect() as conn:
        changed = await conn.scalar(text("SELECT count(*) FROM events WHERE type = 'conversation.status_changed'"))
    assert changed == 2


async def test_another_accounts_view_is_not_found_anywhere(desk: Desk, gql):
    w = await world(desk)
    other = await signup(gql, account="Other")
    theirs = await gql.data(
        'mutation { savedViewCreate(input: {kind: CONVERSATION, name: "All of it", accountWide: true}) '
        "{ savedView { id } errors { code } } }",
        headers=other.headers(),
    )
    foreign = theirs["savedViewCreate"]["savedView"]["id"]
    for who in (desk.admin, desk.agent):
        for doc, variables in (
            (LIST, {"f": {"viewId": foreign}}),
            (COUNTS, {"f": {"viewId": foreign}}),
            (BULK, {"f": {"viewId": foreign}, "s": "RESOLVED"}),
        ):
            body = await desk.run(who, doc, variables)
            assert body["errors"][0]["extensions"]["code"] == "NOT_FOUND", body
    # and account A's views are not found from the other account
    for view in (w["shared"], w["mine"]):
        body = await gql.execute(LIST, {"f": {"viewId": view}}, headers=other.headers())
        assert body["errors"][0]["extensions"]["code"] == "NOT_FOUND", body
    assert await listed(desk, desk.agent, {"status": "OPEN", "tab": "ALL"}) == {w["a"], w["b"], w["c"]}


async def test_a_list_by_view_reads_the_view_once_whatever_its_length(desk: Desk, server):
    w = await world(desk)
    engine = server.app.state.services.engine
    f = {"viewId": w["shared"]}
    await listed(desk, desk.agent, f)  # warm the caller's session caches
    with count_statements(engine) as few:
        assert len(await listed(desk, desk.agent, f)) == 2
    for n in range(4):
        conv = await desk.new_conversation(f"more {n}")
        await desk.data(
            desk.agent,
            f"mutation($id: ID!) {{ conversationPriorityUpdate(id: $id, priority: URGENT) {{ {ERR} }} }}",
            {"id": conv["id"]},
        )
    with count_statements(engine) as many:
        assert len(await listed(desk, desk.agent, f)) == 6
    assert len(many) == len(few), (few, many)
    assert len([s for s in many if "saved_views" in s]) == 1, many


async def test_the_index_walk_matches_exactly_what_the_plain_statement_matches(gql, smtp, db_engine):
    """The list walks its index with the conditions the planner cannot estimate as a per-row check
    (db/repositories/helpdesk.py `_walk_split`): page by page, the same rows as the plain statement,
    for every condition set of the differential test, every caller and both page sizes."""
    from sqlalchemy.ext.asyncio import AsyncSession

    from db.repositories import catalog as catalog_repo
    from db.repositories import helpdesk as repo
    from domain.accounts.actor import Actor, ActorKind, effective_permissions
    from domain.enums import AttributeModel, Role
    from domain.errors import ValidationError
    from domain.filters.conditions import Compiler, Condition
    from resolvers.helpdesk import _reference
    from schema.core.ids import decode_id
    from tests.test_fast_reads import filtered_documents, filtered_world

    desk = await build_desk(gql, smtp)
    s = await filtered_world(gql, smtp, desk)
    async with AsyncSession(db_engine) as session:
        account_id = await session.scalar(
            text("SELECT account_id FROM account_memberships WHERE user_id = :u"),
            {"u": decode_id(desk.user_ids["admin"], "User")},
        )
        definitions = await catalog_repo.attribute_definitions(session, account_id, AttributeModel.CONVERSATION)
        actors = [
            Actor(
                kind=ActorKind.user,
                user_id=decode_id(desk.user_ids[name], "User"),
                account_id=account_id,
                role=role,
                permissions=effective_permissions(role, None),
            )
            for name, role in (("admin", Role.ADMINISTRATOR), ("agent", Role.AGENT), ("outsider", Role.AGENT))
        ]
        walked = compared = 0
        for f in filtered_documents(desk, s):
            conditions = [
                Condition(c["attributeKey"], c["filterOperator"], c["values"], c["queryOperator"])
                for c in f.get("conditions") or []
            ]
            try:
                where = Compiler(
                    AttributeModel.CONVERSATION,
                    definitions,
                    account_id=account_id,
                    decode_reference=_reference,
                    dialect="postgresql",
                    path="c",
                ).compile(conditions)
            except ValidationError:
                continue
            for status, label in (("open", None), ("open", "vip"), (None, None)):
                for actor in actors:
                    cf = repo.ConversationFilter(status=status, label_title=label, where=where)
                    walked += repo._walk_split(actor, cf, "LAST_ACTIVITY") is not None
                    for limit in (2, 50):
                        pages = []
                        for walk in (False, True):
                            stmt = repo.conversations_page_select(
                                actor, cf, sort="LAST_ACTIVITY", after=None, limit=limit, walk_index=walk
                            )
                            pages.append([row.id for row in (await session.scalars(stmt)).all()])
                        assert pages[0] == pages[1], (f, status, label, actor.user_id, limit)
                        compared += bool(pages[0])
    assert walked >= 60 and compared >= 60, (walked, compared)
