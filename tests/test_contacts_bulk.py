"""Bulk actions on contacts: labels added and removed, and deletion, over a list of ids or every
contact a filter matches (conditions, search, label); only the caller's account, one event per
contact changed, typed errors with nothing changed, and the cap."""

from __future__ import annotations

import pytest
from sqlalchemy import text

from domain.helpdesk import contacts as contacts_domain
from schema.core.ids import decode_id
from tests.support.accounts import signup
from tests.support.desk import ERR, Desk, build_desk
from tests.test_contact_filters import CREATE, cond

LABELS = f"""mutation($ids: [ID!], $f: ContactsFilterInput, $add: [String!], $remove: [String!]) {{
  contactsBulkLabels(ids: $ids, filter: $f, labelsAdd: $add, labelsRemove: $remove) {{ matched changed {ERR} }} }}"""
DELETE = f"""mutation($ids: [ID!], $f: ContactsFilterInput) {{
  contactsBulkDelete(ids: $ids, filter: $f) {{ matched changed {ERR} }} }}"""
LIST = "{ contacts(first: 100) { edges { node { id name labels { title } } } } }"


@pytest.fixture
async def desk(gql, smtp) -> Desk:
    return await build_desk(gql, smtp)


async def people(desk: Desk) -> dict[str, str]:
    for title in ("vip", "churn"):
        await desk.data(desk.admin, f'mutation {{ labelCreate(input: {{title: "{title}"}}) {{ label {{ id }} }} }}')
    out = {"carla": desk.contact_id}
    for name, city in (("Ann", "Oslo"), ("Bob", "Oslo"), ("Cid", "Rome")):
        made = await desk.data(desk.agent, CREATE, {"input": {"name": name, "additionalAttributes": {"city": city}}})
        assert made["contactCreate"]["errors"] == []
        out[name] = made["contactCreate"]["contact"]["id"]
    return out


async def count_events(db_engine, kind: str, contact_ids) -> int:
    async with db_engine.connect() as c:
        return (
            await c.execute(
                text("SELECT count(*) FROM events WHERE type = :t AND contact_id = ANY(:ids)"),
                {"t": kind, "ids": [decode_id(i, "Contact") for i in contact_ids]},
            )
        ).scalar_one()


async def labels_of(desk: Desk) -> dict[str, list[str]]:
    body = await desk.data(desk.admin, LIST)
    return {e["node"]["id"]: [lb["title"] for lb in e["node"]["labels"]] for e in body["contacts"]["edges"]}


async def test_labels_over_ids_and_over_a_filter(desk: Desk, db_engine):
    p = await people(desk)
    out = await desk.data(desk.agent, LABELS, {"ids": [p["Ann"], p["Cid"], p["Ann"]], "add": ["VIP"]})
    assert out["contactsBulkLabels"] == {"matched": 2, "changed": 2, "errors": []}
    labels = await labels_of(desk)
    assert labels[p["Ann"]] == ["vip"] and labels[p["Cid"]] == ["vip"] and labels[p["Bob"]] == []
    # Oslo contacts: Ann already has vip (no change), Bob gets it; churn added to both
    oslo = {"conditions": [cond("city", "equal_to", "oslo")]}
    out = await desk.data(desk.agent, LABELS, {"f": oslo, "add": ["vip"]})
    assert out["contactsBulkLabels"] == {"matched": 2, "changed": 1, "errors": []}
    out = await desk.data(desk.agent, LABELS, {"f": {"label": "vip"}, "remove": ["vip"], "add": ["churn"]})
    assert out["contactsBulkLabels"] == {"matched": 3, "changed": 3, "errors": []}
    labels = await labels_of(desk)
    assert labels[p["Ann"]] == labels[p["Bob"]] == labels[p["Cid"]] == ["churn"] and labels[p["carla"]] == []
    out = await desk.data(desk.agent, LABELS, {"f": {"search": "cid"}, "remove": ["churn"]})
    assert out["contactsBulkLabels"] == {"matched": 1, "changed": 1, "errors": []}
    assert await count_events(db_engine, "contact.updated", p.values()) == 2 + 1 + 3 + 1  # one per change


async def test_bad_input_is_a_typed_error_and_changes_nothing(desk: Desk, gql):
    p = await people(desk)
    other = await signup(gql, account="Other")
    theirs = await gql.data(CREATE, {"input": {"name": "Zed"}}, headers=other.headers())
    zed = theirs["contactCreate"]["contact"]["id"]
    cases = [
        ({"add": ["vip"]}, "ids", "REQUIRED"),
        ({"ids": [p["Ann"]], "f": {"label": "vip"}, "add": ["vip"]}, "ids", "REQUIRED"),
        ({"ids": [], "add": ["vip"]}, "ids", "REQUIRED"),
        ({"ids": [p["Ann"], zed], "add": ["vip"]}, "ids", "NOT_FOUND"),  # another account's contact
        ({"ids": ["nonsense"], "add": ["vip"]}, "ids", "NOT_FOUND"),
        ({"ids": [p["Ann"], p["Bob"]], "add": ["nope"]}, "labels", "UNKNOWN_LABEL"),
        ({"ids": [p["Ann"]]}, "labelsAdd", "REQUIRED"),
        (
            {"f": {"conditions": [cond("nope", "equal_to", "x")]}, "add": ["vip"]},
            "filter.conditions.0.attributeKey",
            "UNKNOWN_ATTRIBUTE",
        ),
        ({"f": {"conditions": [cond("name", "contains")]}, "add": ["vip"]}, "filter.conditions.0.values", "REQUIRED"),
        ({"f": {"search": " "}, "add": ["vip"]}, "filter.search", "INVALID"),
    ]
    for variables, field, code in cases:
        out = (await desk.data(desk.agent, LABELS, variables))["contactsBulkLabels"]
        assert out["matched"] == 0 and [(e["field"], e["code"]) for e in out["errors"]] == [(field, code)], (
            variables,
            out,
        )
    assert all(not titles for titles in (await labels_of(desk)).values())
    out = (await desk.data(desk.admin, DELETE, {"ids": [p["Ann"], zed]}))["contactsBulkDelete"]
    assert out["errors"][0]["code"] == "NOT_FOUND"
    assert len(await labels_of(desk)) == 4
    # the other account's contact is still there, untouched
    mine = await gql.data("{ contacts { edges { node { id } } } }", headers=other.headers())
    assert [e["node"]["id"] for e in mine["contacts"]["edges"]] == [zed]


async def test_delete_over_a_filter_is_for_administrators_one_event_each(desk: Desk, gql, db_engine):
    p = await people(desk)
    oslo = {"conditions": [cond("city", "equal_to", "Oslo")]}
    refused = await desk.run(desk.agent, DELETE, {"f": oslo})
    assert refused["errors"][0]["extensions"]["code"] == "FORBIDDEN"
    out = await desk.data(desk.admin, DELETE, {"f": oslo})
    assert out["contactsBulkDelete"] == {"matched": 2, "changed": 2, "errors": []}
    assert set(await labels_of(desk)) == {p["carla"], p["Cid"]}
    assert await count_events(db_engine, "contact.deleted", p.values()) == 2
    # another account's administrator matches only their own contacts
    other = await signup(gql, account="Other")
    out = await gql.data(DELETE, {"f": {"search": "Cid"}}, headers=other.headers())
    assert out["contactsBulkDelete"] == {"matched": 0, "changed": 0, "errors": []}
    assert p["Cid"] in await labels_of(desk)


async def test_the_cap(desk: Desk, monkeypatch):
    await people(desk)
    monkeypatch.setattr(contacts_domain, "MAX_BULK", 3)
    out = await desk.data(
        desk.admin, DELETE, {"f": {"conditions": [cond("created_at", "is_greater_than", "2000-01-01")]}}
    )
    errors = out["contactsBulkDelete"]["errors"]
    assert [(e["field"], e["code"]) for e in errors] == [("filter", "TOO_MANY")]
    assert len(await labels_of(desk)) == 4
