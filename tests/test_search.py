"""Search across conversations, messages and contacts: full text with stems, phrases and negation,
partial words, short terms on indexed paths, visibility per role and per account, statement count."""

from __future__ import annotations

import pytest

from tests.support.accounts import signup
from tests.support.desk import ERR, Desk, build_desk
from tests.test_query_counts import count_statements

SEARCH = """query($q: String!, $first: Int, $after: String) { search(query: $q, first: $first, after: $after) {
  conversations { id displayId }
  messages { snippet message { id content private } conversation { id } }
  contacts { id name }
  endCursor hasNextPage } }"""
NOTE = f"""mutation($c: ID!, $t: String!) {{
  messageCreate(input: {{conversationId: $c, content: $t, private: true}}) {{ message {{ id }} {ERR} }} }}"""


@pytest.fixture
async def desk(gql, smtp) -> Desk:
    return await build_desk(gql, smtp)


async def found(desk: Desk, who, q: str, **kw) -> dict:
    return (await desk.data(who, SEARCH, {"q": q, **kw}))["search"]


def contents(result: dict) -> list[str]:
    return [h["message"]["content"] for h in result["messages"]]


async def test_full_text_stems_phrases_negation_and_partial_words(desk: Desk):
    zebra = await desk.new_conversation("The zebra escaped from the zoo")
    await desk.new_conversation("A lion and a zebra crossing the road")
    await desk.new_conversation("Nothing striped here, only a refundable ticket")
    r = await found(desk, desk.agent, "zebras")
    assert sorted(contents(r)) == ["A lion and a zebra crossing the road", "The zebra escaped from the zoo"]
    assert all("<mark>zebra</mark>" in h["snippet"] for h in r["messages"])
    assert {h["conversation"]["id"] for h in r["messages"]} >= {zebra["id"]}
    assert contents(await found(desk, desk.agent, '"zebra escaped"')) == ["The zebra escaped from the zoo"]
    assert contents(await found(desk, desk.agent, '"escaped zebra"')) == []
    assert contents(await found(desk, desk.agent, "zebra -lion")) == ["The zebra escaped from the zoo"]
    # A part of a word (trigram path): "fundab" lies inside "refundable".
    assert contents(await found(desk, desk.agent, "fundab")) == ["Nothing striped here, only a refundable ticket"]
    # The conversations filter uses the same matching.
    listed = await desk.data(desk.agent, 'query { conversations(filter: {search: "zebras"}) { nodes { id } } }')
    assert len(listed["conversations"]["nodes"]) == 2


@pytest.mark.parametrize(
    "q", ["'", "&", "|", "!", ":", "*", "(", ")", "\\", "%", "_", "a & b | !c", "x:*", "((", "\\%_'"]
)
async def test_metacharacters_are_plain_text(desk: Desk, q: str):
    await desk.new_conversation("Price 100% off, code pre_thanks, o'clock (today) a:b")
    r = await found(desk, desk.agent, q)
    assert isinstance(r["messages"], list)


async def test_like_wildcards_and_quotes_match_literally(desk: Desk):
    await desk.new_conversation("Save 100% today")
    await desk.new_conversation("Save 1000 today")
    await desk.new_conversation("the pre_thanks code")
    await desk.new_conversation("the prefthanks code")
    assert contents(await found(desk, desk.agent, "100%")) == ["Save 100% today"]
    assert contents(await found(desk, desk.agent, "e_t")) == ["the pre_thanks code"]
    assert contents(await found(desk, desk.agent, "o'clock")) == []


async def test_display_id_contact_fields_and_short_terms(desk: Desk):
    conv = await desk.new_conversation("Where is my parcel?")
    number = conv["displayId"]
    for q in (str(number), f"#{number}"):
        r = await found(desk, desk.agent, q)
        assert [c["id"] for c in r["conversations"]] == [conv["id"]]
    by_name = await found(desk, desk.agent, "Carla")
    assert [c["name"] for c in by_name["contacts"]] == ["Carla Customer"]
    assert [c["id"] for c in by_name["conversations"]] == [conv["id"]]
    by_email = await found(desk, desk.agent, "carla@example")
    assert [c["name"] for c in by_email["contacts"]] == ["Carla Customer"]
    # Two characters: name and email prefixes, never message content.
    short = await found(desk, desk.agent, "ca")
    assert [c["name"] for c in short["contacts"]] == ["Carla Customer"] and short["messages"] == []
    assert (await found(desk, desk.agent, "rl"))["contacts"] == []  # not a prefix
    assert (await found(desk, desk.agent, "c"))["contacts"][0]["name"] == "Carla Customer"
    listed = await desk.data(desk.agent, 'query { conversations(filter: {search: "ca"}) { nodes { id } } }')
    assert [n["id"] for n in listed["conversations"]["nodes"]] == [conv["id"]]


async def test_bad_input_is_a_typed_error(desk: Desk):
    for variables in ({"q": "  "}, {"q": "x" * 201}, {"q": "ok", "first": 26}, {"q": "ok", "first": -1}):
        body = await desk.run(desk.agent, SEARCH, variables)
        assert body["errors"][0]["extensions"]["code"] == "BAD_USER_INPUT", body


async def test_visibility_inbox_membership_private_notes_and_accounts(desk: Desk, gql):
    conv = await desk.new_conversation("Quokka sightings near the office")
    await desk.data(desk.agent, NOTE, {"c": conv["id"], "t": "Internal: quokka is a VIP"})
    agent = await found(desk, desk.agent, "quokka")
    assert sorted(contents(agent)) == ["Internal: quokka is a VIP", "Quokka sightings near the office"]
    outsider = await found(desk, desk.outsider, "quokka")
    assert outsider["messages"] == [] and outsider["conversations"] == []
    assert (await found(desk, desk.outsider, str(conv["displayId"])))["conversations"] == []
    admin = await found(desk, desk.admin, "quokka")
    assert len(admin["messages"]) == 2
    other = await signup(gql, account="Elsewhere")
    elsewhere = (await gql.data(SEARCH, {"q": "quokka"}, headers=other.headers()))["search"]
    assert elsewhere == {"conversations": [], "messages": [], "contacts": [], "endCursor": None, "hasNextPage": False}
    assert (await gql.data(SEARCH, {"q": "Carla"}, headers=other.headers()))["search"]["contacts"] == []


async def test_pages_and_statement_count(desk: Desk, db_engine):
    for i in range(5):
        await desk.new_conversation(f"Wombat report number {i}")
    first = await found(desk, desk.agent, "wombat", first=2)
    assert len(first["messages"]) == 2 and first["hasNextPage"] is True
    second = await found(desk, desk.agent, "wombat", first=2, after=first["endCursor"])
    seen = {h["message"]["id"] for h in first["messages"]} | {h["message"]["id"] for h in second["messages"]}
    assert len(seen) == 4
    counts = []
    for n in (1, 5):
        with count_statements(db_engine) as statements:
            r = await found(desk, desk.agent, "wombat", first=n)
        assert len(r["messages"]) == n
        counts.append(len([s for s in statements if s.lstrip().upper().startswith(("SELECT", "WITH"))]))
    assert counts[0] == counts[1] and counts[0] <= 6, counts


@pytest.mark.embedded
async def test_search_on_the_embedded_default(embedded_gql):
    admin = await signup(embedded_gql, account="Embedded search")
    h = admin.headers()
    inbox = await embedded_gql.data(
        'mutation { inboxCreate(input: {name: "API", channelType: API}) { inbox { id } } }', headers=h
    )
    contact = await embedded_gql.data(
        'mutation { contactCreate(input: {name: "Eve", email: "eve@example.test"}) { contact { id } } }', headers=h
    )
    conv = await embedded_gql.data(
        'mutation($i: ID!, $c: ID!) { conversationCreate(input: {inboxId: $i, contactId: $c, message: "Invoice 100% wrong"}) { conversation { id displayId } errors { code } } }',
        {"i": inbox["inboxCreate"]["inbox"]["id"], "c": contact["contactCreate"]["contact"]["id"]},
        headers=h,
    )
    conv_id = conv["conversationCreate"]["conversation"]["id"]
    r = (await embedded_gql.data(SEARCH, {"q": "INVOICE"}, headers=h))["search"]
    assert [x["message"]["content"] for x in r["messages"]] == ["Invoice 100% wrong"]
    assert "<mark>Invoice</mark>" in r["messages"][0]["snippet"]
    assert (await embedded_gql.data(SEARCH, {"q": "00%"}, headers=h))["search"]["messages"] != []
    assert (await embedded_gql.data(SEARCH, {"q": "ev"}, headers=h))["search"]["contacts"][0]["name"] == "Eve"
    by_number = (await embedded_gql.data(SEARCH, {"q": "#1"}, headers=h))["search"]["conversations"]
    assert [c["id"] for c in by_number] == [conv_id]


@pytest.mark.parametrize(
    ("term", "index"),
    [("refund", "ix_contacts_search_trgm"), ("ma", "ix_contacts_name_prefix"), ("ma", "ix_contacts_email_prefix")],
)
async def test_contact_matching_reaches_its_indexes_in_a_generic_plan(desk: Desk, db_engine, term: str, index: str):
    """The statements run prepared (asyncpg), and after five executions PostgreSQL may keep one
    generic plan, which sees only `$n`: the contacts' search text must be the trigram index's own
    expression and a short prefix a range the pattern indexes take, or every search reads every
    contact of the account."""
    from sqlalchemy import select, text
    from sqlalchemy.dialects.postgresql import asyncpg as pg_asyncpg

    from db.models import Contact
    from db.repositories.text_match import contact_matches

    async with db_engine.connect() as conn:
        account = await conn.scalar(text("SELECT max(id) FROM accounts"))
        # Enough contacts (rolled back below) that the planner weighs its indexes as it would in use.
        await conn.execute(
            text(
                "INSERT INTO contacts (account_id, name, email, additional_attributes, custom_attributes,"
                " contact_type, blocked, created_at, updated_at)"
                " SELECT :a, 'Person ' || g, 'person' || g || '@example.com', '{}', '{}', 'lead', false, now(), now()"
                " FROM generate_series(1, 5000) g"
            ),
            {"a": account},
        )
        await conn.execute(text("ANALYZE contacts"))
        # The trigram index does not hold account_id (any other index serves that part): ask it alone.
        in_account = [Contact.account_id == account] if index != "ix_contacts_search_trgm" else []
        compiled = select(Contact.id).where(*in_account, contact_matches(term)).compile(dialect=pg_asyncpg.dialect())
        values = [compiled.params[name] for name in compiled.positiontup or []]
        literals = ", ".join("'" + str(v).replace("'", "''") + "'" for v in values)
        await conn.execute(text("SET LOCAL plan_cache_mode = force_generic_plan"))
        # Whether the plan can use the index at all (at this size a scan may be cheaper still).
        await conn.execute(text("SET LOCAL enable_seqscan = off"))
        await conn.exec_driver_sql(f"PREPARE contact_match AS {compiled.string}")
        plan = "\n".join(r[0] for r in await conn.exec_driver_sql(f"EXPLAIN EXECUTE contact_match({literals})"))
        await conn.exec_driver_sql("DEALLOCATE contact_match")
        await conn.rollback()
    assert index in plan, plan
    assert "Seq Scan on contacts" not in plan, plan
