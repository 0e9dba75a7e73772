"""An email inbox's own outgoing SMTP server: administrators set it (the password encrypted at rest,
never shown), the inbox's replies then go through it — a second real aiosmtpd that requires the
login — instead of the installation's server; switched off, replies go back to the installation's.
Bad settings are refused with nothing stored."""

from __future__ import annotations

import asyncio
import email
import email.policy

import pytest
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult
from sqlalchemy import select

from db.models import InboxSmtp
from tests.support.desk import ERR, Desk
from tests.support.server import free_port
from tests.test_inbound_email import CUSTOMER, desk, email_inbox, inbound, mail, post  # noqa: F401 - fixtures

SET = """mutation($i: ID!, $input: InboxSmtpInput!) { inboxSmtpSet(inboxId: $i, input: $input) {
  smtp { inboxId host port tlsMode username hasPassword enabled } errors { field code message } } }"""
GET = "query($i: ID!) { inboxSmtp(inboxId: $i) { host port tlsMode username hasPassword enabled } }"
USER, PASSWORD = "relay-user", "relay-s3cret-password"


class OwnServer:
    """An SMTP server that takes mail only after a login with USER and PASSWORD."""

    def __init__(self) -> None:
        self.messages: list = []
        self.logins: list[tuple[str, str]] = []
        self.port = free_port()
        server = self

        class Handler:
            async def handle_DATA(self, smtp, session, envelope):  # aiosmtpd's hook name
                server.messages.append(email.message_from_bytes(envelope.content, policy=email.policy.default))
                return "250 OK"

        def authenticator(smtp, session, envelope, mechanism, auth_data):
            login, password = auth_data.login.decode(), auth_data.password.decode()
            self.logins.append((login, password))
            return AuthResult(success=(login, password) == (USER, PASSWORD))

        self.controller = Controller(
            Handler(),
            hostname="127.0.0.1",
            port=self.port,
            authenticator=authenticator,
            auth_required=True,
            auth_require_tls=False,
        )


@pytest.fixture
def own_smtp():
    server = OwnServer()
    server.controller.start()
    try:
        yield server
    finally:
        server.controller.stop()


async def wait_for(messages: list, content: str, timeout: float = 15):
    deadline = asyncio.get_running_loop().time() + timeout
    while asyncio.get_running_loop().time() < deadline:
        for msg in list(messages):
            if content in msg.get_body(preferencelist=("plain",)).get_content():
                return msg
        await asyncio.sleep(0.05)
    raise AssertionError(f"no email with {content!r}")


async def reply(desk: Desk, conversation_id: str, content: str) -> None:
    body = await desk.data(
        desk.agent,
        f"mutation($c: ID!, $t: String!) {{ messageCreate(input: {{conversationId: $c, content: $t}}) {{ message {{ id }} {ERR} }} }}",
        {"c": conversation_id, "t": content},
    )
    assert body["messageCreate"]["errors"] == [], body


async def test_an_inbox_with_its_own_server_replies_through_it(desk, email_inbox, smtp, own_smtp, gql, db_engine):
    settings = {"host": "127.0.0.1", "port": own_smtp.port, "tlsMode": "NONE", "username": USER, "password": PASSWORD}
    body = await desk.data(desk.admin, SET, {"i": email_inbox, "input": settings})
    assert body["inboxSmtpSet"]["errors"] == [], body
    shown = body["inboxSmtpSet"]["smtp"]
    assert shown["host"] == "127.0.0.1" and shown["hasPassword"] is True and shown["username"] == USER
    assert "password" not in shown
    async with db_engine.connect() as conn:
        stored = (await conn.execute(select(InboxSmtp.password_encrypted, InboxSmtp.password_key_id))).one()
    assert PASSWORD not in stored[0] and stored[0].startswith("v1:") and stored[1]

    raw, first_id = mail("Hello, my parcel has not arrived.")
    assert (await post(gql, raw)).status_code == 202
    [record] = await inbound(desk)
    await reply(desk, record["conversationId"], "It ships today.")
    answer = await wait_for(own_smtp.messages, "It ships today.")
    assert str(answer["To"]) == CUSTOMER and str(answer["In-Reply-To"]) == first_id
    assert "support@shop.test" in str(answer["From"])
    assert own_smtp.logins == [(USER, PASSWORD)]
    assert not [m for m in smtp.messages if CUSTOMER in str(m["To"])]  # not through the installation's
    # A transcript of the conversation goes out as the inbox too.
    body = await desk.data(
        desk.agent,
        f'mutation($c: ID!) {{ conversationTranscriptSend(conversationId: $c, email: "boss@shop.test") {{ {ERR} }} }}',
        {"c": record["conversationId"]},
    )
    assert body["conversationTranscriptSend"]["errors"] == []
    transcript = await wait_for(own_smtp.messages, "Hello, my parcel has not arrived.")
    assert str(transcript["To"]) == "boss@shop.test" and "support@shop.test" in str(transcript["From"])

    # Keeping the stored password while changing something else; then switching it off.
    body = await desk.data(
        desk.admin, SET, {"i": email_inbox, "input": {**settings, "password": None, "enabled": False}}
    )
    assert body["inboxSmtpSet"]["errors"] == [] and body["inboxSmtpSet"]["smtp"]["hasPassword"] is True
    await reply(desk, record["conversationId"], "Tracking number follows.")
    await wait_for(smtp.messages, "Tracking number follows.")
    assert len(own_smtp.messages) == 2


async def test_bad_settings_are_refused_and_only_administrators_of_the_account_set_them(desk, email_inbox, gql):
    cases = [
        ({"host": "bad host!", "port": 25}, "host", "INVALID"),
        ({"host": "smtp.shop.test", "port": 0}, "port", "INVALID"),
        ({"host": "smtp.shop.test", "username": "someone"}, "password", "REQUIRED"),
        ({"host": "smtp.shop.test", "username": "a\r\nRCPT TO:<x@y>", "password": "p"}, "username", "INVALID"),
    ]
    for settings, field, code in cases:
        body = await desk.data(desk.admin, SET, {"i": email_inbox, "input": settings})
        errors = body["inboxSmtpSet"]["errors"]
        assert {"field": field, "code": code} in [{"field": e["field"], "code": e["code"]} for e in errors], errors
    assert (await desk.data(desk.admin, GET, {"i": email_inbox}))["inboxSmtp"] is None
    # An API inbox has no SMTP server.
    body = await desk.data(desk.admin, SET, {"i": desk.inbox_id, "input": {"host": "smtp.shop.test"}})
    assert [e["code"] for e in body["inboxSmtpSet"]["errors"]] == ["INVALID"]
    # Agents may not set or read it.
    refused = await desk.run(desk.agent, SET, {"i": email_inbox, "input": {"host": "smtp.evil.test"}})
    assert refused["errors"][0]["extensions"]["code"] == "FORBIDDEN"
    assert (await desk.data(desk.admin, GET, {"i": email_inbox}))["inboxSmtp"] is None


IMAP_SET = """mutation($i: ID!, $input: InboxImapInput!) { inboxImapSet(inboxId: $i, input: $input) {
  imap { host } errors { field code } } }"""


async def test_private_mail_hosts_are_refused_by_default(desk, email_inbox, server):
    """Like webhook targets: an administrator may not point an inbox's SMTP or IMAP server at loopback,
    private, link-local or reserved addresses (internal services, cloud metadata) unless the
    installation allows it (`PARLEY_MAIL_ALLOW_PRIVATE_HOSTS`); nothing is stored."""
    before = server.settings.mail_allow_private_hosts
    server.settings.mail_allow_private_hosts = False
    try:
        for host in ("127.0.0.1", "10.1.2.3", "169.254.169.254", "localhost", "2130706433"):
            smtp_body = await desk.data(desk.admin, SET, {"i": email_inbox, "input": {"host": host, "port": 25}})
            assert smtp_body["inboxSmtpSet"]["errors"] == [
                {
                    "field": "host",
                    "code": "FORBIDDEN_TARGET",
                    "message": smtp_body["inboxSmtpSet"]["errors"][0]["message"],
                }
            ], (host, smtp_body)
            imap_body = await desk.data(
                desk.admin,
                IMAP_SET,
                {"i": email_inbox, "input": {"host": host, "port": 993, "username": "u", "password": "p"}},
            )
            assert imap_body["inboxImapSet"] == {
                "imap": None,
                "errors": [{"field": "host", "code": "FORBIDDEN_TARGET"}],
            }, (
                host,
                imap_body,
            )
        assert (await desk.data(desk.admin, GET, {"i": email_inbox}))["inboxSmtp"] is None
    finally:
        server.settings.mail_allow_private_hosts = before
