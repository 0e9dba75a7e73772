"""Contacts' labels (the account's labels, as conversations have them) and their notes, read with
their authors: changes, the `label` filter, who may rewrite a note, other accounts' ids, and the
statements a page of contacts with labels and notes costs."""

from __future__ import annotations

import json

from sqlalchemy import text

from schema.core.ids import decode_id
from tests.support.accounts import signup
from tests.support.desk import ERR, build_desk
from tests.test_query_counts import count_statements

LABEL_CREATE = f"mutation($t: String!) {{ labelCreate(input: {{title: $t}}) {{ label {{ id title }} {ERR} }} }}"
LABELS_UPDATE = (
    "mutation($id: ID!, $input: ConversationLabelsInput!) { contactLabelsUpdate(id: $id, input: $input) "
    f"{{ contact {{ id labels {{ title }} }} {ERR} }} }}"
)
NOTE_CREATE = (
    f"mutation($c: ID!, $t: String!) {{ contactNoteCreate(contactId: $c, content: $t) {{ note {{ id }} {ERR} }} }}"
)
NOTE_UPDATE = (
    f"mutation($id: ID!, $t: String!) {{ contactNoteUpdate(id: $id, content: $t) {{ note {{ id content }} {ERR} }} }}"
)
NOTE_DELETE = f"mutation($id: ID!) {{ contactNoteDelete(id: $id) {{ note {{ id }} {ERR} }} }}"
NOTES = "query($id: ID!) { contact(id: $id) { notes { id content author { email } } } }"


async def _labels(desk, *titles: str) -> None:
    for title in titles:
        out = await desk.data(desk.admin, LABEL_CREATE, {"t": title})
        assert out["labelCreate"]["errors"] == []


async def test_labels_add_remove_replace_filter_and_event(gql, smtp, db_engine):
    desk = await build_desk(gql, smtp)
    await _labels(desk, "vip", "churn", "beta")
    other = (
        await desk.data(
            desk.admin, f'mutation {{ contactCreate(input: {{name: "Otto"}}) {{ contact {{ id }} {ERR} }} }}'
        )
    )["contactCreate"]["contact"]["id"]

    out = await desk.data(desk.agent, LABELS_UPDATE, {"id": desk.contact_id, "input": {"add": ["VIP", "beta"]}})
    assert out["contactLabelsUpdate"] == {
        "contact": {"id": desk.contact_id, "labels": [{"title": "beta"}, {"title": "vip"}]},
        "errors": [],
    }
    out = await desk.data(desk.agent, LABELS_UPDATE, {"id": desk.contact_id, "input": {"remove": ["beta"]}})
    assert out["contactLabelsUpdate"]["contact"]["labels"] == [{"title": "vip"}]
    out = await desk.data(desk.agent, LABELS_UPDATE, {"id": other, "input": {"add": ["churn", "vip"], "replace": True}})
    assert out["contactLabelsUpdate"]["contact"]["labels"] == [{"title": "churn"}, {"title": "vip"}]

    query = "query($l: String) { contacts(label: $l) { edges { node { id } } } }"
    vip = await desk.data(desk.agent, query, {"l": " Vip "})
    assert {e["node"]["id"] for e in vip["contacts"]["edges"]} == {desk.contact_id, other}
    churn = await desk.data(desk.agent, query, {"l": "churn"})
    assert [e["node"]["id"] for e in churn["contacts"]["edges"]] == [other]
    assert (await desk.data(desk.agent, query, {"l": "nothing"}))["contacts"]["edges"] == []

    # An unknown title is a typed error and changes nothing.
    out = await desk.data(desk.agent, LABELS_UPDATE, {"id": other, "input": {"add": ["nope"], "replace": True}})
    assert out["contactLabelsUpdate"]["contact"] is None
    assert [e["code"] for e in out["contactLabelsUpdate"]["errors"]] == ["UNKNOWN_LABEL"]
    churn = await desk.data(desk.agent, query, {"l": "churn"})
    assert [e["node"]["id"] for e in churn["contacts"]["edges"]] == [other]

    # A change that changes nothing records nothing; each change records contact.updated with the titles.
    await desk.data(desk.agent, LABELS_UPDATE, {"id": desk.contact_id, "input": {"add": ["vip"]}})
    async with db_engine.connect() as c:
        rows = (
            await c.execute(
                text("SELECT payload FROM events WHERE type = 'contact.updated' AND contact_id = :c ORDER BY id"),
                {"c": decode_id(desk.contact_id, "Contact")},
            )
        ).scalars()
        payloads = [p if isinstance(p, dict) else json.loads(p) for p in rows]
    assert [p["changed_attributes"]["labels"] for p in payloads] == [[[], ["beta", "vip"]], [["beta", "vip"], ["vip"]]]


async def test_labels_of_another_account_and_foreign_contacts_are_refused(gql, smtp):
    desk = await build_desk(gql, smtp)
    await _labels(desk, "vip")
    stranger = await signup(gql, account="Elsewhere")
    h = stranger.headers()
    assert (await gql.data(LABEL_CREATE, {"t": "foreign"}, headers=h))["labelCreate"]["errors"] == []
    mine = (
        await gql.data(f'mutation {{ contactCreate(input: {{name: "S"}}) {{ contact {{ id }} {ERR} }} }}', headers=h)
    )["contactCreate"]["contact"]["id"]

    # The other account's label title means nothing here.
    out = await desk.data(desk.admin, LABELS_UPDATE, {"id": desk.contact_id, "input": {"add": ["foreign"]}})
    assert [e["code"] for e in out["contactLabelsUpdate"]["errors"]] == ["UNKNOWN_LABEL"]
    # Another account's contact is not found, and keeps its (no) labels.
    body = await gql.execute(LABELS_UPDATE, {"id": desk.contact_id, "input": {"add": ["foreign"]}}, headers=h)
    assert body["errors"][0]["extensions"]["code"] == "NOT_FOUND", body
    assert not (body.get("data") or {}).get("contactLabelsUpdate")
    out = await desk.data(
        desk.admin, "query($l: String) { contacts(label: $l) { edges { node { id } } } }", {"l": "foreign"}
    )
    assert out["contacts"]["edges"] == []
    out = await gql.data('{ contacts(label: "vip") { edges { node { id } } } }', headers=h)
    assert out["contacts"]["edges"] == []
    assert mine


async def test_notes_read_newest_first_with_authors_and_only_authors_or_admins_change_them(gql, smtp):
    desk = await build_desk(gql, smtp)
    ids = []
    for who, content in ((desk.agent, "first"), (desk.outsider, "second"), (desk.admin, "third")):
        out = await desk.data(who, NOTE_CREATE, {"c": desk.contact_id, "t": content})
        assert out["contactNoteCreate"]["errors"] == []
        ids.append(out["contactNoteCreate"]["note"]["id"])
    notes = (await desk.data(desk.agent, NOTES, {"id": desk.contact_id}))["contact"]["notes"]
    assert [(n["id"], n["content"], n["author"]["email"]) for n in notes] == [
        (ids[2], "third", desk.admin.email),
        (ids[1], "second", desk.outsider.email),
        (ids[0], "first", desk.agent.email),
    ]
    few = await desk.data(
        desk.agent, "query($id: ID!) { contact(id: $id) { notes(first: 1) { content } } }", {"id": desk.contact_id}
    )
    assert few["contact"]["notes"] == [{"content": "third"}]
    bad = await desk.run(
        desk.agent, "query($id: ID!) { contact(id: $id) { notes(first: 0) { id } } }", {"id": desk.contact_id}
    )
    assert bad["errors"][0]["extensions"]["code"] == "BAD_USER_INPUT"

    # The author rewrites their note; another agent may not; an administrator may.
    out = await desk.data(desk.agent, NOTE_UPDATE, {"id": ids[0], "t": "  first, rewritten "})
    assert out["contactNoteUpdate"] == {"note": {"id": ids[0], "content": "first, rewritten"}, "errors": []}
    refused = await desk.run(desk.agent, NOTE_UPDATE, {"id": ids[1], "t": "mine now"})
    assert refused["errors"][0]["extensions"]["code"] == "FORBIDDEN"
    refused = await desk.run(desk.agent, NOTE_DELETE, {"id": ids[1]})
    assert refused["errors"][0]["extensions"]["code"] == "FORBIDDEN"
    out = await desk.data(desk.agent, NOTE_UPDATE, {"id": ids[0], "t": "   "})
    assert [e["code"] for e in out["contactNoteUpdate"]["errors"]] == ["INVALID"]
    out = await desk.data(desk.admin, NOTE_UPDATE, {"id": ids[1], "t": "edited by the admin"})
    assert out["contactNoteUpdate"]["errors"] == []
    out = await desk.data(desk.admin, NOTE_DELETE, {"id": ids[1]})
    assert out["contactNoteDelete"]["errors"] == []
    out = await desk.data(desk.agent, NOTE_DELETE, {"id": ids[0]})
    assert out["contactNoteDelete"]["errors"] == []
    notes = (await desk.data(desk.agent, NOTES, {"id": desk.contact_id}))["contact"]["notes"]
    assert [n["content"] for n in notes] == ["third"]

    # Another account's administrator cannot read, change or delete these notes.
    stranger = await signup(gql, account="Elsewhere")
    h = stranger.headers()
    for doc, variables in (
        (NOTE_UPDATE, {"id": ids[2], "t": "x"}),
        (NOTE_DELETE, {"id": ids[2]}),
        (NOTES, {"id": desk.contact_id}),
    ):
        body = await gql.execute(doc, variables, headers=h)
        assert body["errors"][0]["extensions"]["code"] == "NOT_FOUND", body
    notes = (await desk.data(desk.admin, NOTES, {"id": desk.contact_id}))["contact"]["notes"]
    assert [n["content"] for n in notes] == ["third"]


async def test_contact_labels_and_notes_do_not_grow_with_the_page(gql, smtp, server, db_engine):
    desk = await build_desk(gql, smtp)
    await _labels(desk, "vip", "beta")
    engine = server.app.state.services.engine
    account_pk = decode_id((await desk.data(desk.admin, "{ account { id } }"))["account"]["id"], "Account")
    user_pk = decode_id(desk.user_ids["agent"], "User")
    async with db_engine.begin() as c:
        labels = (
            (await c.execute(text("SELECT id FROM labels WHERE account_id = :a"), {"a": account_pk})).scalars().all()
        )
        for i in range(100):
            contact = (
                await c.execute(
                    text(
                        "INSERT INTO contacts (account_id, name, additional_attributes, custom_attributes, contact_type, "
                        "blocked, created_at, updated_at) VALUES (:a, :n, '{}', '{}', 'visitor', false, now(), now()) "
                        "RETURNING id"
                    ),
                    {"a": account_pk, "n": f"c{i}"},
                )
            ).scalar_one()
            for label in labels:
                await c.execute(
                    text("INSERT INTO contact_labels (contact_id, label_id, account_id) VALUES (:c, :l, :a)"),
                    {"c": contact, "l": label, "a": account_pk},
                )
            for n in range(3):
                await c.execute(
                    text(
                        "INSERT INTO contact_notes (account_id, contact_id, user_id, content, created_at) "
                        "VALUES (:a, :c, :u, :t, now())"
                    ),
                    {"a": account_pk, "c": contact, "u": user_pk, "t": f"note {n}"},
                )
    document = (
        "query($f: Int) { contacts(first: $f) { edges { node { id labels { title } "
        "notes(first: 2) { content author { email } } } } } }"
    )
    await desk.data(desk.agent, "{ me { user { id } } }")
    counts = {}
    for first in (25, 100):
        with count_statements(engine) as statements:
            body = await desk.data(desk.agent, document, {"f": first})
        edges = body["contacts"]["edges"]
        assert len(edges) == first
        assert all(len(e["node"]["labels"]) == 2 and len(e["node"]["notes"]) == 2 for e in edges)
        assert edges[0]["node"]["notes"][0] == {"content": "note 2", "author": {"email": desk.agent.email}}
        counts[first] = len(statements)
    assert counts[25] == counts[100], counts
    # The page, its labels, its notes, the notes' authors.
    assert counts[25] <= 4, counts


async def test_a_merged_contacts_labels_move_to_the_kept_contact(gql, smtp):
    desk = await build_desk(gql, smtp)
    await _labels(desk, "vip", "beta")
    other = (
        await desk.data(
            desk.admin, f'mutation {{ contactCreate(input: {{name: "Second record"}}) {{ contact {{ id }} {ERR} }} }}'
        )
    )["contactCreate"]["contact"]["id"]
    await desk.data(desk.agent, LABELS_UPDATE, {"id": desk.contact_id, "input": {"add": ["beta"]}})
    await desk.data(desk.agent, LABELS_UPDATE, {"id": other, "input": {"add": ["vip", "beta"]}})
    merged = await desk.data(
        desk.agent,
        "mutation($a: ID!, $b: ID!) { contactMerge(baseContactId: $a, mergeeContactId: $b) "
        f"{{ contact {{ labels {{ title }} }} {ERR} }} }}",
        {"a": desk.contact_id, "b": other},
    )
    assert merged["contactMerge"] == {"contact": {"labels": [{"title": "beta"}, {"title": "vip"}]}, "errors": []}
