"""Email both ways against a real IMAP server (Debian's dovecot on its own port): the poller reads a
customer's email from the inbox's mailbox and opens a conversation; the agent's reply reaches the
customer's mailbox threaded; the customer's answer (the reply address only in Cc) joins the same
conversation; an auto-reply does not loop; a restarted poller reads nothing twice and misses nothing."""

from __future__ import annotations

import asyncio
import email
from email import policy
from urllib.parse import urlsplit

import httpx
import pytest
from sqlalchemy import text

from tests.support.desk import ERR, Desk
from tests.support.dovecot import PASSWORD, Dovecot, unavailable
from tests.test_attachments import put_file, request_upload
from tests.test_inbound_email import (  # noqa: F401 - fixtures
    CUSTOMER,
    PNG,
    conversation,
    desk,
    email_inbox,
    inbound,
    mail,
    nodes,
    sent_to,
)

IMAP_SET = f"""mutation($i: ID!, $in: InboxImapInput!) {{ inboxImapSet(inboxId: $i, input: $in) {{
  imap {{ host port username mailbox enabled lastUid lastError }} {ERR} }} }}"""
IMAP = "query($i: ID!) { inboxImap(inboxId: $i) { lastUid lastPolledAt lastError enabled } }"


@pytest.fixture(scope="module")
def dovecot():
    reason = unavailable()
    if reason:
        pytest.skip(reason)
    server = Dovecot(["support", "dora"]).start()
    yield server
    server.stop()


async def until(check, timeout: float = 15.0):
    deadline = asyncio.get_running_loop().time() + timeout
    while True:
        value = await check()
        if value or asyncio.get_running_loop().time() > deadline:
            return value
        await asyncio.sleep(0.1)


async def upload(desk: Desk, server, name: str, data: bytes) -> str:
    """The agent uploads a file for the next message (to this server: the session's public URL is not its port)."""
    payload = await request_upload(desk, desk.agent, name, "image/png", len(data))
    assert payload["errors"] == [], payload
    parts = urlsplit(payload["upload"]["url"])
    payload["upload"]["url"] = server.url + parts.path + (f"?{parts.query}" if parts.query else "")
    response = await put_file(payload["upload"], data, "image/png")
    assert response.status_code in (200, 201, 204), response.text
    return payload["attachment"]["id"]


async def records(desk: Desk, count: int) -> list[dict]:
    async def enough():
        found = await inbound(desk)
        return found if len(found) >= count else None

    found = await until(enough)
    assert found, f"fewer than {count} emails received; got {await inbound(desk)}"
    return found


async def test_email_both_ways_through_a_real_imap_mailbox(
    desk: Desk, email_inbox: str, smtp, server, dovecot: Dovecot, db_engine
):
    body = await desk.data(
        desk.admin,
        IMAP_SET,
        {
            "i": email_inbox,
            "in": {
                "host": "127.0.0.1",
                "port": dovecot.port,
                "ssl": False,
                "username": "support",
                "password": PASSWORD,
            },
        },
    )
    assert body["inboxImapSet"]["errors"] == [], body
    assert PASSWORD not in str(body)
    async with db_engine.connect() as conn:  # encrypted at rest
        [(stored, key_id)] = (
            await conn.execute(text("SELECT password_encrypted, password_key_id FROM inbox_imap"))
        ).all()
    assert stored.startswith(f"v1:{key_id}:") and PASSWORD not in stored
    # An agent may not read or change the mailbox.
    denied = await desk.run(desk.agent, IMAP, {"i": email_inbox})
    assert denied["errors"][0]["extensions"]["code"] == "FORBIDDEN"

    raw, first_id = mail("The lid is cracked, photo attached.", attachment=("lid.png", "image/png", PNG))
    dovecot.append("support", raw)
    [record] = await records(desk, 1)
    assert record["source"] == "IMAP" and record["status"] == "PROCESSED" and record["messageIdHeader"] == first_id
    conv_id = record["conversationId"]
    [first] = nodes(await conversation(desk, conv_id))
    assert first["content"] == "The lid is cracked, photo attached."
    assert first["attachments"] == [{"fileName": "lid.png", "contentType": "image/png", "byteSize": len(PNG)}]

    # The agent answers; the reply is delivered into the customer's mailbox and read from there.
    label = await upload(desk, server, "return-label.png", PNG)
    reply = await desk.data(
        desk.agent,
        f"""mutation($c: ID!, $a: [ID!]) {{ messageCreate(input: {{conversationId: $c,
        content: "A new lid is on its way.", attachmentIds: $a}}) {{ message {{ id }} {ERR} }} }}""",
        {"c": conv_id, "a": [label]},
    )
    assert reply["messageCreate"]["errors"] == []
    sent = await sent_to(smtp, CUSTOMER, "A new lid is on its way.")
    dovecot.append("dora", sent.as_bytes())
    [delivered] = [email.message_from_bytes(m, policy=policy.default) for m in dovecot.messages("dora")]
    assert str(delivered["In-Reply-To"]) == first_id and str(delivered["References"]) == first_id
    assert str(delivered["Subject"]) == "Re: Where is my parcel?"
    reply_address = str(delivered["Reply-To"])
    [attached] = list(delivered.iter_attachments())
    assert attached.get_filename() == "return-label.png" and attached.get_content() == PNG

    # The customer answers from a client that keeps no threading headers, the reply address in Cc.
    answer, _ = mail("Thank you!", to="orders@customer.test", cc=reply_address, subject="lid")
    dovecot.append("support", answer)
    # Her out-of-office answer to our reply: kept, never answered, never reopening.
    auto, _ = mail("I am away.", in_reply_to=str(delivered["Message-ID"]), headers={"Auto-Submitted": "auto-replied"})
    dovecot.append("support", auto)
    found = await records(desk, 3)
    assert sorted(r["status"] for r in found) == ["AUTO_REPLY", "PROCESSED", "PROCESSED"]
    assert {r["conversationId"] for r in found} == {conv_id}
    contents = [n["content"] for n in nodes(await conversation(desk, conv_id))][::-1]
    assert contents == ["The lid is cracked, photo attached.", "A new lid is on its way.", "Thank you!", "I am away."]
    await asyncio.sleep(1.0)
    assert len([m for m in smtp.messages if CUSTOMER in str(m["To"])]) == 1  # the auto-reply got no answer

    # Restart the poller: mail that arrives while it is stopped is read once it is back, and only once.
    scheduler = server.app.state.scheduler
    await asyncio.to_thread(lambda: asyncio.run_coroutine_threadsafe(scheduler.stop(), server.loop).result(15))
    try:
        for n in (1, 2):
            raw, _ = mail(f"While you were away {n}", subject=f"new {n}")
            dovecot.append("support", raw)
        await asyncio.sleep(1.5)
        assert len(await inbound(desk)) == 3
    finally:
        server.loop.call_soon_threadsafe(scheduler.start)
    found = await records(desk, 5)
    await asyncio.sleep(1.5)  # several more polls
    found = await inbound(desk)
    assert len(found) == 5 and sorted(r["subject"] for r in found if r["subject"].startswith("new")) == [
        "new 1",
        "new 2",
    ]
    state = (await desk.data(desk.admin, IMAP, {"i": email_inbox}))["inboxImap"]
    assert state["lastUid"] == 5 and state["lastError"] == "" and state["lastPolledAt"]


IMAP_PUSH = "query($i: ID!) { inboxImap(inboxId: $i) { push lastError } }"


@pytest.fixture
def empty_dovecot(dovecot: Dovecot):  # the module's server keeps the mail of the tests before
    server = Dovecot(["support"]).start()
    yield server
    server.stop()


async def test_a_server_offering_idle_pushes_new_mail_without_waiting_for_the_poll(
    desk: Desk, email_inbox: str, server, empty_dovecot: Dovecot, tmp_path
):
    """With the next poll an hour away, only IDLE can bring a customer's email in within seconds;
    one of two schedulers holds the watch, and when it stops the other takes over."""
    from tests.conftest import make_settings
    from tests.support.server import LiveServer

    body = await desk.data(
        desk.admin,
        IMAP_SET,
        {
            "i": email_inbox,
            "in": {
                "host": "127.0.0.1",
                "port": empty_dovecot.port,
                "ssl": False,
                "username": "support",
                "password": PASSWORD,
            },
        },
    )
    assert body["inboxImapSet"]["errors"] == [], body
    assert server.pause_scheduler()  # the suite's server polls every half second
    settings = make_settings(tmp_path, mail_imap_poll_seconds=3600, mail_imap_idle_check_seconds=0.5)
    pushers = [LiveServer(settings).start(), LiveServer(settings).start()]
    try:

        def holders() -> list[LiveServer]:
            return [s for s in pushers if s.app.state.scheduler.imap_idle.watching]

        async def pushing():
            state = (await desk.data(desk.admin, IMAP_PUSH, {"i": email_inbox}))["inboxImap"]
            return state["push"] == "IDLE" and len(holders()) == 1

        assert await until(pushing), (await desk.data(desk.admin, IMAP_PUSH, {"i": email_inbox}), holders())
        await asyncio.sleep(1.5)  # several checks later, still one watcher
        [holder] = holders()
        async with httpx.AsyncClient() as client:
            ready = (await client.get(f"{server.url}/readyz")).json()
        assert ready["mail"]["imap"]["idle"] == 1, ready

        raw, first_id = mail("Pushed, not polled.", subject="push 1")
        empty_dovecot.append("support", raw)
        [record] = await records(desk, 1)
        assert record["source"] == "IMAP" and record["messageIdHeader"] == first_id

        holder.pause_scheduler()  # gives the watch back

        async def taken_over():
            return len(holders()) == 1 and holder not in holders()

        assert await until(taken_over), "the other scheduler did not take the watch"
        raw, second_id = mail("Pushed again.", subject="push 2")
        empty_dovecot.append("support", raw)
        found = await records(desk, 2)
        assert sorted(r["messageIdHeader"] for r in found) == sorted([first_id, second_id])
    finally:
        for s in pushers:
            s.stop()
        server.resume_scheduler()
