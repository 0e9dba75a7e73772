"""Tenancy-walk probes of the accounts and authentication root fields (and the public ones)."""

from __future__ import annotations

from tests.probes.base import PAYLOAD_ERRORS, Probe

B_STATE = "invitations { edges { node { id email role } } }"


async def setup_b(gql, world) -> None:
    invited = await gql.data(
        'mutation { agentInvite(input: {email: "invitee@b.test", name: "I"}) { invitation { id } errors { code } } }',
        headers=world.admin_b.headers(),
    )
    world.b["invitation"] = invited["agentInvite"]["invitation"]["id"]


PROBES: dict[str, Probe | str] = {
    # Public fields take no account and no account-scoped ID: nothing of B can be named.
    "serverInfo": "public: server version only",
    "login": "public: acts on the caller's own credentials",
    "tokenRefresh": "public: acts on the presented refresh token only",
    "passwordResetRequest": "public: answers the same for every email",
    "passwordResetConfirm": "public: acts on the emailed token only",
    "invitationAccept": "public: acts on the emailed token only",
    "accountCreate": "public: creates a new account of the caller's",
    "emailVerify": "public: acts on the emailed token only",
    "diagnosticsPing": "public: publishes to a diagnostics topic, no tenant data",
    # Authenticated, self-scoped.
    "me": Probe("{ me { memberships { account { id } } } }"),
    "logout": Probe(f"mutation {{ logout {{ revokedSessions {PAYLOAD_ERRORS} }} }}"),
    "logoutEverywhere": Probe(f"mutation {{ logoutEverywhere {{ revokedSessions {PAYLOAD_ERRORS} }} }}"),
    "passwordChange": Probe(
        f'mutation {{ passwordChange(input: {{currentPassword: "wrong wrong", newPassword: "x"}}) {{ {PAYLOAD_ERRORS} }} }}'
    ),
    "emailVerificationResend": Probe(f"mutation {{ emailVerificationResend {{ emailVerified {PAYLOAD_ERRORS} }} }}"),
    "pendingInvitations": Probe("{ pendingInvitations { id accountName } }"),
    "invitationRespond": Probe(
        f"mutation($id: ID!) {{ invitationRespond(id: $id, accept: true) {{ {PAYLOAD_ERRORS} }} }}",
        lambda w: {"id": w.b["invitation"]},
        inside_a="PAYLOAD",
    ),
    # Account-scoped.
    "invitations": Probe("{ invitations { edges { node { id email } } } }"),
    "account": Probe("{ account { id name } }"),
    "memberships": Probe("{ memberships { edges { node { id } } } }"),
    "customRoles": Probe("{ customRoles { id } }"),
    "bots": Probe("{ bots { id } }"),
    "apiTokens": Probe("{ apiTokens { id } }"),
    "auditLogs": Probe(
        "query($actor: ID) { auditLogs(actorId: $actor, first: 100) { edges { node { id targetId } } } }",
        lambda w: {"actor": w.b["admin_user"]},
    ),
    "accountUpdate": Probe(
        f'mutation {{ accountUpdate(input: {{name: "Pwned"}}) {{ account {{ id }} {PAYLOAD_ERRORS} }} }}'
    ),
    "agentInvite": Probe(
        f'mutation($r: ID) {{ agentInvite(input: {{email: "x@evil.test", name: "X", customRoleId: $r}}) {{ {PAYLOAD_ERRORS} }} }}',
        lambda w: {"r": w.b["custom_role"]},
        inside_a="PAYLOAD",
    ),
    "membershipUpdate": Probe(
        f"mutation($id: ID!) {{ membershipUpdate(id: $id, input: {{role: AGENT}}) {{ {PAYLOAD_ERRORS} }} }}",
        lambda w: {"id": w.b["membership"]},
        inside_a="NOT_FOUND",
    ),
    "membershipRemove": Probe(
        f"mutation($id: ID!) {{ membershipRemove(id: $id) {{ {PAYLOAD_ERRORS} }} }}",
        lambda w: {"id": w.b["agent_membership"]},
        inside_a="NOT_FOUND",
    ),
    "customRoleCreate": Probe(
        f'mutation {{ customRoleCreate(input: {{name: "Spy", permissions: [REPORT_MANAGE]}}) {{ {PAYLOAD_ERRORS} }} }}'
    ),
    "customRoleUpdate": Probe(
        f'mutation($id: ID!) {{ customRoleUpdate(id: $id, input: {{name: "Pwned"}}) {{ {PAYLOAD_ERRORS} }} }}',
        lambda w: {"id": w.b["custom_role"]},
        inside_a="NOT_FOUND",
    ),
    "customRoleDelete": Probe(
        f"mutation($id: ID!) {{ customRoleDelete(id: $id) {{ {PAYLOAD_ERRORS} }} }}",
        lambda w: {"id": w.b["custom_role"]},
        inside_a="NOT_FOUND",
    ),
    "botCreate": Probe(f'mutation {{ botCreate(input: {{name: "Spy"}}) {{ {PAYLOAD_ERRORS} }} }}'),
    "apiTokenCreate": Probe(
        f'mutation($bot: ID) {{ apiTokenCreate(input: {{name: "spy", botId: $bot}}) {{ secret {PAYLOAD_ERRORS} }} }}',
        lambda w: {"bot": w.b["bot"]},
        inside_a="PAYLOAD",
    ),
    "apiTokenRevoke": Probe(
        f"mutation($id: ID!) {{ apiTokenRevoke(id: $id) {{ {PAYLOAD_ERRORS} }} }}",
        lambda w: {"id": w.b["bot_token"]},
        inside_a="NOT_FOUND",
    ),
}
