"""The installation's super admins: granted by the CLI, they list accounts with exact usage, suspend and
reactivate accounts (refused from the next request on, in every process), set feature limits that the
places adding members and inboxes enforce, and change installation-wide settings; each action is
audited. Anyone else gets FORBIDDEN."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import time
from collections.abc import Iterator

import pytest
from sqlalchemy import text

from schema.core.ids import decode_id
from tests.conftest import TEST_DATABASE_URL
from tests.support.accounts import INVITE, PASSWORD, add_agent, confirm_email, login, signup, unique_email
from tests.support.desk import ERR, build_desk
from tests.support.gql import GraphQLHTTP
from tests.support.server import LiveServer
from tests.test_query_counts import count_statements

ACCOUNTS = """query($first: Int, $after: String, $search: String) { installation { accounts(first: $first,
  after: $after, search: $search) { edges { cursor node { id name status limits { maxAgents maxInboxes }
  usage { members conversations messages storageBytes } } } pageInfo { hasNextPage endCursor } } } }"""
SUSPEND = f"""mutation($a: ID!, $r: String) {{ installationAccountSuspend(input: {{accountId: $a, reason: $r}}) {{
  account {{ id status }} {ERR} }} }}"""
REACTIVATE = f"""mutation($a: ID!) {{ installationAccountReactivate(input: {{accountId: $a}}) {{
  account {{ id status }} {ERR} }} }}"""
LIMITS = f"""mutation($input: InstallationAccountLimitsUpdateInput!) {{ installationAccountLimitsUpdate(input: $input) {{
  account {{ id limits {{ maxAgents maxInboxes }} }} {ERR} }} }}"""
SETTINGS = f"""mutation($s: Boolean) {{ installationSettingsUpdate(input: {{signupEnabled: $s}}) {{
  settings {{ signupEnabled }} {ERR} }} }}"""
AUDIT = "{ installation { auditLogs(first: 50) { edges { node { action targetType targetId changes actorLabel } } } } }"
ME = "{ me { user { email } } account { id } }"
INBOX = f"mutation($n: String!) {{ inboxCreate(input: {{name: $n, channelType: API}}) {{ inbox {{ id }} {ERR} }} }}"


def code(body: dict) -> str | None:
    errors = body.get("errors") or []
    return errors[0]["extensions"]["code"] if errors else None


def grant(settings, email: str) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if not k.startswith("PARLEY_")}
    env.update(
        PARLEY_ENV="test",
        PARLEY_DATABASE_URL=TEST_DATABASE_URL,
        PARLEY_REDIS_URL=settings.redis_url or "",
        PARLEY_SECRET_KEY=settings.secret_key,
        PARLEY_DATA_DIR=str(settings.data_dir),
        PARLEY_LOG_LEVEL="WARNING",
    )
    cmd = [sys.executable, "-m", "parley.cli", "superadmin", "grant", email]
    return subprocess.run(cmd, env=env, capture_output=True, timeout=120)


@pytest.fixture(scope="module")
def other(settings) -> Iterator[LiveServer]:
    """A second API instance on the same database and Redis."""
    with LiveServer(settings) as live:
        yield live


async def super_admin(gql, settings):
    root = await signup(gql, account="Operator")
    await gql.data(ME, headers=root.headers())  # its credential is cached before the grant
    done = grant(settings, root.email)
    assert done.returncode == 0, done.stderr.decode()[-2000:]
    assert f"{root.email} is now a super admin".encode() in done.stdout
    again = grant(settings, root.email)
    assert b"is already a super admin" in again.stdout
    missing = grant(settings, "nobody@example.test")
    assert missing.returncode != 0 and b"No user with the email" in missing.stderr
    # The CLI's broadcast reaches the server's cache a moment after the command returns.
    deadline = time.monotonic() + 10
    while code(await gql.execute("{ installation { settings { signupEnabled } } }", headers=root.headers())):
        assert time.monotonic() < deadline, "the grant never reached the server"
        await asyncio.sleep(0.05)
    return root


async def test_usage_numbers_are_exact_and_others_are_forbidden(gql, smtp, server, settings, db_engine):
    root = await super_admin(gql, settings)
    desk = await build_desk(gql, smtp)  # 3 members, an inbox, a contact
    first = await desk.new_conversation("one")
    await desk.incoming(first["id"], "two")
    await desk.new_conversation("three")
    account_pk = decode_id(desk.admin.account_id, "Account")
    async with db_engine.begin() as c:
        await c.execute(
            text(
                "INSERT INTO attachments (account_id, file_type, file_name, content_type, byte_size, storage_key, "
                "status, created_at) VALUES (:a, 'file', 'a.pdf', 'application/pdf', 3000000000, 'k1', 'attached', now()), "
                "(:a, 'file', 'b.pdf', 'application/pdf', 1234, 'k2', 'attached', now())"
            ),
            {"a": account_pk},
        )
        messages = (
            await c.execute(text("SELECT count(*) FROM messages WHERE account_id = :a"), {"a": account_pk})
        ).scalar_one()
    assert messages >= 3  # the three written plus activity lines, counted as the API counts them
    body = await gql.data(ACCOUNTS, {"search": "desk"}, headers=root.headers())
    [node] = [e["node"] for e in body["installation"]["accounts"]["edges"]]
    assert node["id"] == desk.admin.account_id and node["status"] == "ACTIVE"
    assert node["usage"] == {"members": 3, "conversations": 2, "messages": messages, "storageBytes": 3000001234.0}
    assert node["limits"] == {"maxAgents": None, "maxInboxes": None}

    # Paging walks every account once, oldest first.
    seen, after = [], None
    while True:
        page = (await gql.data(ACCOUNTS, {"first": 1, "after": after}, headers=root.headers()))["installation"]
        seen += [e["node"]["name"] for e in page["accounts"]["edges"]]
        if not page["accounts"]["pageInfo"]["hasNextPage"]:
            break
        after = page["accounts"]["pageInfo"]["endCursor"]
    assert seen == ["Operator", "Desk"]

    # An account's administrator, an agent and anonymous callers are refused.
    for headers in (desk.admin.headers(), desk.agent.headers(), {}):
        body = await gql.execute(ACCOUNTS, headers=headers)
        assert code(body) in ("FORBIDDEN", "UNAUTHENTICATED") and body["data"] is None, body
        body = await gql.execute(SUSPEND, {"a": desk.admin.account_id}, headers=headers)
        assert code(body) in ("FORBIDDEN", "UNAUTHENTICATED"), body
    assert code(await gql.execute(ACCOUNTS, headers=desk.admin.headers())) == "FORBIDDEN"


async def test_the_accounts_list_statement_count_does_not_grow_with_the_page(gql, smtp, server, settings, db_engine):
    root = await super_admin(gql, settings)
    async with db_engine.begin() as c:
        for n in range(60):
            await c.execute(
                text(
                    "INSERT INTO accounts (name, locale, timezone, status, settings, conversation_seq, event_seq, "
                    "created_at, updated_at) VALUES (:n, 'en', 'UTC', 'active', '{}', 0, 0, now(), now())"
                ),
                {"n": f"Tenant {n}"},
            )
    engine = server.app.state.services.engine
    await gql.data(ACCOUNTS, {"first": 1}, headers=root.headers())
    counts = {}
    for first in (5, 50):
        with count_statements(engine) as statements:
            body = await gql.data(ACCOUNTS, {"first": first}, headers=root.headers())
        assert len(body["installation"]["accounts"]["edges"]) == first
        counts[first] = len(statements)
    assert counts[5] == counts[50] == 1, counts


async def test_suspension_refuses_sign_in_sessions_and_tokens_at_once_on_every_instance(
    gql, smtp, server, other, settings
):
    root = await super_admin(gql, settings)
    gql2 = GraphQLHTTP(other.url)
    try:
        admin = await signup(gql, account="Suspendable")
        token = await gql.data('mutation { apiTokenCreate(input: {name: "ci"}) { secret } }', headers=admin.headers())
        api = {"Authorization": f"Bearer {token['apiTokenCreate']['secret']}"}
        for client in (gql, gql2):  # both instances hold the credentials in their caches
            for headers in (admin.headers(), api, admin.headers(), api):
                assert "errors" not in await client.execute(ME, headers=headers)

        bad = await gql.data(SUSPEND, {"a": admin.account_id, "r": "x" * 501}, headers=root.headers())
        assert [e["code"] for e in bad["installationAccountSuspend"]["errors"]] == ["TOO_LONG"]
        unknown = await gql.data(SUSPEND, {"a": "QWNjb3VudDo5OTk5OTk="}, headers=root.headers())
        assert [e["code"] for e in unknown["installationAccountSuspend"]["errors"]] == ["NOT_FOUND"]
        assert "errors" not in await gql2.execute(ME, headers=admin.headers())  # nothing changed yet

        done = await gql2.data(SUSPEND, {"a": admin.account_id, "r": "unpaid"}, headers=root.headers())
        assert done["installationAccountSuspend"] == {
            "account": {"id": admin.account_id, "status": "SUSPENDED"},
            "errors": [],
        }
        for client in (gql, gql2):
            for headers in (admin.headers(), api):
                body = await client.execute(ME, headers=headers)
                assert code(body) == "ACCOUNT_SUSPENDED", body
                assert body["errors"][0]["extensions"]["status"] == 403
        signed_in = await login(gql, admin.email, PASSWORD)
        assert [e["code"] for e in signed_in["errors"]] == ["ACCOUNT_SUSPENDED"] and signed_in["tokens"] is None

        back = await gql.data(REACTIVATE, {"a": admin.account_id}, headers=root.headers())
        assert back["installationAccountReactivate"]["account"]["status"] == "ACTIVE"
        for client in (gql, gql2):
            assert "errors" not in await client.execute(ME, headers=admin.headers())
            assert "errors" not in await client.execute(ME, headers=api)
        assert (await login(gql, admin.email, PASSWORD))["errors"] == []

        audit = (await gql.data(AUDIT, headers=root.headers()))["installation"]["auditLogs"]["edges"]
        actions = [(e["node"]["action"], e["node"]["targetId"]) for e in audit]
        pk = str(decode_id(admin.account_id, "Account"))
        assert actions[:2] == [("installation.account_reactivate", pk), ("installation.account_suspend", pk)]
        assert audit[1]["node"]["changes"] == {"status": ["active", "suspended"], "reason": "unpaid"}
        assert audit[1]["node"]["actorLabel"] == root.email
        assert ("installation.super_admin_grant", audit[-1]["node"]["targetId"]) == actions[-1]
        # The account's own administrators see what was done to their account.
        own = await gql.data(
            '{ auditLogs(first: 10, action: "installation.account_suspend") { edges { node { action } } } }',
            headers=admin.headers(),
        )
        assert len(own["auditLogs"]["edges"]) == 1
    finally:
        await gql2.aclose()


async def test_limits_are_enforced_where_members_and_inboxes_are_added(gql, smtp, server, settings, db_engine):
    root = await super_admin(gql, settings)
    admin = await signup(gql, account="Small")
    await confirm_email(gql, admin, smtp)
    await add_agent(gql, admin, smtp)  # 2 members now
    bad = await gql.data(
        LIMITS,
        {"input": {"accountId": admin.account_id, "maxAgents": -1, "maxInboxes": 100_001}},
        headers=root.headers(),
    )
    errors = bad["installationAccountLimitsUpdate"]["errors"]
    assert [(e["field"], e["code"]) for e in errors] == [("maxAgents", "OUT_OF_RANGE"), ("maxInboxes", "OUT_OF_RANGE")]
    limited = await gql.data(
        LIMITS, {"input": {"accountId": admin.account_id, "maxAgents": 3, "maxInboxes": 1}}, headers=root.headers()
    )
    assert limited["installationAccountLimitsUpdate"]["account"]["limits"] == {"maxAgents": 3, "maxInboxes": 1}

    # One seat left: an invitation takes it, a second is refused, re-inviting the same person is not.
    email = unique_email("seat")
    first = await gql.data(INVITE, {"input": {"email": email, "name": "S", "role": "AGENT"}}, headers=admin.headers())
    assert first["agentInvite"]["errors"] == []
    second = await gql.data(
        INVITE, {"input": {"email": unique_email("over"), "name": "O", "role": "AGENT"}}, headers=admin.headers()
    )
    [error] = second["agentInvite"]["errors"]
    assert (error["field"], error["code"]) == ("email", "LIMIT_REACHED") and "at most 3 agents" in error["message"]
    renewed = await gql.data(INVITE, {"input": {"email": email, "name": "S", "role": "AGENT"}}, headers=admin.headers())
    assert renewed["agentInvite"]["errors"] == []

    # Inboxes: the first fits, the second is refused and nothing is written.
    assert (await gql.data(INBOX, {"n": "One"}, headers=admin.headers()))["inboxCreate"]["errors"] == []
    refused = (await gql.data(INBOX, {"n": "Two"}, headers=admin.headers()))["inboxCreate"]
    assert refused["inbox"] is None and [e["code"] for e in refused["errors"]] == ["LIMIT_REACHED"]
    async with db_engine.connect() as c:
        inboxes = (
            await c.execute(
                text("SELECT count(*) FROM inboxes WHERE account_id = :a"),
                {"a": decode_id(admin.account_id, "Account")},
            )
        ).scalar_one()
    assert inboxes == 1

    # A limit lowered below what is there refuses what is added and removes nothing; null lifts it.
    lowered = await gql.data(LIMITS, {"input": {"accountId": admin.account_id, "maxAgents": 1}}, headers=root.headers())
    assert lowered["installationAccountLimitsUpdate"]["account"]["limits"] == {"maxAgents": 1, "maxInboxes": 1}
    lifted = await gql.data(
        LIMITS, {"input": {"accountId": admin.account_id, "maxInboxes": None}}, headers=root.headers()
    )
    assert lifted["installationAccountLimitsUpdate"]["account"]["limits"] == {"maxAgents": 1, "maxInboxes": None}
    assert (await gql.data(INBOX, {"n": "Two"}, headers=admin.headers()))["inboxCreate"]["errors"] == []

    audit = (await gql.data(AUDIT, headers=root.headers()))["installation"]["auditLogs"]["edges"]
    changes = [e["node"]["changes"] for e in audit if e["node"]["action"] == "installation.account_limits_update"]
    assert changes == [
        {"maxInboxes": [1, None]},
        {"maxAgents": [3, 1]},
        {"maxAgents": [None, 3], "maxInboxes": [None, 1]},
    ]


async def test_sign_ups_follow_the_installation_setting(gql, smtp, server, settings):
    root = await super_admin(gql, settings)
    signup_doc = (
        """mutation($input: AccountCreateInput!) { accountCreate(input: $input) { account { id } errors { code } } }"""
    )
    new = {"accountName": "Late", "name": "L", "email": unique_email("late"), "password": PASSWORD}
    try:
        off = await gql.data(SETTINGS, {"s": False}, headers=root.headers())
        assert off["installationSettingsUpdate"] == {"settings": {"signupEnabled": False}, "errors": []}
        body = await gql.execute(signup_doc, {"input": new})
        assert code(body) == "FORBIDDEN", body
        current = await gql.data("{ installation { settings { signupEnabled } } }", headers=root.headers())
        assert current["installation"]["settings"] == {"signupEnabled": False}
    finally:
        on = await gql.data(SETTINGS, {"s": True}, headers=root.headers())
        assert on["installationSettingsUpdate"]["settings"] == {"signupEnabled": True}
    body = await gql.execute(signup_doc, {"input": new})
    assert "errors" not in body, body
    audit = (await gql.data(AUDIT, headers=root.headers()))["installation"]["auditLogs"]["edges"]
    assert [e["node"]["changes"] for e in audit if e["node"]["action"] == "installation.settings_update"] == [
        {"signupEnabled": [False, True]},
        {"signupEnabled": [True, False]},
    ]


async def test_suspension_closes_the_accounts_open_sockets_at_once(gql, smtp, server, other, settings):
    """An agent's socket on another instance and a widget visitor's socket close with 4401 as the
    suspension commits, not at the next periodic re-check (30 s); another account's socket stays."""
    from tests.support.gql import SubscriptionSocket
    from tests.test_widget import EVENTS, make_widget

    root = await super_admin(gql, settings)
    admin = await signup(gql, account="Sockets")
    bystander = await signup(gql, account="Elsewhere")
    widget = await make_widget(gql, admin)
    visitor = await widget.visitor()
    await visitor.send("hello")
    pings = 'subscription { diagnosticsPings(topic: "x") { message } }'
    agent_sock = SubscriptionSocket(other.ws_url, payload={"token": admin.access, "accountId": admin.account_id})
    visitor_sock = SubscriptionSocket(server.ws_url, payload={"token": visitor.token})
    bystander_sock = SubscriptionSocket(other.ws_url, payload={"token": bystander.access})
    for sock, document in ((agent_sock, pings), (visitor_sock, EVENTS), (bystander_sock, pings)):
        await sock.connect()
        await sock.subscribe(document)
    await asyncio.sleep(0.3)
    try:
        started = time.monotonic()
        done = await gql.data(SUSPEND, {"a": admin.account_id, "r": "unpaid"}, headers=root.headers())
        assert done["installationAccountSuspend"]["errors"] == []
        for name, sock in (("agent", agent_sock), ("visitor", visitor_sock)):
            with pytest.raises(Exception) as closed:
                while True:
                    await sock.receive(timeout=10)
            assert getattr(closed.value, "rcvd", None) is not None and closed.value.rcvd.code == 4401, (
                name,
                closed.value,
            )
        assert time.monotonic() - started < 10  # well before the 30 s re-check
        with pytest.raises(asyncio.TimeoutError):  # the other account's socket is still open, silent
            await bystander_sock.receive(timeout=1)
    finally:
        for sock in (agent_sock, visitor_sock, bystander_sock):
            await sock.close()
