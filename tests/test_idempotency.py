"""The `Idempotency-Key` header on write mutations, over HTTP against the live server: a retry with
the same key by the same caller returns the first result and writes nothing (also when the copies
arrive at once), another caller's key is independent, the same key with another request is refused
with a typed error, a failed write keeps no key, and keys expire."""

from __future__ import annotations

import asyncio
import uuid

import pytest
from sqlalchemy import text

from db.session import create_session_factory
from tests.support.accounts import signup
from tests.test_widget import SEND, make_widget

ERR = "errors { field code message }"
MESSAGE = f"""mutation($c: ID!, $t: String!) {{ messageCreate(input: {{conversationId: $c, content: $t}}) {{
  message {{ id content createdAt }} {ERR} }} }}"""
CONTACT = f"""mutation($n: String!, $e: String) {{ contactCreate(input: {{name: $n, email: $e}}) {{ contact {{ id name email }} {ERR} }} }}"""
CONVERSATION = f"""mutation($i: ID!, $c: ID!, $m: String) {{ conversationCreate(input: {{inboxId: $i, contactId: $c, message: $m}}) {{
  conversation {{ id displayId }} {ERR} }} }}"""


def key() -> str:
    return f'"{uuid.uuid4()}"'  # a Structured Fields string, as the draft writes it


async def _count(db_engine, sql: str, **params) -> int:
    async with db_engine.connect() as conn:
        return (await conn.execute(text(sql), params)).scalar_one()


async def _setup(gql):
    admin = await signup(gql, account="Keys")
    h = admin.headers()
    inbox = (
        await gql.data(
            f'mutation {{ inboxCreate(input: {{name: "API", channelType: API}}) {{ inbox {{ id }} {ERR} }} }}',
            headers=h,
        )
    )["inboxCreate"]["inbox"]["id"]
    contact = (await gql.data(CONTACT, {"n": "Kim", "e": None}, headers=h))["contactCreate"]["contact"]["id"]
    conversation = (await gql.data(CONVERSATION, {"i": inbox, "c": contact, "m": None}, headers=h))[
        "conversationCreate"
    ]["conversation"]
    return admin, inbox, contact, conversation["id"]


async def test_a_retried_message_create_returns_the_first_message_and_writes_nothing(gql, db_engine):
    admin, _, _, conversation = await _setup(gql)
    headers = {**admin.headers(), "Idempotency-Key": key()}
    first = await gql.data(MESSAGE, {"c": conversation, "t": "once only"}, headers=headers)
    second = await gql.data(MESSAGE, {"c": conversation, "t": "once only"}, headers=headers)
    assert first["messageCreate"]["errors"] == [] and first["messageCreate"]["message"]["content"] == "once only"
    assert second == first
    assert await _count(db_engine, "SELECT count(*) FROM messages WHERE content = 'once only'") == 1
    assert await _count(db_engine, "SELECT count(*) FROM events WHERE type = 'message.created'") == 1
    # Without a key, the same request is a new message.
    await gql.data(MESSAGE, {"c": conversation, "t": "once only"}, headers=admin.headers())
    assert await _count(db_engine, "SELECT count(*) FROM messages WHERE content = 'once only'") == 2


async def test_concurrent_copies_of_a_keyed_message_create_make_one_message(gql, db_engine):
    admin, _, _, conversation = await _setup(gql)
    headers = {**admin.headers(), "Idempotency-Key": key()}
    bodies = await asyncio.gather(
        *[gql.execute(MESSAGE, {"c": conversation, "t": "at once"}, headers=headers) for _ in range(6)]
    )
    assert all(not b.get("errors") for b in bodies), bodies
    ids = {b["data"]["messageCreate"]["message"]["id"] for b in bodies}
    assert len(ids) == 1, bodies
    assert await _count(db_engine, "SELECT count(*) FROM messages WHERE content = 'at once'") == 1
    assert await _count(db_engine, "SELECT count(*) FROM idempotency_keys") == 1


async def test_the_same_key_with_another_request_is_refused_and_writes_nothing(gql, db_engine):
    admin, _, _, conversation = await _setup(gql)
    headers = {**admin.headers(), "Idempotency-Key": key()}
    await gql.data(MESSAGE, {"c": conversation, "t": "first body"}, headers=headers)
    body = await gql.execute(MESSAGE, {"c": conversation, "t": "another body"}, headers=headers)
    assert body["data"] is None or body["data"]["messageCreate"] is None
    assert len(body["errors"]) == 1, body
    error = body["errors"][0]
    assert error["extensions"]["code"] == "IDEMPOTENCY_KEY_REUSED"
    assert error["extensions"]["status"] == 422
    assert (
        error["message"] == "This Idempotency-Key was used with a different request; send a new key for a new request"
    )
    assert await _count(db_engine, "SELECT count(*) FROM messages WHERE content = 'another body'") == 0
    # The key names one mutation: another mutation with it is another request too.
    other = await gql.execute(CONTACT, {"n": "Lee", "e": None}, headers=headers)
    assert [e["extensions"]["code"] for e in other["errors"]] == ["IDEMPOTENCY_KEY_REUSED"]
    assert await _count(db_engine, "SELECT count(*) FROM contacts WHERE name = 'Lee'") == 0


async def test_keys_belong_to_their_caller(gql, db_engine):
    one = await signup(gql, account="One")
    two = await signup(gql, account="Two")
    shared = key()
    a = await gql.data(CONTACT, {"n": "Same Name", "e": None}, headers={**one.headers(), "Idempotency-Key": shared})
    b = await gql.data(CONTACT, {"n": "Same Name", "e": None}, headers={**two.headers(), "Idempotency-Key": shared})
    assert a["contactCreate"]["errors"] == [] and b["contactCreate"]["errors"] == []
    assert a["contactCreate"]["contact"]["id"] != b["contactCreate"]["contact"]["id"]
    assert await _count(db_engine, "SELECT count(*) FROM contacts WHERE name = 'Same Name'") == 2


async def test_a_failed_write_keeps_no_key(gql, db_engine):
    admin = await signup(gql, account="Fails")
    headers = {**admin.headers(), "Idempotency-Key": key()}
    bad = await gql.data(CONTACT, {"n": "Pat", "e": "not an email"}, headers=headers)
    assert [e["code"] for e in bad["contactCreate"]["errors"]] == ["INVALID_EMAIL"], bad
    assert bad["contactCreate"]["errors"][0]["field"] == "email"
    assert await _count(db_engine, "SELECT count(*) FROM idempotency_keys") == 0
    fixed = await gql.data(CONTACT, {"n": "Pat", "e": "pat@example.test"}, headers=headers)
    assert fixed["contactCreate"]["errors"] == [] and fixed["contactCreate"]["contact"]["email"] == "pat@example.test"
    again = await gql.data(CONTACT, {"n": "Pat", "e": "pat@example.test"}, headers=headers)
    assert again == fixed
    assert await _count(db_engine, "SELECT count(*) FROM contacts WHERE name = 'Pat'") == 1


@pytest.mark.parametrize("value", ['""', '"unterminated', "x" * 256, '"caf\u00e9"', '"a\\b"'])
async def test_a_malformed_key_is_a_typed_error(gql, db_engine, value):
    admin = await signup(gql, account="Bad keys")
    resp = await gql.post(
        CONTACT, {"n": "Nobody", "e": None}, headers={**admin.headers(), "Idempotency-Key": value.encode("utf-8")}
    )
    body = resp.json()
    assert len(body["errors"]) == 1, body
    assert body["errors"][0]["extensions"]["code"] == "BAD_USER_INPUT"
    assert body["errors"][0]["message"].startswith("Idempotency-Key")
    assert await _count(db_engine, "SELECT count(*) FROM contacts WHERE name = 'Nobody'") == 0


async def test_a_retried_conversation_create_returns_the_first_conversation(gql, db_engine):
    admin, inbox, contact, _ = await _setup(gql)
    headers = {**admin.headers(), "Idempotency-Key": "plain-token-key-1"}  # a bare token is accepted too
    first = await gql.data(CONVERSATION, {"i": inbox, "c": contact, "m": "hello"}, headers=headers)
    second = await gql.data(CONVERSATION, {"i": inbox, "c": contact, "m": "hello"}, headers=headers)
    assert first["conversationCreate"]["errors"] == [] and second == first
    assert await _count(db_engine, "SELECT count(*) FROM conversations") == 2  # _setup's and this one


async def test_a_retried_widget_message_returns_the_first_message(gql, db_engine):
    widget = await make_widget(gql)
    visitor = await widget.visitor()
    other = await widget.visitor()
    shared = key()
    variables = {"i": {"content": "from the widget", "conversationId": None}}
    first = await visitor.run(SEND, variables, **{"Idempotency-Key": shared})
    again = await asyncio.gather(*[visitor.run(SEND, variables, **{"Idempotency-Key": shared}) for _ in range(3)])
    assert not first.get("errors") and first["data"]["widgetMessageCreate"]["errors"] == []
    assert all(b == first for b in again), again
    independent = await other.run(SEND, variables, **{"Idempotency-Key": shared})
    assert independent["data"]["widgetMessageCreate"]["errors"] == []
    assert (
        independent["data"]["widgetMessageCreate"]["message"]["id"]
        != first["data"]["widgetMessageCreate"]["message"]["id"]
    )
    assert await _count(db_engine, "SELECT count(*) FROM messages WHERE content = 'from the widget'") == 2
    assert await _count(db_engine, "SELECT count(*) FROM conversations") == 2


async def test_keys_expire_and_the_scheduler_removes_them(gql, db_engine, server):
    from workers.scheduler import cleanup_idempotency_keys

    admin, _, _, conversation = await _setup(gql)
    headers = {**admin.headers(), "Idempotency-Key": key()}
    await gql.data(MESSAGE, {"c": conversation, "t": "expiring"}, headers=headers)
    async with db_engine.begin() as conn:
        await conn.execute(text("UPDATE idempotency_keys SET expires_at = now() - interval '1 second'"))
    # An expired key is a new request: it writes again (and is kept anew).
    await gql.data(MESSAGE, {"c": conversation, "t": "expiring"}, headers=headers)
    assert await _count(db_engine, "SELECT count(*) FROM messages WHERE content = 'expiring'") == 2
    assert (
        await _count(db_engine, "SELECT count(*) FROM idempotency_keys WHERE expires_at > now() + interval '23 hours'")
        == 1
    )
    async with db_engine.begin() as conn:
        await conn.execute(text("UPDATE idempotency_keys SET expires_at = now() - interval '1 second'"))
    assert server.settings.idempotency_key_ttl_hours == 24
    assert await cleanup_idempotency_keys(create_session_factory(db_engine)) == 1
    assert await _count(db_engine, "SELECT count(*) FROM idempotency_keys") == 0
