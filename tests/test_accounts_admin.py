"""Account administration over HTTP: invitations, memberships, custom roles, account settings, the
audit log, and the account header."""

from __future__ import annotations

import pytest

from tests.support.accounts import ACCEPT, INVITE, PASSWORD, add_agent, confirm_email, login, signup, unique_email

MEMBERS = "{ memberships { edges { node { id role user { email } customRole { name } } } } }"
ROLE_CREATE = """mutation($input: CustomRoleCreateInput!) {
  customRoleCreate(input: $input) { customRole { id name permissions } errors { field code message } }
}"""
MEMBERSHIP_UPDATE = """mutation($id: ID!, $input: MembershipUpdateInput!) {
  membershipUpdate(id: $id, input: $input) { membership { id role customRole { name } } errors { field code message } }
}"""
AUDIT = """query($action: String, $actor: ID, $after: String, $first: Int) {
  auditLogs(action: $action, actorId: $actor, after: $after, first: $first) {
    edges { cursor node { action targetType changes actorLabel actor { email } requestId ip } }
    pageInfo { hasNextPage endCursor }
  }
}"""


def code(body: dict) -> str:
    return body["errors"][0]["extensions"]["code"]


async def members_by_email(gql, admin) -> dict[str, dict]:
    data = await gql.data(MEMBERS, headers=admin.headers())
    return {e["node"]["user"]["email"]: e["node"] for e in data["memberships"]["edges"]}


async def test_invitation_email_link_sets_the_password_once(gql, smtp):
    admin = await signup(gql, account="Helpdesk")
    await confirm_email(gql, admin, smtp)
    email = unique_email("invitee")
    data = await gql.data(INVITE, {"input": {"email": email, "name": "Ivy", "role": "AGENT"}}, headers=admin.headers())
    assert data["agentInvite"]["invitation"] == {
        "id": data["agentInvite"]["invitation"]["id"],
        "email": email,
        "role": "AGENT",
    }
    msg = smtp.wait_for(email)
    assert "Helpdesk" in str(msg["Subject"])
    token = smtp.token_in(msg)
    # Before accepting there is no password to sign in with.
    assert (await login(gql, email))["errors"][0]["code"] == "INVALID_CREDENTIALS"
    accepted = (await gql.data(ACCEPT, {"input": {"token": token, "password": PASSWORD, "name": "Ivy Green"}}))[
        "invitationAccept"
    ]
    assert accepted["errors"] == []
    me = await gql.data(
        "{ me { user { name } role currentAccount { name } } }",
        headers={"Authorization": f"Bearer {accepted['tokens']['accessToken']}"},
    )
    assert me["me"] == {"user": {"name": "Ivy Green"}, "role": "AGENT", "currentAccount": {"name": "Helpdesk"}}
    again = (await gql.data(ACCEPT, {"input": {"token": token, "password": PASSWORD}}))["invitationAccept"]
    assert again["errors"][0]["code"] == "TOKEN_USED"


async def test_an_existing_user_who_accepts_an_invitation_chooses_the_account_by_header(gql, smtp):
    first = await signup(gql, account="First")
    await confirm_email(gql, first, smtp)
    second = await signup(gql, account="Second")
    await confirm_email(gql, second, smtp)
    data = await gql.data(
        INVITE, {"input": {"email": first.email, "name": "X", "role": "AGENT"}}, headers=second.headers()
    )
    assert data["agentInvite"]["errors"] == []
    assert "Sign in" in smtp.text_of(smtp.wait_for(first.email, subject_contains="invited you"))
    [pending] = (await gql.data("{ pendingInvitations { id } }", headers={"Authorization": f"Bearer {first.access}"}))[
        "pendingInvitations"
    ]
    accepted = await gql.data(
        "mutation($id: ID!) { invitationRespond(id: $id, accept: true) { errors { code } } }",
        {"id": pending["id"]},
        headers={"Authorization": f"Bearer {first.access}"},
    )
    assert accepted["invitationRespond"]["errors"] == []
    # Two accounts now: without the header no account is chosen.
    body = await gql.execute("{ account { name } }", headers={"Authorization": f"Bearer {first.access}"})
    assert code(body) == "FORBIDDEN"
    me = await gql.data(
        "{ me { memberships { role account { id name } } currentAccount { name } } }",
        headers={"Authorization": f"Bearer {first.access}"},
    )
    assert me["me"]["currentAccount"] is None
    accounts = {m["account"]["name"]: m for m in me["me"]["memberships"]}
    assert accounts["First"]["role"] == "ADMINISTRATOR" and accounts["Second"]["role"] == "AGENT"
    chosen = await gql.data("{ account { name } }", headers=first.headers(accounts["Second"]["account"]["id"]))
    assert chosen["account"]["name"] == "Second"
    duplicate = await gql.data(INVITE, {"input": {"email": first.email.upper(), "name": "X"}}, headers=second.headers())
    assert [(e["field"], e["code"]) for e in duplicate["agentInvite"]["errors"]] == [("email", "ALREADY_MEMBER")]


async def test_invite_input_errors_are_typed_and_change_nothing(gql, smtp):
    admin = await signup(gql)
    data = await gql.data(INVITE, {"input": {"email": "nope", "name": " ", "role": "AGENT"}}, headers=admin.headers())
    assert {(e["field"], e["code"]) for e in data["agentInvite"]["errors"]} == {
        ("email", "INVALID_EMAIL"),
        ("name", "REQUIRED"),
    }
    assert len(await members_by_email(gql, admin)) == 1
    assert [m for m in smtp.messages if admin.email not in str(m["To"])] == []


async def test_membership_role_changes_and_removal_keep_one_administrator(gql, smtp):
    admin = await signup(gql)
    agent = await add_agent(gql, admin, smtp)
    members = await members_by_email(gql, admin)
    promoted = await gql.data(
        MEMBERSHIP_UPDATE,
        {"id": members[agent.email]["id"], "input": {"role": "ADMINISTRATOR"}},
        headers=admin.headers(),
    )
    assert promoted["membershipUpdate"]["membership"]["role"] == "ADMINISTRATOR"
    # Now the agent can do administrator things.
    assert (await gql.data("{ customRoles { id } }", headers=agent.headers()))["customRoles"] == []
    demoted = await gql.data(
        MEMBERSHIP_UPDATE, {"id": members[admin.email]["id"], "input": {"role": "AGENT"}}, headers=admin.headers()
    )
    assert demoted["membershipUpdate"]["errors"] == []
    # The last administrator cannot step down or be removed.
    last = await gql.data(
        MEMBERSHIP_UPDATE, {"id": members[agent.email]["id"], "input": {"role": "AGENT"}}, headers=agent.headers()
    )
    assert last["membershipUpdate"]["errors"] == [
        {"field": "role", "code": "LAST_ADMINISTRATOR", "message": "An account needs at least one administrator."}
    ]
    removal = await gql.data(
        "mutation($id: ID!) { membershipRemove(id: $id) { errors { code } } }",
        {"id": members[agent.email]["id"]},
        headers=agent.headers(),
    )
    assert removal["membershipRemove"]["errors"] == [{"code": "LAST_ADMINISTRATOR"}]
    removed = await gql.data(
        "mutation($id: ID!) { membershipRemove(id: $id) { membership { id } errors { code } } }",
        {"id": members[admin.email]["id"]},
        headers=agent.headers(),
    )
    assert removed["membershipRemove"]["errors"] == []
    # The removed member's token no longer opens the account.
    assert code(await gql.execute("{ account { name } }", headers=admin.headers())) == "FORBIDDEN"


async def test_agents_cannot_administer(gql, smtp):
    admin = await signup(gql)
    agent = await add_agent(gql, admin, smtp)
    members = await members_by_email(gql, admin)
    for document, variables in [
        (MEMBERSHIP_UPDATE, {"id": members[agent.email]["id"], "input": {"role": "ADMINISTRATOR"}}),
        (INVITE, {"input": {"email": unique_email(), "name": "Z", "role": "AGENT"}}),
        (ROLE_CREATE, {"input": {"name": "x", "permissions": []}}),
        ('mutation { accountUpdate(input: {name: "Mine"}) { errors { code } } }', None),
        (AUDIT, {}),
    ]:
        assert code(await gql.execute(document, variables, headers=agent.headers())) == "FORBIDDEN", document
    # What an agent may do: read the account and its members, manage their own tokens.
    assert (await gql.data("{ account { name } }", headers=agent.headers()))["account"]["name"] == "Acme"
    assert len(await members_by_email(gql, agent)) == 2


async def test_custom_roles_narrow_an_agents_permissions(gql, smtp):
    admin = await signup(gql)
    bad = await gql.data(
        ROLE_CREATE, {"input": {"name": "", "permissions": ["REPORT_MANAGE"]}}, headers=admin.headers()
    )
    assert bad["customRoleCreate"]["errors"][0]["code"] == "REQUIRED"
    created = (
        await gql.data(
            ROLE_CREATE,
            {
                "input": {
                    "name": "Reporters",
                    "description": "Read reports",
                    "permissions": ["REPORT_MANAGE", "CONTACT_MANAGE"],
                }
            },
            headers=admin.headers(),
        )
    )["customRoleCreate"]
    assert created["customRole"]["permissions"] == ["CONTACT_MANAGE", "REPORT_MANAGE"]
    taken = await gql.data(ROLE_CREATE, {"input": {"name": "reporters", "permissions": []}}, headers=admin.headers())
    assert taken["customRoleCreate"]["errors"][0] == {
        "field": "name",
        "code": "TAKEN",
        "message": "A custom role with this name exists.",
    }
    role_id = created["customRole"]["id"]
    agent = await add_agent(gql, admin, smtp, custom_role_id=role_id)
    me = await gql.data("{ me { role permissions } }", headers=agent.headers())
    assert me["me"] == {"role": "AGENT", "permissions": ["CONTACT_MANAGE", "REPORT_MANAGE"]}

    updated = await gql.data(
        "mutation($id: ID!) { customRoleUpdate(id: $id, input: {permissions: [CONVERSATION_PARTICIPATING_MANAGE]}) "
        "{ customRole { permissions } errors { code } } }",
        {"id": role_id},
        headers=admin.headers(),
    )
    assert updated["customRoleUpdate"]["customRole"]["permissions"] == ["CONVERSATION_PARTICIPATING_MANAGE"]
    me = await gql.data("{ me { permissions } }", headers=agent.headers())
    assert me["me"]["permissions"] == ["CONVERSATION_PARTICIPATING_MANAGE"]

    # Removing the custom role from the member (explicit null) restores the agent default.
    members = await members_by_email(gql, admin)
    cleared = await gql.data(
        MEMBERSHIP_UPDATE, {"id": members[agent.email]["id"], "input": {"customRoleId": None}}, headers=admin.headers()
    )
    assert cleared["membershipUpdate"]["membership"]["customRole"] is None
    assert (await gql.data("{ me { permissions } }", headers=agent.headers()))["me"]["permissions"] == [
        "CONVERSATION_MANAGE"
    ]
    # Omitting the field leaves it alone.
    await gql.data(
        MEMBERSHIP_UPDATE,
        {"id": members[agent.email]["id"], "input": {"customRoleId": role_id}},
        headers=admin.headers(),
    )
    kept = await gql.data(
        MEMBERSHIP_UPDATE, {"id": members[agent.email]["id"], "input": {"role": "AGENT"}}, headers=admin.headers()
    )
    assert kept["membershipUpdate"]["membership"]["customRole"] == {"name": "Reporters"}

    deleted = await gql.data(
        "mutation($id: ID!) { customRoleDelete(id: $id) { customRole { name } errors { code } } }",
        {"id": role_id},
        headers=admin.headers(),
    )
    assert deleted["customRoleDelete"]["customRole"]["name"] == "Reporters"
    assert (await gql.data("{ me { permissions } }", headers=agent.headers()))["me"]["permissions"] == [
        "CONVERSATION_MANAGE"
    ]


async def test_account_update_validates_and_is_audited(gql):
    admin = await signup(gql)
    bad = await gql.data(
        'mutation { accountUpdate(input: {timezone: "Mars/Olympus", locale: "english!"}) '
        "{ account { timezone } errors { field code } } }",
        headers=admin.headers(),
    )
    assert {(e["field"], e["code"]) for e in bad["accountUpdate"]["errors"]} == {
        ("timezone", "INVALID_TIMEZONE"),
        ("locale", "INVALID"),
    }
    ok = await gql.data(
        'mutation { accountUpdate(input: {name: "Acme EU", timezone: "Europe/Berlin"}) '
        "{ account { name timezone locale } errors { code } } }",
        headers=admin.headers(),
    )
    assert ok["accountUpdate"]["account"] == {"name": "Acme EU", "timezone": "Europe/Berlin", "locale": "en"}
    entries = (await gql.data(AUDIT, {"action": "account.update"}, headers=admin.headers()))["auditLogs"]["edges"]
    assert len(entries) == 1
    node = entries[0]["node"]
    assert node["changes"] == {"name": ["Acme", "Acme EU"], "timezone": ["UTC", "Europe/Berlin"]}
    assert node["actor"]["email"] == admin.email and node["ip"] == "127.0.0.1" and node["requestId"]


async def test_audit_log_records_admin_actions_and_pages_by_cursor(gql, smtp):
    admin = await signup(gql)
    agent = await add_agent(gql, admin, smtp)
    for i in range(3):
        await gql.data(ROLE_CREATE, {"input": {"name": f"role {i}", "permissions": []}}, headers=admin.headers())
    await gql.data('mutation { botCreate(input: {name: "b"}) { bot { id } } }', headers=admin.headers())
    await gql.data('mutation { apiTokenCreate(input: {name: "mine"}) { secret } }', headers=agent.headers())
    everything = (await gql.data(AUDIT, {"first": 100}, headers=admin.headers()))["auditLogs"]["edges"]
    actions = [e["node"]["action"] for e in everything]
    assert actions == [
        "api_token.create",
        "bot.create",
        "custom_role.create",
        "custom_role.create",
        "custom_role.create",
        "membership.invite",
        "account.create",
    ]
    # The agent's own token creation is recorded with the agent as actor.
    assert everything[0]["node"]["actorLabel"] == agent.email
    by_agent = (
        await gql.data(
            AUDIT,
            {"actor": (await gql.data("{ me { user { id } } }", headers=agent.headers()))["me"]["user"]["id"]},
            headers=admin.headers(),
        )
    )["auditLogs"]["edges"]
    assert [e["node"]["action"] for e in by_agent] == ["api_token.create"]
    page1 = (await gql.data(AUDIT, {"first": 4}, headers=admin.headers()))["auditLogs"]
    assert page1["pageInfo"]["hasNextPage"] is True and len(page1["edges"]) == 4
    page2 = (await gql.data(AUDIT, {"first": 4, "after": page1["pageInfo"]["endCursor"]}, headers=admin.headers()))[
        "auditLogs"
    ]
    assert [e["node"]["action"] for e in page1["edges"] + page2["edges"]] == actions
    assert page2["pageInfo"]["hasNextPage"] is False
    assert code(await gql.execute(AUDIT, {"first": 101}, headers=admin.headers())) == "BAD_USER_INPUT"
    assert code(await gql.execute(AUDIT, {"after": "garbage!"}, headers=admin.headers())) == "BAD_USER_INPUT"


async def test_unknown_or_malformed_account_header_is_refused(gql):
    admin = await signup(gql)
    for value in ("QWNjb3VudDo5OTk5", "not base64 at all", "999999", "VXNlcjox"):
        body = await gql.execute("{ account { name } }", headers=admin.headers(value))
        assert code(body) == "FORBIDDEN", value


@pytest.mark.parametrize("first", [0, 2])
async def test_memberships_connection_pages(gql, smtp, first):
    admin = await signup(gql)
    await add_agent(gql, admin, smtp)
    await add_agent(gql, admin, smtp)
    data = await gql.data(
        "query($f: Int) { memberships(first: $f) { edges { node { id } } pageInfo { hasNextPage } } }",
        {"f": first},
        headers=admin.headers(),
    )
    assert len(data["memberships"]["edges"]) == first
    assert data["memberships"]["pageInfo"]["hasNextPage"] is True
