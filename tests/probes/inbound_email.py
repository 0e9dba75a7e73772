"""Tenancy-walk probes of inbound email: the received emails' record, the IMAP mailboxes and the
inboxes' own SMTP servers."""

from __future__ import annotations

from tests.probes.base import PAYLOAD_ERRORS, Probe

# No B_STATE fragment: the snapshot query is at its root-field limit, and A's probes change nothing
# an inboundEmails snapshot would show (inboxImapSet's refusal is checked as a typed NOT_FOUND).
IMAP_INPUT = '{host: "imap.a.test", port: 993, username: "a", password: "a-password"}'
SMTP_INPUT = '{host: "smtp.a.test", port: 587, username: "a", password: "a-password"}'


async def setup_b(gql, world) -> None:
    h = world.admin_b.headers()
    inbox = await gql.data(
        'mutation { inboxCreate(input: {name: "B mail", channelType: EMAIL, channelConfig: {email: "help@b.test"}}) '
        "{ inbox { id } } }",
        headers=h,
    )
    world.b["email_inbox"] = inbox["inboxCreate"]["inbox"]["id"]
    body = await gql.data(
        f"mutation($i: ID!) {{ inboxImapSet(inboxId: $i, input: {IMAP_INPUT}) {{ {PAYLOAD_ERRORS} }} }}",
        {"i": world.b["email_inbox"]},
        headers=h,
    )
    assert body["inboxImapSet"]["errors"] == [], body
    body = await gql.data(
        f"mutation($i: ID!) {{ inboxSmtpSet(inboxId: $i, input: {SMTP_INPUT}) {{ {PAYLOAD_ERRORS} }} }}",
        {"i": world.b["email_inbox"]},
        headers=h,
    )
    assert body["inboxSmtpSet"]["errors"] == [], body


PROBES: dict[str, Probe | str] = {
    "inboundEmails": Probe("{ inboundEmails { edges { node { id fromAddress } } } }"),
    "inboxImap": Probe(
        "query($i: ID!) { inboxImap(inboxId: $i) { host username } }",
        lambda w: {"i": w.b["email_inbox"]},
        inside_a="NOT_FOUND",
    ),
    "inboxImapSet": Probe(
        f"mutation($i: ID!) {{ inboxImapSet(inboxId: $i, input: {IMAP_INPUT}) {{ {PAYLOAD_ERRORS} }} }}",
        lambda w: {"i": w.b["email_inbox"]},
        inside_a="PAYLOAD",
    ),
    "inboxSmtp": Probe(
        "query($i: ID!) { inboxSmtp(inboxId: $i) { host username } }",
        lambda w: {"i": w.b["email_inbox"]},
        inside_a="NOT_FOUND",
    ),
    "inboxSmtpSet": Probe(
        f"mutation($i: ID!) {{ inboxSmtpSet(inboxId: $i, input: {SMTP_INPUT}) {{ {PAYLOAD_ERRORS} }} }}",
        lambda w: {"i": w.b["email_inbox"]},
        inside_a="PAYLOAD",
    ),
}
