"""Customer email comes in through POST /mail/inbound (the HTTP door; `parley mail-in` and IMAP feed
the same receiver): it opens or joins a conversation by threading headers or the reply address (in
To or Cc), the sender becomes a contact, CC/BCC, text, sanitised HTML and attachments are kept;
duplicates, loops, auto-replies and bounces never make a second message, reopen a conversation or
trigger a reply; a wrong secret, malformed MIME and oversized mail are refused with nothing
half-written; every email is recorded for the account's administrators."""

from __future__ import annotations

import asyncio
import contextlib
from email.message import EmailMessage
from email.utils import make_msgid

import aiosmtplib
import httpx
import pytest
from sqlalchemy import func, select

from db.models import Conversation, InboundEmail, Message
from db.session import create_session_factory
from tests.conftest import TEST_MAIL_SECRET
from tests.support.accounts import signup
from tests.support.desk import ERR, Desk, build_desk

PNG = (
    b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR\x00\x00\x00\x01\x00\x00\x00\x01\x08\x06\x00\x00\x00\x1f\x15\xc4\x89"
    b"\x00\x00\x00\rIDATx\x9cc\xf8\xff\xff?\x00\x05\xfe\x02\xfe\xa7\x35\x81\x84\x00\x00\x00\x00IEND\xaeB`\x82"
)
CUSTOMER = "dora@customer.test"
CONVERSATION = """query($id: ID!) { conversation(id: $id) { id status contact { email name }
  messages(first: 50) { edges { node { id content messageType contentAttributes
    senderContact { email } attachments { fileName contentType byteSize } } } } } }"""
FIELDS = "id status source fromAddress subject error messageIdHeader parseResult inboxId conversationId messageId"
INBOUND = f"query {{ inboundEmails(first: 50) {{ edges {{ node {{ {FIELDS} }} }} }} }}"


@pytest.fixture
async def desk(gql, smtp) -> Desk:
    return await build_desk(gql, smtp)


@pytest.fixture
async def email_inbox(desk: Desk, smtp) -> str:
    body = await desk.data(
        desk.admin,
        f"""mutation {{ inboxCreate(input: {{name: "Support", channelType: EMAIL,
      channelConfig: {{email: "support@shop.test"}}}}) {{ inbox {{ id }} {ERR} }} }}""",
    )
    inbox_id = body["inboxCreate"]["inbox"]["id"]
    await desk.data(
        desk.admin,
        "mutation($i: ID!, $u: [ID!]!) { inboxMembersSet(id: $i, userIds: $u) { errors { code } } }",
        {"i": inbox_id, "u": [desk.user_ids["agent"]]},
    )
    smtp.clear()
    return inbox_id


def mail(
    text: str,
    *,
    to: str = "support@shop.test",
    cc: str | None = None,
    sender: str = f"Dora Customer <{CUSTOMER}>",
    subject: str = "Where is my parcel?",
    html: str | None = None,
    in_reply_to: str | None = None,
    attachment: tuple[str, str, bytes] | None = None,
    headers: dict[str, str] | None = None,
) -> tuple[bytes, str]:
    msg = EmailMessage()
    msg["From"] = sender
    msg["To"] = to
    if cc:
        msg["Cc"] = cc
    msg["Subject"] = subject
    message_id = make_msgid(domain="customer.test")
    msg["Message-ID"] = message_id
    if in_reply_to:
        msg["In-Reply-To"] = in_reply_to
        msg["References"] = in_reply_to
    for name, value in (headers or {}).items():
        msg[name] = value
    msg.set_content(text)
    if html:
        msg.add_alternative(html, subtype="html")
    if attachment:
        name, ctype, data = attachment
        major, minor = ctype.split("/")
        msg.add_attachment(data, maintype=major, subtype=minor, filename=name)
    return msg.as_bytes(), message_id


async def post(gql, raw: bytes, *, secret: str | None = TEST_MAIL_SECRET, bearer: bool = False) -> httpx.Response:
    headers = {"Content-Type": "message/rfc822"}
    if secret is not None:
        headers.update({"Authorization": f"Bearer {secret}"} if bearer else {"X-Parley-Mail-Secret": secret})
    async with httpx.AsyncClient(base_url=gql.base_url) as client:
        return await client.post("/mail/inbound", content=raw, headers=headers)


async def inbound(desk: Desk) -> list[dict]:
    return [e["node"] for e in (await desk.data(desk.admin, INBOUND))["inboundEmails"]["edges"]]


async def conversation(desk: Desk, conversation_id: str) -> dict:
    return (await desk.data(desk.agent, CONVERSATION, {"id": conversation_id}))["conversation"]


def nodes(conv: dict) -> list[dict]:
    return [e["node"] for e in conv["messages"]["edges"]]


async def sent_to(smtp, address: str, content: str, timeout: float = 15):
    deadline = asyncio.get_running_loop().time() + timeout
    while asyncio.get_running_loop().time() < deadline:
        for msg in list(smtp.messages):
            if address in str(msg["To"]) and content in smtp.text_of(msg):
                return msg
        await asyncio.sleep(0.05)
    raise AssertionError(f"no email to {address} with {content!r}")


async def test_a_customer_email_opens_a_conversation_and_the_thread_holds_both_ways(
    desk: Desk, email_inbox: str, smtp, gql
):
    raw, first_id = mail(
        "Hello, my parcel has not arrived.",
        cc="Bob Partner <bob@customer.test>",
        html='<p>Hello, my <b>parcel</b> has not arrived.</p><script>alert(1)</script><a href="javascript:x()" onclick="y()">x</a>',
        attachment=("receipt.png", "image/png", PNG),
    )
    response = await post(gql, raw)
    assert response.status_code == 202, response.text
    assert response.json()["status"] == "processed"
    [record] = await inbound(desk)
    assert record["status"] == "PROCESSED" and record["source"] == "HTTP" and record["messageIdHeader"] == first_id
    assert record["inboxId"] == email_inbox and record["parseResult"]["cc"] == ["bob@customer.test"]
    conv = await conversation(desk, record["conversationId"])
    assert conv["status"] == "OPEN" and conv["contact"] == {"email": CUSTOMER, "name": "Dora Customer"}
    [first] = nodes(conv)
    assert first["senderContact"] == {"email": CUSTOMER}
    assert first["id"] == record["messageId"] and first["messageType"] == "INCOMING"
    assert first["content"] == "Hello, my parcel has not arrived."
    email = first["contentAttributes"]["email"]
    assert email["message_id"] == first_id and email["cc"] == ["bob@customer.test"]
    assert "<b>parcel</b>" in email["html"] and "script" not in email["html"] and "javascript" not in email["html"]
    assert "onclick" not in email["html"]
    assert first["attachments"] == [{"fileName": "receipt.png", "contentType": "image/png", "byteSize": len(PNG)}]

    # The agent's reply reaches the customer threaded, copying Bob, with the conversation's reply address.
    body = await desk.data(
        desk.agent,
        f"""mutation($c: ID!) {{ messageCreate(input: {{conversationId: $c, content: "It ships today."}})
        {{ message {{ id }} {ERR} }} }}""",
        {"c": conv["id"]},
    )
    assert body["messageCreate"]["errors"] == []
    answer = await sent_to(smtp, CUSTOMER, "It ships today.")
    assert str(answer["In-Reply-To"]) == first_id and str(answer["References"]) == first_id
    assert str(answer["Subject"]) == "Re: Where is my parcel?" and str(answer["Cc"]) == "bob@customer.test"
    reply_address = str(answer["Reply-To"])
    assert reply_address.startswith("reply+") and reply_address.endswith("@shop.test")

    # The customer answers with threading headers: the same conversation.
    raw, _ = mail("Thanks!", in_reply_to=str(answer["Message-ID"]), subject="Re: Where is my parcel?")
    assert (await post(gql, raw)).status_code == 202
    # Bob answers from a client that drops the headers, with the reply address only in Cc.
    raw, _ = mail("Me too", sender="bob@customer.test", to="someone@else.test", cc=reply_address, subject="parcel")
    assert (await post(gql, raw)).status_code == 202
    records = await inbound(desk)
    assert [r["status"] for r in records] == ["PROCESSED"] * 3
    assert {r["conversationId"] for r in records} == {conv["id"]}
    messages = nodes(await conversation(desk, conv["id"]))[::-1]  # newest first
    assert [n["content"] for n in messages] == [
        "Hello, my parcel has not arrived.",
        "It ships today.",
        "Thanks!",
        "Me too",
    ]
    assert [n["senderContact"]["email"] for n in messages if n["messageType"] == "INCOMING"] == [
        CUSTOMER,
        CUSTOMER,
        "bob@customer.test",
    ]
    # A reply address whose signature is forged opens nothing.
    forged = reply_address.replace("reply+", "reply+9").split("@")[0] + "@shop.test"
    raw, _ = mail("Guess", to=forged)
    response = await post(gql, raw)
    assert response.status_code == 422 and response.json()["error"]["code"] == "UNKNOWN_RECIPIENT"


async def test_duplicates_loops_auto_replies_and_bounces_make_no_second_message(
    desk: Desk, email_inbox: str, smtp, gql, db_engine
):
    raw, first_id = mail("Order 4711?")
    assert (await post(gql, raw)).status_code == 202
    assert (await post(gql, raw)).json()["status"] == "duplicate"  # delivered twice: one message
    [conv_id] = {r["conversationId"] for r in await inbound(desk) if r["conversationId"]}
    body = await desk.data(
        desk.agent,
        f"""mutation($c: ID!) {{ messageCreate(input: {{conversationId: $c, content: "Looking into it"}})
        {{ message {{ id }} {ERR} }} }}""",
        {"c": conv_id},
    )
    assert body["messageCreate"]["errors"] == []
    ours = await sent_to(smtp, CUSTOMER, "Looking into it")
    resolved = await desk.data(
        desk.agent,
        f"mutation($c: ID!) {{ conversationStatusUpdate(id: $c, input: {{status: RESOLVED}}) {{ {ERR} }} }}",
        {"c": conv_id},
    )
    assert resolved["conversationStatusUpdate"]["errors"] == [], resolved
    smtp.clear()

    # Our own reply coming back (a forwarding loop) is dropped.
    ours["Delivered-To"] = "support@shop.test"  # the customer forwards everything back to us
    assert (await post(gql, ours.as_bytes())).json()["status"] == "loop"
    # The customer's out-of-office answer joins the conversation without reopening it or being answered.
    auto, _ = mail(
        "I am away until Monday.", in_reply_to=str(ours["Message-ID"]), headers={"Auto-Submitted": "auto-replied"}
    )
    assert (await post(gql, auto)).json()["status"] == "auto_reply"
    bulk, _ = mail("Newsletter", headers={"Precedence": "bulk"})
    assert (await post(gql, bulk)).json()["status"] == "auto_reply"  # answers nothing: no conversation
    bounce = (
        b"From: MAILER-DAEMON@mx.customer.test\r\nTo: support@shop.test\r\nSubject: Undelivered Mail\r\n"
        b"Message-ID: <dsn.1@mx.customer.test>\r\nMIME-Version: 1.0\r\n"
        b'Content-Type: multipart/report; report-type=delivery-status; boundary="r"\r\n\r\n'
        b"--r\r\nContent-Type: text/plain\r\n\r\nDelivery failed.\r\n"
        b"--r\r\nContent-Type: message/delivery-status\r\n\r\nReporting-MTA: dns; mx.customer.test\r\n\r\n"
        b"--r--\r\n"
    )
    assert (await post(gql, bounce)).json()["status"] == "bounce"

    conv = await conversation(desk, conv_id)
    assert conv["status"] == "RESOLVED"
    assert [n["content"] for n in nodes(conv) if n["messageType"] == "INCOMING"] == [
        "I am away until Monday.",
        "Order 4711?",
    ]
    await asyncio.sleep(1)
    assert list(smtp.messages) == []  # nothing answered the automatic mail
    statuses = sorted(r["status"] for r in await inbound(desk))
    assert statuses == ["AUTO_REPLY", "AUTO_REPLY", "BOUNCE", "DUPLICATE", "LOOP", "PROCESSED"]
    async with create_session_factory(db_engine)() as session:
        assert await session.scalar(select(func.count()).select_from(Conversation)) == 1


async def test_a_wrong_secret_malformed_or_oversized_mail_is_refused_with_nothing_half_written(
    desk: Desk, email_inbox: str, gql, db_engine
):
    raw, _ = mail("Hello")
    for secret in (None, "wrong"):
        response = await post(gql, raw, secret=secret)
        assert response.status_code == 401 and response.json()["error"]["code"] == "UNAUTHORIZED"
    sessions = create_session_factory(db_engine)

    async def counts() -> tuple[int, int, int]:
        async with sessions() as session:
            return tuple(  # type: ignore[return-value]
                [
                    await session.scalar(select(func.count()).select_from(m))
                    for m in (InboundEmail, Conversation, Message)
                ]
            )

    assert await counts() == (0, 0, 0)

    broken = (
        b"From: dora@customer.test\r\nTo: support@shop.test\r\nSubject: broken\r\n"
        b'Content-Type: multipart/mixed; boundary="b1"\r\n\r\nno parts here at all\r\n'
    )
    response = await post(gql, broken)
    assert response.status_code == 422 and response.json()["error"]["code"] == "MALFORMED"
    assert "MIME" in response.json()["error"]["message"]
    response = await post(gql, b"To: support@shop.test\r\nSubject: who?\r\n\r\nnobody sent this")
    assert response.status_code == 422 and "From" in response.json()["error"]["message"]
    big, _ = mail("x" * 300_000)
    response = await post(gql, big, bearer=True)
    assert response.status_code == 413 and response.json()["error"]["code"] == "TOO_LARGE"
    raw, _ = mail("Hello", to="nobody@nowhere.test")
    assert (await post(gql, raw)).json()["error"]["code"] == "UNKNOWN_RECIPIENT"
    assert (await counts())[1:] == (0, 0)  # recorded, but no conversation or message
    records = await inbound(desk)
    assert sorted(r["status"] for r in records) == ["FAILED", "FAILED"]  # the unknown recipient is no account's
    assert all(r["error"] for r in records)
    assert (await post(gql, mail("Now a good one")[0], bearer=True)).status_code == 202


async def test_received_emails_are_seen_by_administrators_of_their_account_only(desk: Desk, email_inbox: str, gql):
    raw, _ = mail("Hello")
    assert (await post(gql, raw)).status_code == 202
    assert len(await inbound(desk)) == 1
    other = await signup(gql, account="Other")
    body = await gql.data(INBOUND, headers=other.headers())
    assert body["inboundEmails"]["edges"] == []
    denied = await desk.run(desk.agent, INBOUND)
    assert denied["errors"][0]["extensions"]["code"] == "FORBIDDEN"


@pytest.fixture
async def mail_in(server, settings):
    """`parley mail-in` on a free port of this event loop, its jobs sent to the test server's broker."""
    from parley import mail_in as listener

    started: asyncio.Future[int] = asyncio.get_running_loop().create_future()
    task = asyncio.create_task(
        listener.serve(settings, host="127.0.0.1", port=0, broker=server.app.state.broker, started=started)
    )
    port = await asyncio.wait_for(started, 10)
    yield port
    task.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await task


async def test_mail_in_takes_mail_over_smtp_and_refuses_unknown_recipients_and_oversized_mail(
    desk: Desk, email_inbox: str, smtp, gql, mail_in: int
):
    raw, message_id = mail("Hello over SMTP", attachment=("notes.pdf", "application/pdf", b"%PDF-1.4\n%%EOF\n"))
    await aiosmtplib.send(raw, sender=CUSTOMER, recipients=["support@shop.test"], hostname="127.0.0.1", port=mail_in)
    [record] = await inbound(desk)
    assert record["source"] == "SMTP" and record["status"] == "PROCESSED" and record["messageIdHeader"] == message_id
    [message] = nodes(await conversation(desk, record["conversationId"]))
    assert message["content"] == "Hello over SMTP"
    assert message["attachments"] == [{"fileName": "notes.pdf", "contentType": "application/pdf", "byteSize": 15}]

    client = aiosmtplib.SMTP(hostname="127.0.0.1", port=mail_in)
    await client.connect()
    await client.mail(CUSTOMER)
    with pytest.raises(aiosmtplib.SMTPRecipientRefused) as refused:
        await client.rcpt("nobody@nowhere.test")
    assert refused.value.code == 550
    await client.quit()

    big, _ = mail("x" * 300_000)
    with pytest.raises(aiosmtplib.SMTPResponseException) as too_large:
        await aiosmtplib.send(
            big, sender=CUSTOMER, recipients=["support@shop.test"], hostname="127.0.0.1", port=mail_in
        )
    assert too_large.value.code == 552
    assert len(await inbound(desk)) == 1  # refused before it was received

    async with httpx.AsyncClient(base_url=gql.base_url) as client_http:
        ready = (await client_http.get("/readyz")).json()
    assert ready["mail"]["httpIngress"] == "on"
    assert [listener["port"] for listener in ready["mail"]["mailIn"]] == [mail_in]


async def test_the_same_mail_delivered_twice_at_once_makes_one_message(desk: Desk, email_inbox: str, gql, db_engine):
    raw, _ = mail("Sent by two relays at the same moment")
    answers = await asyncio.gather(*(post(gql, raw) for _ in range(4)))
    assert all(a.status_code == 202 for a in answers), [a.text for a in answers]
    assert sorted(a.json()["status"] for a in answers) == ["duplicate"] * 3 + ["processed"]
    async with create_session_factory(db_engine)() as session:
        incoming = select(func.count()).select_from(Message).where(Message.message_type == "incoming")
        assert await session.scalar(incoming) == 1
        assert await session.scalar(select(func.count()).select_from(Conversation)) == 1


async def test_listing_received_emails_costs_the_same_statements_for_a_longer_page(
    desk: Desk, email_inbox: str, gql, server
):
    from tests.test_query_counts import count_statements

    for n in range(6):
        assert (await post(gql, mail(f"Mail {n}", subject=f"s{n}")[0])).status_code == 202
    engine = server.app.state.services.engine
    counts = {}
    await desk.data(desk.admin, "{ inboundEmails(first: 1) { edges { node { id } } } }")  # warms the credential cache
    for first in (2, 6):
        with count_statements(engine) as statements:
            body = await desk.data(
                desk.admin, f"{{ inboundEmails(first: {first}) {{ edges {{ node {{ {FIELDS} }} }} }} }}"
            )
        assert len(body["inboundEmails"]["edges"]) == first
        counts[first] = len(statements)
    assert counts[2] == counts[6] <= 3, counts


async def test_a_reply_to_a_merged_conversation_joins_the_one_it_was_merged_into(
    desk: Desk, email_inbox: str, gql, smtp
):
    """The customer answers the merged conversation's reply address: the answer joins the kept
    conversation, and the merged one stays resolved."""
    for text, subject in (("My parcel is late.", "late parcel"), ("Also, the invoice is wrong.", "invoice")):
        assert (await post(gql, mail(text, subject=subject)[0])).status_code == 202
    by_subject = {r["subject"]: r["conversationId"] for r in await inbound(desk)}
    keep, merge = by_subject["late parcel"], by_subject["invoice"]
    assert keep != merge
    reply = await desk.data(
        desk.agent,
        f"""mutation($c: ID!) {{ messageCreate(input: {{conversationId: $c, content: "Checking the invoice."}})
        {{ {ERR} }} }}""",
        {"c": merge},
    )
    assert reply["messageCreate"]["errors"] == []
    reply_address = str((await sent_to(smtp, CUSTOMER, "Checking the invoice."))["Reply-To"])
    merged = await desk.data(
        desk.agent,
        f"mutation($k: ID!, $m: ID!) {{ conversationMerge(keepId: $k, mergeId: $m) {{ {ERR} }} }}",
        {"k": keep, "m": merge},
    )
    assert merged["conversationMerge"]["errors"] == [], merged

    answer, _ = mail("Thanks, invoice 42.", to=reply_address, subject="invoice")  # no threading headers
    assert (await post(gql, answer)).status_code == 202
    contents = [n["content"] for n in nodes(await conversation(desk, keep))]
    assert "Thanks, invoice 42." in contents
    gone = await conversation(desk, merge)
    assert gone["status"] == "RESOLVED" and "Thanks, invoice 42." not in [n["content"] for n in nodes(gone)]
